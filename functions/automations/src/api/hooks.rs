//! `POST /api/v1/automations/hooks/{token}`: the public URL of a webhook-triggered automation. The token is the
//! credential (`pyhk_` + 64 hex digits, stored as its SHA-256); an unknown, rotated or disabled one is the same
//! 404. The body (JSON, at most 32 KiB) becomes `trigger.body`, the query `trigger.query`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use bytes::Bytes;
use platform::{ApiError, ApiResult, Json};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::SharedState;
use crate::model::Trigger;
use crate::runs::MAX_TRIGGER_BYTES;
use crate::store::{Started, sha256_hex};

#[derive(Serialize, ToSchema)]
#[schema(as = HookAccepted)]
pub struct Accepted {
    pub run_id: String,
}

fn unknown() -> ApiError {
    ApiError::not_found("No such automation webhook")
}

fn plausible(token: &str) -> bool {
    token.len() == 69 && token.starts_with("pyhk_") && token[5..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Start a run of the automation this secret URL belongs to.
#[utoipa::path(post, path = "/api/v1/automations/hooks/{token}", tag = "automations", operation_id = "trigger_automation_webhook",
    security(()),
    params(("token" = String, Path, description = "The secret of the automation's webhook URL")),
    request_body(content = Object, content_type = "application/json", description = "Any JSON (at most 32 KiB); empty: {}"),
    responses(
        (status = 202, description = "A run started", body = Accepted),
        (status = 400, description = "The body is not JSON (`invalid_body`)"),
        (status = 403, description = "The tenant's automation runs this month are spent (`plan_limit_reached`)"),
        (status = 404, description = "No such webhook (unknown, rotated, or its automation disabled or deleted)"),
        (status = 413, description = "The body is larger than 32 KiB"),
    ))]
pub async fn trigger(
    State(state): State<SharedState>,
    Path(token): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    if !plausible(&token) {
        return Err(unknown());
    }
    if body.len() > MAX_TRIGGER_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is larger than 32 KiB",
        ));
    }
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("invalid_body", format!("The body is not JSON: {e}")))?
    };
    let hash = sha256_hex(&token);
    let Some(hook) = state.store.hook(&hash).await? else { return Err(unknown()) };
    let Some(automation) = state.store.automation(&hook.tenant, &hook.workspace, &hook.automation).await? else {
        return Err(unknown());
    };
    if !automation.enabled
        || !matches!(automation.definition.trigger, Trigger::Webhook {})
        || automation.hook_token_hash.as_deref() != Some(hash.as_str())
    {
        return Err(unknown());
    }
    let data = json!({"type": "webhook", "body": payload, "query": query});
    if let Some(conditions) = &automation.definition.conditions
        && !conditions.holds(&json!({"trigger": data}))
    {
        // Accepted, as a receiver should answer; the conditions said no run.
        return Ok((StatusCode::ACCEPTED, Json(Accepted { run_id: String::new() })));
    }
    let seed = format!("webhook/{}", uuid::Uuid::new_v4());
    match state.starter.start(&automation, data, &seed, storage::now_millis()).await? {
        Started::New(run) => Ok((StatusCode::ACCEPTED, Json(Accepted { run_id: run.id }))),
        Started::OverLimit { allowed } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "plan_limit_reached",
            format!("The plan allows {allowed} automation runs a month; they are spent"),
        )),
        Started::Existing => Err(ApiError::Unexpected(anyhow::anyhow!("a random run id exists"))),
    }
}
