//! Record comments. Every comment's author is the emulator's own user ([`crate::state::USER_ID`]), whichever
//! token writes it, and `@[its id]` or `@[its email]` in a comment's text mentions it, as Airtable resolves
//! mentions.

use serde_json::{Value, json};

use crate::state::{USER_EMAIL, USER_ID, USER_NAME};

/// The most comments one record keeps (the emulator's bound; Airtable documents none).
pub const MAX_PER_RECORD: usize = 1_000;
/// The longest comment text, in characters.
pub const MAX_TEXT: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: String,
    pub text: String,
    pub created_time: String,
    pub last_updated_time: Option<String>,
    pub parent_comment_id: Option<String>,
}

/// The text as Airtable stores it: a mention by email becomes a mention by user id.
pub fn normalise(text: &str) -> String {
    text.replace(&format!("@[{USER_EMAIL}]"), &format!("@[{USER_ID}]"))
}

impl Comment {
    /// The comment as Airtable answers it: `{id, author, text, createdTime, lastUpdatedTime, mentioned?, parentCommentId?}`.
    pub fn render(&self) -> Value {
        let mut body = json!({
            "id": self.id,
            "author": { "id": USER_ID, "email": USER_EMAIL, "name": USER_NAME },
            "text": self.text,
            "createdTime": self.created_time,
            "lastUpdatedTime": self.last_updated_time,
        });
        if self.text.contains(&format!("@[{USER_ID}]")) {
            body["mentioned"] = json!({
                USER_ID: { "type": "user", "id": USER_ID, "displayName": USER_NAME, "email": USER_EMAIL }
            });
        }
        if let Some(parent) = &self.parent_comment_id {
            body["parentCommentId"] = json!(parent);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_by_email_is_stored_by_id_and_listed_in_mentioned() {
        let text = normalise(&format!("Hi @[{USER_EMAIL}]!"));
        assert_eq!(text, format!("Hi @[{USER_ID}]!"));
        let comment = Comment {
            id: "comA".into(),
            text,
            created_time: "2024-01-01T00:00:00.000Z".into(),
            last_updated_time: None,
            parent_comment_id: None,
        };
        let body = comment.render();
        assert_eq!(body["mentioned"][USER_ID]["type"], "user");
        assert!(body["lastUpdatedTime"].is_null());
        assert!(body.get("parentCommentId").is_none());
    }
}
