//! Bases, tables, fields, views and records, and the rules Airtable applies when a record is written:
//! unknown fields are refused, values must fit the field's type (or be converted with `typecast`), and
//! empty values are not stored (Airtable omits empty cells from a record's `fields`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::comments::Comment;
use crate::error::{AirtableError, AirtableResult};
use crate::webhooks::Webhook;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldType {
    SingleLineText,
    MultilineText,
    Email,
    Number,
    Checkbox,
    SingleSelect,
    MultipleSelects,
    Date,
    MultipleAttachments,
    Url,
    PhoneNumber,
    Currency,
    Percent,
    Rating,
    DateTime,
    RichText,
}

impl FieldType {
    /// Airtable's name of the type (`singleLineText`, …).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }

    fn is_text(self) -> bool {
        matches!(
            self,
            Self::SingleLineText | Self::MultilineText | Self::Email | Self::Url | Self::PhoneNumber | Self::RichText
        )
    }

    fn is_number(self) -> bool {
        matches!(self, Self::Number | Self::Currency | Self::Percent | Self::Rating)
    }
}

/// What a base keeps about a field beyond its [`Field`]: the description and the options it was created with.
#[derive(Clone, Debug, Default)]
pub struct FieldMeta {
    pub description: Option<String>,
    /// The field's `options` as the schema shows them (not for selects: their choices are the field's).
    pub options: Option<Value>,
    /// Select choices' colors, by choice name.
    pub colors: HashMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub id: String,
    pub name: String,
    pub kind: FieldType,
    /// Select options (single and multiple selects).
    pub choices: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct View {
    pub id: String,
    pub name: String,
    /// Records the view shows (a formula), and its order (field name, descending).
    pub filter: Option<String>,
    pub sort: Vec<(String, bool)>,
}

#[derive(Clone, Debug)]
pub struct Record {
    pub id: String,
    pub created_time: String,
    /// Cell values by field id; empty cells are absent.
    pub cells: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<Field>,
    pub views: Vec<View>,
    pub records: Vec<Record>,
}

#[derive(Clone, Debug)]
pub struct Base {
    pub id: String,
    pub name: String,
    pub tables: Vec<Table>,
    /// Record comments by record id, oldest first.
    pub comments: HashMap<String, Vec<Comment>>,
    pub webhooks: Vec<Webhook>,
    /// Field descriptions and options by field id.
    pub field_meta: HashMap<String, FieldMeta>,
    /// Counts the base's write transactions (webhook payloads' `baseTransactionNumber`).
    pub transaction: u64,
}

impl Base {
    pub fn new(id: impl Into<String>, name: impl Into<String>, tables: Vec<Table>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            tables,
            comments: HashMap::new(),
            webhooks: Vec::new(),
            field_meta: HashMap::new(),
            transaction: 0,
        }
    }

    /// A table by id or by name, as Airtable resolves `{tableIdOrName}`.
    pub fn table(&self, id_or_name: &str) -> AirtableResult<&Table> {
        self.tables
            .iter()
            .find(|t| t.id == id_or_name || t.name == id_or_name)
            .ok_or_else(|| AirtableError::table_not_found(id_or_name, &self.id))
    }

    pub fn table_mut(&mut self, id_or_name: &str) -> AirtableResult<&mut Table> {
        let base = self.id.clone();
        self.tables
            .iter_mut()
            .find(|t| t.id == id_or_name || t.name == id_or_name)
            .ok_or_else(|| AirtableError::table_not_found(id_or_name, &base))
    }

    pub fn schema(&self) -> Value {
        json!({ "tables": self.tables.iter().map(|t| t.schema(&self.field_meta)).collect::<Vec<_>>() })
    }

    /// The table holding record `id` (upload paths name a record but not its table).
    pub fn table_of_record_mut(&mut self, id: &str) -> AirtableResult<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.records.iter().any(|r| r.id == id))
            .ok_or_else(|| AirtableError::record_not_found(id))
    }

    /// How many comments record `id` has.
    pub fn comment_count(&self, id: &str) -> usize {
        self.comments.get(id).map_or(0, Vec::len)
    }
}

impl Table {
    /// A field by id or by name (Airtable accepts both wherever a field is named).
    pub fn field(&self, id_or_name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.id == id_or_name || f.name == id_or_name)
    }

    pub fn record(&self, id: &str) -> AirtableResult<&Record> {
        self.records.iter().find(|r| r.id == id).ok_or_else(|| AirtableError::record_not_found(id))
    }

    pub fn record_index(&self, id: &str) -> AirtableResult<usize> {
        self.records.iter().position(|r| r.id == id).ok_or_else(|| AirtableError::record_not_found(id))
    }

    pub fn view(&self, id_or_name: &str) -> AirtableResult<&View> {
        self.views.iter().find(|v| v.id == id_or_name || v.name == id_or_name).ok_or_else(|| {
            AirtableError::invalid(
                "VIEW_NAME_NOT_FOUND",
                format!("Could not find view {id_or_name} in table {}", self.name),
            )
        })
    }

    /// A cell by field name (what formulas and sorts see).
    pub fn cell<'r>(&self, record: &'r Record, field_name: &str) -> Option<&'r Value> {
        self.field(field_name).and_then(|f| record.cells.get(&f.id))
    }

    /// Checks and converts a write's `fields` object into cells keyed by field id (`None` clears the cell).
    pub fn coerce(
        &mut self,
        input: &Map<String, Value>,
        typecast: bool,
    ) -> AirtableResult<Vec<(String, Option<Value>)>> {
        let mut cells = Vec::with_capacity(input.len());
        for (key, value) in input {
            let field = self
                .fields
                .iter_mut()
                .find(|f| f.id == *key || f.name == *key)
                .ok_or_else(|| AirtableError::unknown_field(key))?;
            let value = field.coerce(value, typecast)?;
            cells.push((field.id.clone(), value.filter(|v| !is_empty(v))));
        }
        Ok(cells)
    }

    pub fn schema(&self, meta: &HashMap<String, FieldMeta>) -> Value {
        let mut schema = json!({
            "id": self.id,
            "name": self.name,
            "primaryFieldId": self.fields.first().map(|f| f.id.clone()),
            "fields": self.fields.iter().map(|f| f.schema(meta.get(&f.id))).collect::<Vec<_>>(),
            "views": self.views.iter().map(|v| json!({ "id": v.id, "name": v.name, "type": "grid" })).collect::<Vec<_>>(),
        });
        // Airtable leaves `description` out when there is none.
        if let Some(description) = &self.description {
            schema["description"] = json!(description);
        }
        schema
    }
}

impl Field {
    fn coerce(&mut self, value: &Value, typecast: bool) -> AirtableResult<Option<Value>> {
        let name = self.name.clone();
        let refuse = move || {
            AirtableError::invalid(
                "INVALID_VALUE_FOR_COLUMN",
                format!("Field \"{name}\" cannot accept the provided value"),
            )
        };
        if value.is_null() {
            return Ok(None);
        }
        let kind = self.kind;
        let converted = match (kind, value) {
            (k, Value::String(_)) if k.is_text() => value.clone(),
            (k, Value::Number(n)) if k.is_text() && typecast => {
                Value::String(n.as_f64().and_then(number).map_or_else(|| n.to_string(), |v| v.to_string()))
            }
            (k, Value::Number(n)) if k.is_number() => n.as_f64().and_then(number).ok_or_else(&refuse)?,
            (k, Value::String(s)) if k.is_number() && typecast => {
                s.trim().parse::<f64>().ok().and_then(number).ok_or_else(&refuse)?
            }
            (FieldType::Checkbox, Value::Bool(_)) => value.clone(),
            (FieldType::Checkbox, Value::String(s)) if typecast => Value::Bool(!s.is_empty() && s != "false"),
            (FieldType::Date, Value::String(s)) if is_date(s) => value.clone(),
            (FieldType::Date, Value::String(s)) if typecast && s.len() > 10 && is_date(s.get(..10).unwrap_or("")) => {
                Value::String(s[..10].into())
            }
            (FieldType::DateTime, Value::String(s)) if is_date_time(s) => value.clone(),
            (FieldType::DateTime, Value::String(s)) if typecast && is_date(s) => {
                Value::String(format!("{s}T00:00:00.000Z"))
            }
            (FieldType::SingleSelect, Value::String(s)) => Value::String(self.choice(s, typecast)?),
            (FieldType::MultipleSelects, Value::Array(items)) => {
                let mut chosen = Vec::with_capacity(items.len());
                for item in items {
                    let name = item.as_str().ok_or_else(&refuse)?;
                    chosen.push(Value::String(self.choice(name, typecast)?));
                }
                Value::Array(chosen)
            }
            (FieldType::MultipleSelects, Value::String(s)) if typecast => {
                let mut chosen = Vec::new();
                for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    chosen.push(Value::String(self.choice(name, true)?));
                }
                Value::Array(chosen)
            }
            (FieldType::MultipleAttachments, Value::Array(items)) => Value::Array(
                items.iter().map(crate::attachments::from_write).collect::<Option<Vec<_>>>().ok_or_else(&refuse)?,
            ),
            _ => return Err(refuse()),
        };
        Ok(Some(converted))
    }

    /// A select option; with `typecast` a new option is added, as Airtable does.
    fn choice(&mut self, name: &str, typecast: bool) -> AirtableResult<String> {
        if self.choices.iter().any(|c| c == name) {
            return Ok(name.to_string());
        }
        if typecast {
            self.choices.push(name.to_string());
            return Ok(name.to_string());
        }
        Err(AirtableError::invalid(
            "INVALID_MULTIPLE_CHOICE_OPTIONS",
            format!("Insufficient permissions to create new select option \"{name}\""),
        ))
    }

    /// A select choice's id: derived from the field's and the choice's position, so it is stable.
    pub fn choice_id(&self, index: usize) -> String {
        format!("sel{}{index:04}", self.id.get(3..13).unwrap_or("Field00000"))
    }

    pub fn schema(&self, meta: Option<&FieldMeta>) -> Value {
        let mut schema = json!({ "id": self.id, "name": self.name, "type": self.kind });
        if let Some(description) = meta.and_then(|m| m.description.as_ref()) {
            schema["description"] = json!(description);
        }
        let options = match self.kind {
            FieldType::SingleSelect | FieldType::MultipleSelects => {
                let choices: Vec<Value> = self
                    .choices
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let color = meta.and_then(|m| m.colors.get(c)).map_or("blueLight2", String::as_str);
                        json!({ "id": self.choice_id(i), "name": c, "color": color })
                    })
                    .collect();
                Some(json!({ "choices": choices }))
            }
            _ => meta.and_then(|m| m.options.clone()).or_else(|| crate::fields::default_options(self.kind)),
        };
        if let Some(options) = options {
            schema["options"] = options;
        }
        schema
    }
}

/// A number as Airtable writes it: integral values without a fraction (`8`, not `8.0`).
pub fn number(n: f64) -> Option<Value> {
    if !n.is_finite() {
        return None;
    }
    // Below 2^53 every integral f64 is exactly an i64.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(n as i64));
    }
    serde_json::Number::from_f64(n).map(Value::Number)
}

/// What Airtable leaves out of `fields`: empty text, unchecked boxes, empty lists.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `2024-05-01T12:00:00.000Z` (or with an offset; seconds and fraction optional).
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() >= 16
        && s.len() <= 35
        && is_date(s.get(..10).unwrap_or(""))
        && b[10] == b'T'
        && b[11..13].iter().all(u8::is_ascii_digit)
        && b[13] == b':'
        && b[14..16].iter().all(u8::is_ascii_digit)
        && s[16..].bytes().all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'Z' | b'+' | b'-'))
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
