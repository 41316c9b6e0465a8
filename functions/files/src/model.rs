//! What a file is: its declared type (one of [`CONTENT_TYPES`]), its life (`pending → processing → ready |
//! rejected`, or `expired` when the upload never came), and what processing found.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::summary::{Inspection, Rejection};

/// The largest file one may declare (a Lambda reads it whole to process it).
pub const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;
/// The longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// What a declared content type is, for processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Csv,
    Json,
    Xlsx,
    Text,
    Pdf,
    Image,
}

/// The content types one may upload, and what each is.
pub const CONTENT_TYPES: &[(&str, Kind)] = &[
    ("text/csv", Kind::Csv),
    ("application/json", Kind::Json),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Kind::Xlsx),
    ("text/plain", Kind::Text),
    ("application/pdf", Kind::Pdf),
    ("image/png", Kind::Image),
    ("image/jpeg", Kind::Image),
    ("image/gif", Kind::Image),
    ("image/webp", Kind::Image),
];

pub fn kind_of(content_type: &str) -> Option<Kind> {
    CONTENT_TYPES.iter().find(|(t, _)| *t == content_type).map(|(_, k)| *k)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = FileStatus)]
pub enum Status {
    /// Declared; waiting for the upload and its completion.
    Pending,
    /// Uploaded; the processor checks and inspects it.
    Processing,
    Ready,
    /// The content was not what was declared, or not readable; the bytes are deleted.
    Rejected,
    /// The upload never came before its URL expired; nothing is kept but this record (for a day).
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }
}

/// A file as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    pub name: String,
    pub content_type: String,
    pub kind: Kind,
    /// The declared size: the upload must be exactly this long.
    pub size: u64,
    pub status: Status,
    /// While true, `size` is counted in the tenant's storage use.
    pub counted: bool,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// When the presigned upload URL stops working.
    pub upload_expires_at_ms: i64,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub inspection: Option<Inspection>,
    #[serde(default)]
    pub rejection: Option<Rejection>,
    #[serde(default)]
    pub has_thumbnail: bool,
    #[serde(skip)]
    pub version: u64,
}

impl FileRecord {
    /// Where the upload lands (the presigned PUT's key): under the tenant, so a key can never name another
    /// tenant's file.
    pub fn blob_key(&self) -> String {
        blob_key(&self.tenant_id, &self.id)
    }

    /// Where the checked bytes of a ready file are, named by their SHA-256: processing copies what it checked
    /// here and deletes the upload, so bytes PUT again through a still-valid upload URL are never what a
    /// download serves (and two racing deliveries never overwrite each other's copy).
    pub fn content_key(&self) -> Option<String> {
        self.sha256.as_ref().map(|sha| format!("{}/{sha}", self.blob_key()))
    }

    pub fn thumbnail_key(&self) -> String {
        format!("{}/thumbnail.png", self.blob_key())
    }
}

pub fn blob_key(tenant: &str, file: &str) -> String {
    format!("tenants/{tenant}/files/{file}")
}

/// The tenant and file a blob key names (S3 event notifications carry only the key).
pub fn parse_blob_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("tenants/")?;
    let (tenant, file) = rest.split_once("/files/")?;
    (!tenant.is_empty() && !file.is_empty() && !file.contains('/') && !file.contains('.')).then_some((tenant, file))
}

/// A new file id: `fil_` + a UUIDv7's hex (time-ordered, so listings run oldest first).
pub fn new_id() -> String {
    format!("fil_{}", uuid::Uuid::now_v7().simple())
}

/// Ids [`new_id`] makes (anything else is no file).
pub fn valid_id(id: &str) -> bool {
    id.strip_prefix("fil_").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A file name: trimmed, 1 to 255 characters, no control characters or path separators (names are labels:
/// the bytes are stored under the file's id).
pub fn valid_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    ok.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_keys_round_trip_and_thumbnails_are_not_files() {
        let key = blob_key("t1", "fil_01");
        assert_eq!(parse_blob_key(&key), Some(("t1", "fil_01")));
        assert_eq!(parse_blob_key(&format!("{key}/thumbnail.png")), None);
        assert_eq!(parse_blob_key(&format!("{key}/0a1b")), None);
        assert_eq!(parse_blob_key("tenants//files/x"), None);
        assert_eq!(parse_blob_key("other/t1/files/x"), None);
    }

    #[test]
    fn names_refuse_paths_controls_and_length() {
        assert_eq!(valid_name("  report.csv "), Some("report.csv".into()));
        for bad in ["", " ", "a/b.csv", "a\\b", "tab\there", "c1\u{85}x", &"x".repeat(256)] {
            assert_eq!(valid_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_listed_types_are_accepted() {
        assert_eq!(kind_of("text/csv"), Some(Kind::Csv));
        assert_eq!(kind_of("application/x-msdownload"), None);
        assert_eq!(kind_of("TEXT/CSV"), None);
    }
}
