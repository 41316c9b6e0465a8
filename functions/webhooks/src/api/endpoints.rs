//! `GET|POST /api/v1/webhooks/endpoints`, `GET|PATCH|DELETE …/endpoints/{id}`, `POST …/{id}/rotate-secret`,
//! `POST …/{id}/test` (`webhooks:manage`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Origin};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::SharedState;
use crate::api::guard::{endpoint as managed_endpoint, require_manager};
use crate::api::views::{CreatedEndpoint, EndpointList, EndpointView, MessageView, RotatedSecret};
use crate::api::{invalid, not_queued, now_rfc3339, rfc3339};
use crate::jobs::{Job, new_token};
use crate::store::{self, Created, Endpoint, Message, Status, StoreFailure, Trigger};

/// Endpoints per tenant.
pub const MAX_ENDPOINTS: usize = 50;
/// The type of `POST …/test`'s event (not a platform event: no filter applies to it).
pub const TEST_EVENT_TYPE: &str = "webhook.test";

fn parse_url(state: &SharedState, raw: &str) -> ApiResult<String> {
    crate::target::parse(raw, &state.settings.allowed).map(String::from).map_err(|rule| invalid("url", rule))
}

fn parse_description(raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() <= 1_000 && !text.chars().any(|c| c.is_control() && c != '\n') => {
            Ok(Some(text.to_string()))
        }
        Some(_) => Err(invalid("description", "at most 1000 characters, no control characters")),
    }
}

/// Names from the catalogue, each once.
fn parse_event_types(raw: &[String]) -> ApiResult<Vec<String>> {
    let mut types: Vec<String> = Vec::with_capacity(raw.len());
    for name in raw {
        let Ok(action) = name.parse::<Action>() else {
            let shown: String = name.chars().take(80).collect();
            return Err(invalid("event_types", format!("unknown event type {shown:?} (see GET /api/v1/events/types)")));
        };
        if !types.iter().any(|t| t == action.as_str()) {
            types.push(action.as_str().to_string());
        }
    }
    Ok(types)
}

/// The tenant's endpoints, oldest first.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints", tag = "webhooks", operation_id = "list_webhook_endpoints",
    params(
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of endpoints (never their secrets)", body = EndpointList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<EndpointList>> {
    let limit = page.limit()?;
    require_manager(&state, &caller).await?;
    let listing = state.store.endpoints(&caller.tenant_id, limit, page.cursor()).await?;
    Ok(Json(EndpointList {
        endpoints: listing.items.into_iter().map(EndpointView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where deliveries are POSTed: `https` (or `http`), no credentials, at most 2,048 characters.
    #[schema(min_length = 1, max_length = 2048, pattern = "^https?://")]
    pub url: String,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// Event type names to receive (`GET /api/v1/events/types`); absent or empty: every type.
    pub event_types: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Create an endpoint; its signing secret is answered this once.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints", tag = "webhooks", operation_id = "create_webhook_endpoint", request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created, with its secret (shown once)", body = CreatedEndpoint),
        (status = 400, description = "Invalid field (`invalid_field`: url, description, event_types) or body"),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 409, description = "The tenant has the most endpoints allowed (`endpoint_limit_reached`)"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<CreateEndpoint>,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    let url = parse_url(&state, &body.url)?;
    let description = parse_description(body.description.as_deref())?;
    let event_types = parse_event_types(body.event_types.as_deref().unwrap_or_default())?;
    require_manager(&state, &caller).await?;
    if state.store.endpoints(&caller.tenant_id, MAX_ENDPOINTS, None).await?.items.len() >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(
            "endpoint_limit_reached",
            format!("A tenant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"),
        ));
    }
    let id = format!("ep_{}", uuid::Uuid::now_v7().simple());
    let secret = crate::signing::generate_secret()?;
    let now = now_rfc3339();
    let endpoint = Endpoint {
        secret: state.secrets.seal(&caller.tenant_id, &id, &secret).await?,
        id,
        tenant_id: caller.tenant_id.clone(),
        url,
        description,
        event_types,
        enabled: body.enabled.unwrap_or(true),
        disabled_reason: None,
        previous_secret: None,
        previous_secret_expires_at_ms: None,
        failing_since_ms: None,
        created_by: caller.user_id.clone(),
        created_at: now.clone(),
        updated_at: now,
        version: 0,
    };
    let event = endpoint_event(Action::WebhookEndpointCreated, &origin, &caller, &endpoint.id)
        .detail("url", endpoint.url.clone())
        .detail("event_types", endpoint.event_types.clone());
    let stored = state.events.commit(event, state.store.create_endpoint(&endpoint)).await?;
    tracing::info!(endpoint_id = %stored.id, "webhook endpoint created");
    let secret = secret.expose_secret().to_string();
    Ok((StatusCode::CREATED, Json(CreatedEndpoint { endpoint: stored.into(), secret })))
}

/// One endpoint (never its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "get_webhook_endpoint",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    Ok(Json(managed_endpoint(&state, &caller, &id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    #[schema(min_length = 1, max_length = 2048, pattern = "^https?://")]
    pub url: Option<String>,
    /// `""` clears it.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// Replaces the filter; `[]`: every type.
    pub event_types: Option<Vec<String>>,
    /// `true` re-enables an endpoint the platform disabled (and forgets its failures).
    pub enabled: Option<bool>,
    /// The endpoint's `version` from the read this change is based on; absent: apply to whatever is stored.
    #[serde(default, deserialize_with = "platform::json::optional_whole_number")]
    pub version: Option<u64>,
}

/// Change an endpoint's URL, description, filter or state.
#[utoipa::path(patch, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "update_webhook_endpoint", request_body = UpdateEndpoint,
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "Updated", body = EndpointView),
        (status = 400, description = "Invalid field (`invalid_field`) or body"),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
        (status = 409, description = "Stale version (`version_conflict`)"),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
    Json(body): Json<UpdateEndpoint>,
) -> ApiResult<Json<EndpointView>> {
    let url = body.url.as_deref().map(|u| parse_url(&state, u)).transpose()?;
    let description = body.description.as_deref().map(|d| parse_description(Some(d))).transpose()?;
    let event_types = body.event_types.as_deref().map(parse_event_types).transpose()?;
    let mut endpoint = managed_endpoint(&state, &caller, &id).await?;
    if body.version.is_some_and(|v| v != endpoint.version) {
        return Err(StoreFailure::Conflict.into());
    }
    // The deliveries also write the endpoint (its failures): without a version, apply to the latest.
    for _ in 0..3 {
        let mut next = endpoint.clone();
        if let Some(url) = &url {
            next.url = url.clone();
        }
        if let Some(description) = &description {
            next.description = description.clone();
        }
        if let Some(types) = &event_types {
            next.event_types = types.clone();
        }
        if let Some(enabled) = body.enabled {
            if enabled && !next.enabled {
                next.failing_since_ms = None;
            }
            next.enabled = enabled;
            next.disabled_reason = None;
        }
        next.updated_at = now_rfc3339();
        let event = endpoint_event(Action::WebhookEndpointUpdated, &origin, &caller, &next.id)
            .detail("url", next.url.clone())
            .detail("event_types", next.event_types.clone())
            .detail("enabled", next.enabled);
        match state.events.commit(event, state.store.update_endpoint(&next)).await {
            Ok(stored) => return Ok(Json(stored.into())),
            Err(StoreFailure::Conflict) if body.version.is_none() => {
                endpoint = managed_endpoint(&state, &caller, &id).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreFailure::Conflict.into())
}

/// Delete an endpoint. Its messages stop (queued attempts find it gone) and expire with the log.
#[utoipa::path(delete, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "delete_webhook_endpoint",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let endpoint = managed_endpoint(&state, &caller, &id).await?;
    let event = endpoint_event(Action::WebhookEndpointDeleted, &origin, &caller, &endpoint.id);
    match state.events.commit(event, state.store.delete_endpoint(&endpoint)).await {
        Ok(()) | Err(StoreFailure::Conflict) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}

/// A new secret, answered this once; the previous one also signs for `WEBHOOK_SECRET_OVERLAP_SECS` (default
/// 24 h), so receivers can switch without missing a delivery.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/rotate-secret", tag = "webhooks", operation_id = "rotate_webhook_secret",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The new secret (shown once) and until when the previous one also signs", body = RotatedSecret),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
        (status = 409, description = "The endpoint changed meanwhile (`version_conflict`); retry"),
    ))]
pub async fn rotate_secret(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<Json<RotatedSecret>> {
    let endpoint = managed_endpoint(&state, &caller, &id).await?;
    let secret = crate::signing::generate_secret()?;
    let overlap_ms = i64::try_from(state.settings.secret_overlap.as_millis()).unwrap_or(i64::MAX);
    let until = (overlap_ms > 0).then(|| storage::now_millis().saturating_add(overlap_ms));
    let next = Endpoint {
        secret: state.secrets.seal(&caller.tenant_id, &id, &secret).await?,
        previous_secret: until.map(|_| endpoint.secret.clone()),
        previous_secret_expires_at_ms: until,
        updated_at: now_rfc3339(),
        ..endpoint
    };
    let event = endpoint_event(Action::WebhookSecretRotated, &origin, &caller, &next.id);
    let stored = state.events.commit(event, state.store.update_endpoint(&next)).await?;
    tracing::info!(endpoint_id = %stored.id, "webhook secret rotated");
    Ok(Json(RotatedSecret {
        secret: secret.expose_secret().to_string(),
        previous_secret_valid_until: until.map(rfc3339),
        endpoint: stored.into(),
    }))
}

/// Send a `webhook.test` event to the endpoint (whatever its filter), through the usual deliveries.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/test", tag = "webhooks", operation_id = "test_webhook_endpoint",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued: follow it in the endpoint's messages", body = MessageView),
        (status = 403, description = "Not allowed to manage webhooks (`webhooks:manage`)"),
        (status = 404, description = "No such endpoint in the caller's tenant"),
        (status = 409, description = "The endpoint is disabled (`endpoint_disabled`)"),
        (status = 503, description = "The delivery could not be queued; retry"),
    ))]
pub async fn send_test(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let endpoint = managed_endpoint(&state, &caller, &id).await?;
    if !endpoint.enabled {
        return Err(disabled());
    }
    let now = storage::now_millis();
    let event_id = uuid::Uuid::now_v7().to_string();
    let payload = serde_json::json!({
        "id": event_id, "type": TEST_EVENT_TYPE, "version": 1, "time": rfc3339(now),
        "tenant": caller.tenant_id, "actor": caller.user_id, "subject": caller.user_id, "ip": origin.ip,
        "request_id": origin.request_id,
        "data": {"endpoint_id": endpoint.id, "message": "A test event: your endpoint receives PyAirtable webhooks."},
    });
    let message = Message {
        id: store::message_id(now, &event_id),
        tenant_id: caller.tenant_id.clone(),
        endpoint_id: endpoint.id.clone(),
        event_id: Some(event_id),
        event_type: TEST_EVENT_TYPE.into(),
        payload: payload.to_string(),
        status: Status::Pending,
        created_at_ms: now,
        attempt_count: 0,
        retries_used: 0,
        next_attempt_at_ms: Some(now),
        token: Some(new_token()),
        lease_until_ms: None,
        last_error: None,
        attempts: Vec::new(),
        version: 0,
    };
    let Created::New(created) = state.store.create_message(&message).await? else {
        return Err(ApiError::Unexpected(anyhow::anyhow!("a new test message id was taken")));
    };
    if let Some(job) = Job::for_message(&created, Trigger::Test) {
        state.jobs.send(&job).await.map_err(not_queued)?;
    }
    Ok((StatusCode::ACCEPTED, Json((*created).into())))
}

pub(crate) fn disabled() -> ApiError {
    ApiError::conflict("endpoint_disabled", "The endpoint is disabled: enable it first (PATCH enabled: true)")
}

/// An endpoint's change, as its event (never its secret).
fn endpoint_event(action: Action, origin: &Origin, caller: &Caller, endpoint: &str) -> events::Event {
    events::Event::new(action, origin).tenant(&caller.tenant_id).actor(&caller.user_id).detail("endpoint_id", endpoint)
}
