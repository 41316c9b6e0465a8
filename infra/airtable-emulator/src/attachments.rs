//! Attachments. `uploadAttachment` keeps the file in memory (bounded: the oldest files go first) and answers a
//! URL on this emulator that serves it back, as Airtable answers a URL on its content host. Writing an
//! attachment field takes Airtable's write format: `{url, filename?}` for a new file, `{id}` to keep one.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::ids::new_id;

/// The largest file `uploadAttachment` takes, decoded (Airtable: 5 MB).
pub const MAX_UPLOAD: usize = 5 * 1024 * 1024;
/// The most uploaded bytes the emulator keeps at once.
pub const MAX_STORED: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Stored {
    pub content_type: String,
    pub filename: String,
    pub bytes: Bytes,
}

#[derive(Default)]
pub struct Attachments {
    by_id: HashMap<String, Stored>,
    order: VecDeque<String>,
    total: usize,
}

impl Attachments {
    pub fn keep(&mut self, id: String, stored: Stored) {
        self.total += stored.bytes.len();
        self.by_id.insert(id.clone(), stored);
        self.order.push_back(id);
        while self.total > MAX_STORED {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(gone) = self.by_id.remove(&oldest) {
                self.total -= gone.bytes.len();
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Stored> {
        self.by_id.get(id)
    }
}

/// One item of an attachment field write, as the cell keeps it; `None` for an item Airtable would refuse.
pub fn from_write(item: &Value) -> Option<Value> {
    let object = item.as_object()?;
    if object.keys().any(|k| !matches!(k.as_str(), "id" | "url" | "filename")) {
        return None;
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    if object.get("filename").is_some_and(|f| !f.is_string()) {
        return None;
    }
    match (text("id"), text("url")) {
        // An attachment the record already has (clients send back what they read).
        (Some(id), _) if id.starts_with("att") => Some(item.clone()),
        (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            let from_url = url.rsplit('/').next().unwrap_or(url).split('?').next().unwrap_or("");
            Some(json!({ "id": new_id("att"), "url": url, "filename": text("filename").unwrap_or(from_url) }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_get_an_id_and_kept_ones_stay_as_they_are() {
        let new = from_write(&json!({"url": "https://example.com/a/photo.jpg?x=1"})).unwrap_or_default();
        assert!(new["id"].as_str().is_some_and(|id| id.starts_with("att")));
        assert_eq!(new["filename"], "photo.jpg");
        let kept = json!({"id": "attAAAAAAAAAAAAAA", "url": "https://x/y", "filename": "y"});
        assert_eq!(from_write(&kept), Some(kept.clone()));
        assert_eq!(from_write(&json!({"url": "ftp://x"})), None);
        assert_eq!(from_write(&json!({"url": "https://x", "size": 3})), None);
        assert_eq!(from_write(&json!("https://x")), None);
    }

    #[test]
    fn the_store_drops_the_oldest_files_beyond_its_bound() {
        let mut store = Attachments::default();
        let file =
            |n: usize| Stored { content_type: "x".into(), filename: "f".into(), bytes: Bytes::from(vec![0u8; n]) };
        store.keep("att1".into(), file(MAX_STORED / 2));
        store.keep("att2".into(), file(MAX_STORED / 2));
        store.keep("att3".into(), file(1));
        assert!(store.get("att1").is_none());
        assert!(store.get("att2").is_some() && store.get("att3").is_some());
    }
}
