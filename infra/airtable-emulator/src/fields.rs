//! Field definitions as the meta API writes them (create table, create field): a name, a type and the type's
//! options, checked the way Airtable checks them — unknown keys, missing or out-of-range options, names that
//! are empty or already taken (case-insensitively) are refused with 422.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{AirtableError, AirtableResult};
use crate::model::{Field, FieldMeta, FieldType, Table};

/// Airtable's limits: a table has at most 500 fields; descriptions are at most 20,000 characters.
pub const MAX_FIELDS: usize = 500;
pub const MAX_DESCRIPTION: usize = 20_000;
/// The longest table or field name the emulator takes.
pub const MAX_NAME: usize = 255;
/// The most choices a select field is created with.
pub const MAX_CHOICES: usize = 1_000;

/// Types Airtable has that the emulator does not model (a create with one is refused, saying so).
const UNMODELLED: [&str; 19] = [
    "multipleRecordLinks",
    "singleCollaborator",
    "multipleCollaborators",
    "barcode",
    "duration",
    "formula",
    "rollup",
    "count",
    "lookup",
    "multipleLookupValues",
    "autoNumber",
    "createdTime",
    "lastModifiedTime",
    "createdBy",
    "lastModifiedBy",
    "button",
    "externalSyncSource",
    "aiText",
    "manualSort",
];

const BRIGHT: [&str; 10] = [
    "greenBright",
    "tealBright",
    "cyanBright",
    "blueBright",
    "purpleBright",
    "pinkBright",
    "redBright",
    "orangeBright",
    "yellowBright",
    "grayBright",
];
const CHECKBOX_ICONS: [&str; 7] = ["check", "xCheckbox", "star", "heart", "thumbsUp", "flag", "dot"];
const RATING_ICONS: [&str; 5] = ["star", "heart", "thumbsUp", "flag", "dot"];
const DATE_FORMATS: [(&str, &str); 5] =
    [("local", "l"), ("friendly", "LL"), ("us", "M/D/YYYY"), ("european", "D/M/YYYY"), ("iso", "YYYY-MM-DD")];
const TIME_FORMATS: [(&str, &str); 2] = [("12hour", "h:mma"), ("24hour", "HH:mm")];

/// A field as create field (and each of create table's `fields`) sends it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct FieldDefinition {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Option<Value>,
}

fn invalid(message: impl Into<String>) -> AirtableError {
    AirtableError::invalid("INVALID_REQUEST_UNKNOWN", message)
}

/// Checks a table or field description.
pub fn check_description(description: Option<&str>) -> AirtableResult<()> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => {
            Err(invalid(format!("description must be at most {MAX_DESCRIPTION} characters")))
        }
        _ => Ok(()),
    }
}

/// Checks a field name against the names already in use (`taken`, compared case-insensitively).
pub fn check_field_name<'a>(name: &str, mut taken: impl Iterator<Item = &'a str>) -> AirtableResult<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME || taken.any(|t| t.eq_ignore_ascii_case(trimmed)) {
        return Err(AirtableError::invalid(
            "DUPLICATE_OR_EMPTY_FIELD_NAME",
            format!("Field names must be unique and non-empty: \"{name}\""),
        ));
    }
    Ok(())
}

/// The options the schema shows for a type when none were given (the seeded fields').
pub fn default_options(kind: FieldType) -> Option<Value> {
    match kind {
        FieldType::Number | FieldType::Percent => Some(json!({ "precision": 0 })),
        FieldType::Currency => Some(json!({ "precision": 2, "symbol": "$" })),
        FieldType::Rating => Some(json!({ "max": 5, "icon": "star", "color": "yellowBright" })),
        FieldType::Checkbox => Some(json!({ "icon": "check", "color": "greenBright" })),
        FieldType::Date => Some(json!({ "dateFormat": { "name": "iso", "format": "YYYY-MM-DD" } })),
        FieldType::DateTime => Some(json!({
            "dateFormat": { "name": "iso", "format": "YYYY-MM-DD" },
            "timeFormat": { "name": "24hour", "format": "HH:mm" },
            "timeZone": "utc",
        })),
        FieldType::MultipleAttachments => Some(json!({ "isReversed": false })),
        _ => None,
    }
}

/// An object with only `allowed` keys (and every one of `required`).
fn object<'v>(
    value: &'v Value,
    what: &str,
    allowed: &[&str],
    required: &[&str],
) -> AirtableResult<&'v Map<String, Value>> {
    let object = value.as_object().ok_or_else(|| invalid(format!("{what} must be an object")))?;
    if let Some(key) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(format!("Unknown key in {what}: {key}")));
    }
    if let Some(key) = required.iter().find(|k| !object.contains_key(**k)) {
        return Err(invalid(format!("{what} requires {key}")));
    }
    Ok(object)
}

fn one_of<'v>(object: &'v Map<String, Value>, key: &str, allowed: &[&str]) -> AirtableResult<&'v str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|v| allowed.contains(v))
        .ok_or_else(|| invalid(format!("{key} must be one of {}", allowed.join(", "))))
}

fn integer(object: &Map<String, Value>, key: &str, range: std::ops::RangeInclusive<u64>) -> AirtableResult<u64> {
    object
        .get(key)
        .and_then(Value::as_u64)
        .filter(|n| range.contains(n))
        .ok_or_else(|| invalid(format!("{key} must be an integer from {} to {}", range.start(), range.end())))
}

fn select_color(color: &str) -> bool {
    const HUES: [&str; 10] = ["blue", "cyan", "teal", "green", "yellow", "orange", "red", "pink", "purple", "gray"];
    const SHADES: [&str; 5] = ["Light2", "Light1", "Bright", "Dark1", ""];
    HUES.iter().any(|h| color.strip_prefix(h).is_some_and(|rest| SHADES.contains(&rest) && !rest.is_empty()))
}

fn key<'v>(object: &'v Map<String, Value>, key: &str) -> &'v Value {
    object.get(key).unwrap_or(&Value::Null)
}

fn format_of(value: &Value, what: &str, formats: &[(&str, &str)]) -> AirtableResult<Value> {
    let object = object(value, what, &["name", "format"], &["name"])?;
    let names: Vec<&str> = formats.iter().map(|(n, _)| *n).collect();
    let name = one_of(object, "name", &names)?;
    let format = formats.iter().find(|(n, _)| *n == name).map_or("", |(_, f)| *f);
    if object.get("format").is_some_and(|f| f.as_str() != Some(format)) {
        return Err(invalid(format!("{what}.format for {name} must be {format}")));
    }
    Ok(json!({ "name": name, "format": format }))
}

/// The field a definition describes, with its id and what the base keeps about it (description, options).
pub fn build(definition: FieldDefinition, id: String, table: Option<&Table>) -> AirtableResult<(Field, FieldMeta)> {
    check_field_name(&definition.name, table.into_iter().flat_map(|t| t.fields.iter().map(|f| f.name.as_str())))?;
    check_description(definition.description.as_deref())?;
    let kind: FieldType = serde_json::from_value(Value::String(definition.kind.clone())).map_err(|_| {
        if UNMODELLED.contains(&definition.kind.as_str()) {
            invalid(format!("Field type {} is not supported by the emulator", definition.kind))
        } else {
            invalid(format!("Unknown field type: {}", definition.kind))
        }
    })?;
    let options = definition.options.filter(|o| !o.is_null());
    let what = "options";
    let mut meta = FieldMeta { description: definition.description.filter(|d| !d.is_empty()), ..FieldMeta::default() };
    let mut choices = Vec::new();
    let stored = match (kind, &options) {
        (
            FieldType::SingleLineText
            | FieldType::MultilineText
            | FieldType::Email
            | FieldType::Url
            | FieldType::PhoneNumber
            | FieldType::RichText,
            None,
        ) => None,
        (FieldType::Number | FieldType::Percent, Some(o)) => {
            let o = object(o, what, &["precision"], &["precision"])?;
            Some(json!({ "precision": integer(o, "precision", 0..=8)? }))
        }
        (FieldType::Currency, Some(o)) => {
            let o = object(o, what, &["precision", "symbol"], &["precision", "symbol"])?;
            let symbol = o.get("symbol").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 10);
            let symbol = symbol.ok_or_else(|| invalid("symbol must be a short string"))?;
            Some(json!({ "precision": integer(o, "precision", 0..=7)?, "symbol": symbol }))
        }
        (FieldType::Rating, Some(o)) => {
            let o = object(o, what, &["max", "icon", "color"], &["max", "icon", "color"])?;
            Some(json!({
                "max": integer(o, "max", 1..=10)?,
                "icon": one_of(o, "icon", &RATING_ICONS)?,
                "color": one_of(o, "color", &BRIGHT)?,
            }))
        }
        (FieldType::Checkbox, Some(o)) => {
            let o = object(o, what, &["icon", "color"], &["icon", "color"])?;
            Some(json!({ "icon": one_of(o, "icon", &CHECKBOX_ICONS)?, "color": one_of(o, "color", &BRIGHT)? }))
        }
        (FieldType::SingleSelect | FieldType::MultipleSelects, Some(o)) => {
            let o = object(o, what, &["choices"], &["choices"])?;
            let list = o.get("choices").and_then(Value::as_array).ok_or_else(|| invalid("choices must be an array"))?;
            if list.len() > MAX_CHOICES {
                return Err(invalid(format!("At most {MAX_CHOICES} choices")));
            }
            for choice in list {
                let c = object(choice, "choice", &["name", "color"], &["name"])?;
                let name = c.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
                if name.is_empty() || choices.iter().any(|n: &String| n == name) {
                    return Err(invalid(format!("Choice names must be unique and non-empty: \"{name}\"")));
                }
                if let Some(color) = c.get("color") {
                    let color = color.as_str().filter(|c| select_color(c));
                    let color = color.ok_or_else(|| invalid(format!("Invalid color for choice \"{name}\"")))?;
                    meta.colors.insert(name.to_string(), color.to_string());
                }
                choices.push(name.to_string());
            }
            None
        }
        (FieldType::Date, Some(o)) => {
            let o = object(o, what, &["dateFormat"], &["dateFormat"])?;
            Some(json!({ "dateFormat": format_of(key(o, "dateFormat"), "dateFormat", &DATE_FORMATS)? }))
        }
        (FieldType::DateTime, Some(o)) => {
            let o =
                object(o, what, &["dateFormat", "timeFormat", "timeZone"], &["dateFormat", "timeFormat", "timeZone"])?;
            let zone = o.get("timeZone").and_then(Value::as_str).filter(|z| !z.is_empty() && z.len() <= 64);
            Some(json!({
                "dateFormat": format_of(key(o, "dateFormat"), "dateFormat", &DATE_FORMATS)?,
                "timeFormat": format_of(key(o, "timeFormat"), "timeFormat", &TIME_FORMATS)?,
                "timeZone": zone.ok_or_else(|| invalid("timeZone must be a time zone name"))?,
            }))
        }
        (FieldType::MultipleAttachments, None) => default_options(kind),
        (FieldType::MultipleAttachments, Some(o)) => {
            let o = object(o, what, &["isReversed"], &[])?;
            let reversed = o.get("isReversed").map_or(Some(false), Value::as_bool);
            Some(json!({ "isReversed": reversed.ok_or_else(|| invalid("isReversed must be a boolean"))? }))
        }
        (_, None) => return Err(invalid(format!("Field type {} requires options", definition.kind))),
        (_, Some(_)) => return Err(invalid(format!("Field type {} does not take options", definition.kind))),
    };
    meta.options = stored;
    Ok((Field { id, name: definition.name.trim().to_string(), kind, choices }, meta))
}

/// Keeps each field's description and options on the base.
pub fn remember(meta: &mut HashMap<String, FieldMeta>, field: &Field, field_meta: FieldMeta) {
    meta.insert(field.id.clone(), field_meta);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn def(value: Value) -> FieldDefinition {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn options_are_checked_per_type() {
        let ok = [
            json!({"name": "A", "type": "singleLineText"}),
            json!({"name": "A", "type": "number", "options": {"precision": 2}}),
            json!({"name": "A", "type": "checkbox", "options": {"icon": "star", "color": "redBright"}}),
            json!({"name": "A", "type": "singleSelect", "options": {"choices": [{"name": "x", "color": "redLight2"}, {"name": "y"}]}}),
            json!({"name": "A", "type": "date", "options": {"dateFormat": {"name": "us"}}}),
            json!({"name": "A", "type": "multipleAttachments"}),
            json!({"name": "A", "type": "currency", "options": {"precision": 2, "symbol": "€"}}),
        ];
        for value in ok {
            assert!(build(def(value.clone()), "fldA".into(), None).is_ok(), "{value}");
        }
        let bad = [
            json!({"name": "A", "type": "singleLineText", "options": {"precision": 1}}),
            json!({"name": "A", "type": "number"}),
            json!({"name": "A", "type": "number", "options": {"precision": 9}}),
            json!({"name": "A", "type": "checkbox", "options": {"icon": "nope", "color": "redBright"}}),
            json!({"name": "A", "type": "singleSelect", "options": {"choices": [{"name": "x"}, {"name": "x"}]}}),
            json!({"name": "A", "type": "date", "options": {"dateFormat": {"name": "us", "format": "YYYY"}}}),
            json!({"name": "A", "type": "frobnicator"}),
            json!({"name": "A", "type": "formula"}),
        ];
        for value in bad {
            let err = build(def(value.clone()), "fldA".into(), None).unwrap_err();
            assert_eq!(err.kind, "INVALID_REQUEST_UNKNOWN", "{value}");
        }
        let (_, meta) = build(
            def(json!({"name": "A", "type": "date", "options": {"dateFormat": {"name": "us"}}})),
            "fldA".into(),
            None,
        )
        .unwrap();
        assert_eq!(meta.options.unwrap()["dateFormat"]["format"], "M/D/YYYY");
    }

    #[test]
    fn names_must_be_unique_case_insensitively_and_non_empty() {
        assert!(check_field_name("Name", ["Other"].into_iter()).is_ok());
        assert_eq!(check_field_name("name", ["Name"].into_iter()).unwrap_err().kind, "DUPLICATE_OR_EMPTY_FIELD_NAME");
        assert_eq!(check_field_name("  ", std::iter::empty()).unwrap_err().kind, "DUPLICATE_OR_EMPTY_FIELD_NAME");
    }
}
