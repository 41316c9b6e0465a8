//! What processing concludes about a file, as stored with it and shown by the API: its summary
//! ([`Inspection`]) or why it was rejected ([`Rejection`]). Plain data: readers of the files table (the Airtable
//! gateway attaching a file) link this without the processing itself (the `processing` feature).

use serde::{Deserialize, Serialize};
use serde_json::Map;
use serde_json::Value;
use utoipa::ToSchema;

/// Why an upload was rejected: a stable code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

impl Rejection {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// A column's type, inferred from its first the first 1,000 values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD` or an RFC 3339 time.
    Date,
    Text,
    /// Nested JSON (objects or arrays).
    Json,
    /// No value at all.
    Empty,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
}

/// What the processor found in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inspection {
    /// CSV, JSON (an array of objects, or one object) and XLSX (its first sheet): the first row names the columns.
    Table {
        columns: Vec<Column>,
        /// Data rows (the header row not counted).
        row_count: u64,
        /// The first rows, as objects keyed by column.
        #[schema(value_type = Vec<Object>)]
        preview: Vec<Map<String, Value>>,
        /// More columns than 200 were cut.
        columns_truncated: bool,
        /// The sheet read (XLSX).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sheet: Option<String>,
    },
    Image {
        width: u32,
        height: u32,
        /// A PNG thumbnail was made (not for images larger than the decoder's bounds).
        thumbnail: bool,
    },
    /// Plain text: its lines.
    Text { lines: u64 },
    /// A document kept as is (PDF).
    Document,
}
