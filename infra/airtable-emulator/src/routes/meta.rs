//! The meta API: who the token is, which bases it reaches, a base's schema; and its writes — create a table,
//! update a table (name, description), create a field, update a field (name, description).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::writes::{parse, parse_required};
use crate::auth::{EMAIL_SCOPE, TokenGrant, TokenKind};
use crate::error::{AirtableError, AirtableResult};
use crate::fields::{self, FieldDefinition, MAX_FIELDS, MAX_NAME, check_description, check_field_name};
use crate::ids::{is_id, new_id};
use crate::model::{Base, FieldType, Table, View};
use crate::params::pairs;
use crate::state::Emulator;
use crate::webhooks::Change;

/// The most tables the emulator lets a base have.
pub const MAX_TABLES: usize = 200;

/// The token's user, as Airtable answers it: `id`; `email` only if the token has `user.email:read`; `scopes`
/// only for an OAuth access token.
pub async fn whoami(grant: TokenGrant) -> Json<Value> {
    let mut me = json!({ "id": grant.user.id });
    if grant.has_scope(EMAIL_SCOPE) {
        me["email"] = json!(grant.user.email);
    }
    if matches!(grant.kind, TokenKind::OAuth { .. }) {
        me["scopes"] = json!(grant.scopes);
    }
    Json(me)
}

/// Every base the token reaches, one page (Airtable pages at 1000 bases; an `offset` from elsewhere is refused).
pub async fn bases(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    if let Some((key, value)) = pairs(query.as_deref()).into_iter().next() {
        return Err(match key.as_str() {
            "offset" => {
                AirtableError::invalid("INVALID_OFFSET_VALUE", format!("The value of offset {value} is invalid"))
            }
            _ => AirtableError::invalid_request(),
        });
    }
    let world = emulator.world();
    let bases: Vec<Value> = world
        .bases
        .iter()
        .filter(|b| grant.bases.reaches(&b.id))
        .map(|b| json!({ "id": b.id, "name": b.name, "permissionLevel": "create" }))
        .collect();
    Ok(Json(json!({ "bases": bases })))
}

pub async fn tables(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path(base): Path<String>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    if pairs(query.as_deref()).iter().any(|(k, _)| k != "include[]" && k != "include") {
        return Err(AirtableError::invalid_request());
    }
    Ok(Json(emulator.world().base(&grant.bases, &base)?.schema()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTable {
    name: String,
    #[serde(default)]
    description: Option<String>,
    fields: Vec<FieldDefinition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateTable {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    date_dependency_settings: Option<Value>,
}

/// An update field body: `name` and/or `description` (`null` clears the description; absent keeps it).
struct UpdateField {
    name: Option<String>,
    description: Option<Option<String>>,
}

impl UpdateField {
    fn parse(body: &[u8]) -> AirtableResult<Self> {
        let object: serde_json::Map<String, Value> = parse(body)?;
        if object.is_empty() || object.keys().any(|k| k != "name" && k != "description") {
            return Err(AirtableError::invalid_request());
        }
        let name = match object.get("name") {
            None => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => return Err(AirtableError::invalid_request()),
        };
        let description = match object.get("description") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(d)) => Some(Some(d.clone())),
            Some(_) => return Err(AirtableError::invalid_request()),
        };
        Ok(Self { name, description })
    }
}

fn no_query(query: Option<&str>) -> AirtableResult<()> {
    match pairs(query).is_empty() {
        true => Ok(()),
        false => Err(AirtableError::invalid_request()),
    }
}

/// A table name: non-empty, not too long, not taken by another table (case-insensitively).
fn check_table_name(base: &Base, name: &str, except: Option<&str>) -> AirtableResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            format!("Table names must be non-empty and at most {MAX_NAME} characters"),
        ));
    }
    if base.tables.iter().any(|t| Some(t.id.as_str()) != except && t.name.eq_ignore_ascii_case(name)) {
        return Err(AirtableError::invalid("DUPLICATE_TABLE_NAME", format!("A table named \"{name}\" already exists")));
    }
    Ok(name.to_string())
}

fn empty_to_none(description: Option<String>) -> Option<String> {
    description.filter(|d| !d.is_empty())
}

pub async fn create_table(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path(base): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    no_query(query.as_deref())?;
    let body: CreateTable = parse_required(&body, &["name", "fields"])?;
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, &base)?;
    if base.tables.len() >= MAX_TABLES {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            format!("A base has at most {MAX_TABLES} tables in the emulator"),
        ));
    }
    let name = check_table_name(base, &body.name, None)?;
    check_description(body.description.as_deref())?;
    if body.fields.is_empty() || body.fields.len() > MAX_FIELDS {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            format!("A table needs 1 to {MAX_FIELDS} fields"),
        ));
    }
    let mut table = Table {
        id: new_id("tbl"),
        name,
        description: empty_to_none(body.description),
        fields: Vec::new(),
        views: vec![View { id: new_id("viw"), name: "Grid view".into(), filter: None, sort: Vec::new() }],
        records: Vec::new(),
    };
    let mut metas = Vec::with_capacity(body.fields.len());
    for definition in body.fields {
        let (field, meta) = fields::build(definition, new_id("fld"), Some(&table))?;
        table.fields.push(field);
        metas.push(meta);
    }
    if let Some(primary) = table.fields.first()
        && matches!(
            primary.kind,
            FieldType::Checkbox | FieldType::MultipleAttachments | FieldType::SingleSelect | FieldType::MultipleSelects
        )
    {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            format!("Field type {} cannot be the primary (first) field", primary.kind.name()),
        ));
    }
    for (field, meta) in table.fields.iter().zip(metas) {
        fields::remember(&mut base.field_meta, field, meta);
    }
    let schema = table.schema(&base.field_meta);
    let change = Change::TableCreated {
        table: table.id.clone(),
        name: table.name.clone(),
        description: table.description.clone(),
        fields: table.fields.iter().map(|f| (f.id.clone(), f.name.clone(), f.kind.name())).collect(),
    };
    base.tables.push(table);
    emulator.commit(base, vec![change]);
    Ok(Json(schema))
}

pub async fn update_table(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    no_query(query.as_deref())?;
    let body: UpdateTable = parse(&body)?;
    if body.name.is_none() && body.description.is_none() && body.date_dependency_settings.is_none() {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            "Provide at least one of name, description, dateDependencySettings",
        ));
    }
    if body.date_dependency_settings.as_ref().is_some_and(|d| !d.is_null()) {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            "dateDependencySettings is not supported by the emulator",
        ));
    }
    check_description(body.description.as_deref())?;
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, &base)?;
    let table_id = base.table(&table)?.id.clone();
    let name = body.name.as_deref().map(|n| check_table_name(base, n, Some(&table_id))).transpose()?;
    let table = base.table_mut(&table_id)?;
    let previous = (table.name.clone(), table.description.clone());
    if let Some(name) = name {
        table.name = name;
    }
    if body.description.is_some() {
        table.description = empty_to_none(body.description);
    }
    let current = (table.name.clone(), table.description.clone());
    let changed = current != previous;
    let base_ref: &Base = base;
    let schema = base_ref.table(&table_id)?.schema(&base_ref.field_meta);
    if changed {
        emulator.commit(base, vec![Change::TableChanged { table: table_id, current, previous }]);
    }
    Ok(Json(schema))
}

pub async fn create_field(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    no_query(query.as_deref())?;
    let definition: FieldDefinition = parse_required(&body, &["name", "type"])?;
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, &base)?;
    let target = base.table(&table)?;
    if target.fields.len() >= MAX_FIELDS {
        return Err(AirtableError::invalid(
            "INVALID_REQUEST_UNKNOWN",
            format!("A table has at most {MAX_FIELDS} fields"),
        ));
    }
    let (field, meta) = fields::build(definition, new_id("fld"), Some(target))?;
    let schema = field.schema(Some(&meta));
    let change = Change::FieldCreated {
        table: target.id.clone(),
        field: field.id.clone(),
        name: field.name.clone(),
        kind: field.kind.name(),
    };
    fields::remember(&mut base.field_meta, &field, meta);
    base.table_mut(&table)?.fields.push(field);
    emulator.commit(base, vec![change]);
    Ok(Json(schema))
}

pub async fn update_field(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, table, field)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    no_query(query.as_deref())?;
    let body = UpdateField::parse(&body)?;
    check_description(body.description.clone().flatten().as_deref())?;
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, &base)?;
    if !is_id("fld", &field) {
        return Err(AirtableError::route_not_found());
    }
    let target = base.table(&table)?;
    let index = target
        .fields
        .iter()
        .position(|f| f.id == field)
        .ok_or_else(|| AirtableError::model_not_found("field", &field))?;
    if let Some(name) = &body.name {
        let others = target.fields.iter().enumerate().filter(|(i, _)| *i != index).map(|(_, f)| f.name.as_str());
        check_field_name(name, others)?;
    }
    let table_id = target.id.clone();
    let target = base.table_mut(&table_id)?;
    let previous = (target.fields[index].name.clone(), target.fields[index].kind.name());
    if let Some(name) = body.name {
        target.fields[index].name = name.trim().to_string();
    }
    let updated = target.fields[index].clone();
    let meta = base.field_meta.entry(updated.id.clone()).or_default();
    if let Some(description) = body.description {
        meta.description = empty_to_none(description);
    }
    let schema = updated.schema(Some(meta));
    let current = (updated.name.clone(), updated.kind.name());
    if current != previous {
        emulator.commit(base, vec![Change::FieldChanged { table: table_id, field: updated.id, current, previous }]);
    }
    Ok(Json(schema))
}
