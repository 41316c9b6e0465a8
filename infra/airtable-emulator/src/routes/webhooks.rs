//! The webhooks API: `/v0/bases/{baseId}/webhooks` — list, create; `…/{webhookId}` — delete, `refresh`,
//! `enableNotifications`, `payloads`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::writes::parse_required;
use crate::auth::TokenGrant;
use crate::error::{AirtableError, AirtableResult};
use crate::ids::is_id;
use crate::model::Base;
use crate::params::pairs;
use crate::state::Emulator;
use crate::webhooks::{LIFETIME, MAX_PER_BASE, PAGE_LIMIT, Webhook};

/// Cursors are 32-bit in Airtable's API.
const MAX_CURSOR: u64 = i32::MAX as u64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    #[serde(default)]
    notification_url: Option<String>,
    specification: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableBody {
    enable: bool,
}

fn no_query(query: Option<&str>) -> AirtableResult<()> {
    match pairs(query).is_empty() {
        true => Ok(()),
        false => Err(AirtableError::invalid_request()),
    }
}

fn webhook<'b>(base: &'b mut Base, id: &str) -> AirtableResult<&'b mut Webhook> {
    if !is_id("ach", id) {
        return Err(AirtableError::route_not_found());
    }
    base.webhooks.iter_mut().find(|w| w.id == id).ok_or_else(|| AirtableError::model_not_found("webhook", id))
}

pub async fn list(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path(base): Path<String>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    no_query(query.as_deref())?;
    let world = emulator.world();
    let webhooks: Vec<Value> = world.base(&grant.bases, &base)?.webhooks.iter().map(Webhook::render).collect();
    Ok(Json(json!({ "webhooks": webhooks })))
}

pub async fn create(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path(base): Path<String>,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let body: CreateBody = parse_required(&body, &["specification"])?;
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, &base)?;
    if base.webhooks.len() >= MAX_PER_BASE {
        return Err(AirtableError::invalid(
            "TOO_MANY_WEBHOOKS",
            format!("A base can have at most {MAX_PER_BASE} webhooks"),
        ));
    }
    let webhook = Webhook::create(base, body.notification_url, body.specification)?;
    let answer = json!({
        "id": webhook.id,
        "macSecretBase64": webhook.mac_secret_base64,
        "expirationTime": webhook.expiration_time(),
    });
    base.webhooks.push(webhook);
    Ok(Json(answer))
}

pub async fn delete(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, id)): Path<(String, String)>,
) -> AirtableResult<Json<Value>> {
    let mut world = emulator.world();
    let base = world.base_mut(&grant.bases, &base)?;
    webhook(base, &id)?;
    base.webhooks.retain(|w| w.id != id);
    Ok(Json(json!({})))
}

pub async fn refresh(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, id)): Path<(String, String)>,
) -> AirtableResult<Json<Value>> {
    let mut world = emulator.world();
    let hook = webhook(world.base_mut(&grant.bases, &base)?, &id)?;
    hook.expiration = time::OffsetDateTime::now_utc() + LIFETIME;
    Ok(Json(json!({ "expirationTime": hook.expiration_time() })))
}

pub async fn enable_notifications(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, id)): Path<(String, String)>,
    body: Bytes,
) -> AirtableResult<Json<Value>> {
    let body: EnableBody = parse_required(&body, &["enable"])?;
    let mut world = emulator.world();
    webhook(world.base_mut(&grant.bases, &base)?, &id)?.notifications_enabled = body.enable;
    Ok(Json(json!({})))
}

pub async fn payloads(
    State(emulator): State<Emulator>,
    grant: TokenGrant,
    Path((base, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> AirtableResult<Json<Value>> {
    let (mut cursor, mut limit) = (None, None);
    for (key, value) in pairs(query.as_deref()) {
        match key.as_str() {
            "cursor" if cursor.is_none() => {
                cursor = Some(value.parse::<u64>().ok().filter(|c| (1..=MAX_CURSOR).contains(c)).ok_or_else(|| {
                    AirtableError::invalid("INVALID_REQUEST_UNKNOWN", "cursor must be a positive integer")
                })?);
            }
            "limit" if limit.is_none() => {
                limit =
                    Some(value.parse::<usize>().ok().filter(|l| (1..=PAGE_LIMIT).contains(l)).ok_or_else(|| {
                        AirtableError::invalid(
                            "INVALID_REQUEST_UNKNOWN",
                            format!("limit must be from 1 to {PAGE_LIMIT}"),
                        )
                    })?);
            }
            _ => return Err(AirtableError::invalid_request()),
        }
    }
    let mut world = emulator.world();
    Ok(Json(webhook(world.base_mut(&grant.bases, &base)?, &id)?.page(cursor, limit)))
}
