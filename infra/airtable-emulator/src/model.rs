//! Bases, tables, fields, views and records, and the rules Airtable applies when a record is written:
//! unknown fields are refused, values must fit the field's type (or be converted with `typecast`), and
//! empty values are not stored (Airtable omits empty cells from a record's `fields`).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{AirtableError, AirtableResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
}

impl Base {
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
        json!({ "tables": self.tables.iter().map(Table::schema).collect::<Vec<_>>() })
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

    pub fn schema(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "primaryFieldId": self.fields.first().map(|f| f.id.clone()),
            "fields": self.fields.iter().map(Field::schema).collect::<Vec<_>>(),
            "views": self.views.iter().map(|v| json!({ "id": v.id, "name": v.name, "type": "grid" })).collect::<Vec<_>>(),
        })
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
        let converted = match (self.kind, value) {
            (FieldType::SingleLineText | FieldType::MultilineText | FieldType::Email, Value::String(_)) => {
                value.clone()
            }
            (FieldType::SingleLineText | FieldType::MultilineText | FieldType::Email, Value::Number(n)) if typecast => {
                Value::String(n.to_string())
            }
            (FieldType::Number, Value::Number(_)) => value.clone(),
            (FieldType::Number, Value::String(s)) if typecast => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(&refuse)?,
            (FieldType::Checkbox, Value::Bool(_)) => value.clone(),
            (FieldType::Checkbox, Value::String(s)) if typecast => Value::Bool(!s.is_empty() && s != "false"),
            (FieldType::Date, Value::String(s)) if is_date(s) => value.clone(),
            (FieldType::Date, Value::String(s)) if typecast && s.len() > 10 && is_date(&s[..10]) => {
                Value::String(s[..10].into())
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

    fn schema(&self) -> Value {
        let mut schema = json!({ "id": self.id, "name": self.name, "type": self.kind });
        match self.kind {
            FieldType::SingleSelect | FieldType::MultipleSelects => {
                // Choice ids are derived from the field's, so they stay the same from one call to the next.
                let choices: Vec<Value> = self
                    .choices
                    .iter()
                    .enumerate()
                    .map(|(i, c)| json!({ "id": format!("sel{}{i:04}", self.id.get(3..13).unwrap_or("Field00000")), "name": c, "color": "blueLight2" }))
                    .collect();
                schema["options"] = json!({ "choices": choices });
            }
            FieldType::Number => schema["options"] = json!({ "precision": 0 }),
            FieldType::Checkbox => schema["options"] = json!({ "icon": "check", "color": "greenBright" }),
            FieldType::Date => schema["options"] = json!({ "dateFormat": { "name": "iso", "format": "YYYY-MM-DD" } }),
            _ => {}
        }
        schema
    }
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

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}
