//! `GET/PATCH /api/v1/tenants/current`, `GET /api/v1/tenants/current/usage`, and
//! `PUT /api/v1/tenants/{tenantId}/plan` (platform admins).

use axum::extract::{Path, State};
use events::{Action, Event, Origin};
use identity::StoreFailure;
use identity::plans::Limit;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::SharedState;
use crate::access::{current_tenant, require_admin, version_conflict};
use crate::views::{LimitUse, MeteredUse, RateLimitUse, TenantView, Usage};

/// Longest tenant name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Largest `settings` object, encoded.
const MAX_SETTINGS_BYTES: usize = 8 * 1024;

/// The caller's tenant.
#[utoipa::path(get, path = "/api/v1/tenants/current", tag = "tenants",
    responses((status = 200, description = "The caller's tenant", body = TenantView)))]
pub async fn get_current(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<TenantView>> {
    let tenant = current_tenant(&state, &caller).await?;
    let limits = state.settings.plans.limits(&tenant.plan).clone();
    Ok(Json(TenantView::new(tenant, &limits)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// The `version` from the read this update is based on.
    #[serde(deserialize_with = "platform::json::whole_number")]
    pub version: u64,
    /// 1 to 100 characters, no control characters (surrounding whitespace is trimmed).
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// Unique across tenants: 3 to 40 lowercase letters, digits and inner hyphens; null clears it.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$", min_length = 3, max_length = 40, nullable)]
    #[serde(default, deserialize_with = "present")]
    pub slug: Option<Option<String>>,
    /// Replaces the settings: a JSON object of at most 8 KiB.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A field that is present, even as `null` (then `Some(None)`); absent fields stay `None` by `default`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn invalid(field: &str, why: &str) -> ApiError {
    ApiError::bad_request("invalid_tenant", format!("{field}: {why}"))
}

fn parse_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid("name", "1 to 100 characters, no control characters"));
    }
    Ok(name.to_string())
}

pub fn valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    (3..=40).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(|b| *b != b'-')
        && bytes.last().is_some_and(|b| *b != b'-')
}

/// Change the tenant's name, slug or settings (admins).
#[utoipa::path(patch, path = "/api/v1/tenants/current", tag = "tenants", request_body = UpdateTenant,
    responses(
        (status = 200, description = "Updated", body = TenantView),
        (status = 400, description = "Invalid field"),
        (status = 403, description = "Not an admin of the tenant"),
        (status = 409, description = "Stale version (`version_conflict`), or the slug is taken (`slug_taken`)"),
    ))]
pub async fn update_current(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Json(body): Json<UpdateTenant>,
) -> ApiResult<Json<TenantView>> {
    require_admin(&caller)?;
    let mut tenant = current_tenant(&state, &caller).await?;
    if tenant.version != body.version {
        return Err(version_conflict());
    }
    let previous_slug = tenant.slug.clone();
    let mut changed = Vec::new();
    if let Some(name) = &body.name {
        tenant.name = parse_name(name)?;
        changed.push("name");
    }
    if let Some(slug) = body.slug {
        if slug.as_deref().is_some_and(|s| !valid_slug(s)) {
            return Err(invalid("slug", "3 to 40 lowercase letters, digits and inner hyphens"));
        }
        tenant.slug = slug;
        changed.push("slug");
    }
    if let Some(settings) = body.settings {
        if serde_json::to_vec(&settings).map_or(true, |encoded| encoded.len() > MAX_SETTINGS_BYTES) {
            return Err(invalid("settings", "at most 8 KiB encoded"));
        }
        tenant.settings = settings;
        changed.push("settings");
    }
    tenant.updated_at = Some(identity::now_rfc3339());
    let event = Event::new(Action::TenantUpdated, &origin)
        .tenant(&tenant.tenant_id)
        .actor(&caller.user_id)
        .detail("changed", changed);
    let stored = match state.events.commit(event, state.store.update_tenant(&tenant, previous_slug.as_deref())).await {
        Ok(stored) => stored,
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(StoreFailure::SlugTaken) => return Err(ApiError::conflict("slug_taken", "Another tenant has this slug")),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    let limits = state.settings.plans.limits(&stored.plan).clone();
    Ok(Json(TenantView::new(stored, &limits)))
}

/// Each limit the platform measures, beside its current use.
#[utoipa::path(get, path = "/api/v1/tenants/current/usage", tag = "tenants",
    responses((status = 200, description = "Limits and use", body = Usage)))]
pub async fn usage(State(state): State<SharedState>, caller: Caller) -> ApiResult<Json<Usage>> {
    let tenant = current_tenant(&state, &caller).await?;
    let limits = state.settings.plans.limits(&tenant.plan);
    let members = state.store.count_users(&tenant.tenant_id).await?;
    let pending = state.store.count_pending_invitations(&tenant.tenant_id, storage::now_secs()).await?;
    // The counts are a cache's: when it fails, the rest of the usage still answers.
    let counted = match &state.api_counts {
        Some(counts) => counts
            .this_month(&tenant.tenant_id)
            .await
            .inspect_err(|e| tracing::warn!(error = ?e, "could not read the tenant's API counts"))
            .ok(),
        None => None,
    };
    let storage = state.files.used_bytes(&tenant.tenant_id).await?;
    let metered = metered_this_month(&state, &tenant.tenant_id).await?;
    Ok(Json(Usage {
        plan: tenant.plan.clone(),
        usage: vec![
            LimitUse { limit: Limit::Members.name(), allowed: Limit::Members.of(limits), used: members + pending },
            // Bytes of files declared and not rejected, expired or deleted (reserved at declaration).
            LimitUse { limit: "file_storage_bytes", allowed: limits.file_storage_bytes, used: storage },
        ],
        rate_limit: RateLimitUse {
            requests_per_second: limits.api_requests_per_second,
            burst: limits.api_burst,
            requests_this_month: counted.map(|c| c.requests),
            throttled_this_month: counted.map(|c| c.throttled),
        },
        metered,
    }))
}

/// The month's totals of the request path's metrics, from analytics' daily aggregates.
async fn metered_this_month(state: &SharedState, tenant: &str) -> ApiResult<MeteredUse> {
    use analytics::store::Granularity;
    use platform::usage::{AIRTABLE_UPSTREAM_CALLS, API_ERRORS, API_REQUESTS};
    let today = Granularity::Day.period(storage::now_millis());
    let first = format!("{}-01", today.get(..7).unwrap_or_default());
    let total = |metric: &'static str| {
        let (first, today) = (first.clone(), today.clone());
        async move {
            let days = state.analytics.aggregates(tenant, metric, Granularity::Day, &first, &today).await?;
            Ok::<u64, ApiError>(days.iter().map(|d| d.value).sum())
        }
    };
    let (api_requests_this_month, api_errors_this_month, airtable_upstream_calls_this_month) =
        tokio::try_join!(total(API_REQUESTS), total(API_ERRORS), total(AIRTABLE_UPSTREAM_CALLS))?;
    Ok(MeteredUse { api_requests_this_month, api_errors_this_month, airtable_upstream_calls_this_month })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlan {
    /// A configured plan (`free`, `pro`, `enterprise` unless `TENANT_PLANS` says otherwise).
    pub plan: String,
}

/// Set a tenant's plan (platform admins).
#[utoipa::path(put, path = "/api/v1/tenants/{tenantId}/plan", tag = "tenants", request_body = SetPlan,
    params(("tenantId" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant on its new plan", body = TenantView),
        (status = 400, description = "Unknown plan"),
        (status = 403, description = "Not a platform admin"),
        (status = 404, description = "No such tenant"),
        (status = 409, description = "The tenant changed meanwhile; retry"),
    ))]
pub async fn set_plan(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(tenant_id): Path<String>,
    Json(body): Json<SetPlan>,
) -> ApiResult<Json<TenantView>> {
    if !caller.is_platform_admin() {
        return Err(ApiError::forbidden("Only platform admins set plans"));
    }
    if !state.settings.plans.contains(&body.plan) {
        let known: Vec<&str> = state.settings.plans.names().collect();
        return Err(ApiError::bad_request("unknown_plan", format!("plan must be one of {}", known.join(", "))));
    }
    let not_found = || ApiError::not_found("No such tenant");
    if uuid::Uuid::parse_str(&tenant_id).is_err() {
        return Err(not_found());
    }
    let mut tenant = state.store.tenant(&tenant_id).await?.ok_or_else(not_found)?;
    let previous = std::mem::replace(&mut tenant.plan, body.plan);
    tenant.updated_at = Some(identity::now_rfc3339());
    let slug = tenant.slug.clone();
    let event = Event::new(Action::TenantPlanChanged, &origin)
        .tenant(&tenant.tenant_id)
        .actor(&caller.user_id)
        .detail("from", previous)
        .detail("to", tenant.plan.clone());
    let stored = match state.events.commit(event, state.store.update_tenant(&tenant, slug.as_deref())).await {
        Ok(stored) => stored,
        Err(StoreFailure::VersionConflict) => return Err(version_conflict()),
        Err(e) => return Err(ApiError::Unexpected(anyhow::Error::new(e))),
    };
    let limits = state.settings.plans.limits(&stored.plan).clone();
    Ok(Json(TenantView::new(stored, &limits)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_short_lowercase_words_with_inner_hyphens() {
        for good in ["acme", "acme-corp", "a1b", "x".repeat(40).as_str()] {
            assert!(super::valid_slug(good), "{good}");
        }
        for bad in ["ab", "-acme", "acme-", "Acme", "acme corp", "acmé", &"x".repeat(41)] {
            assert!(!super::valid_slug(bad), "{bad}");
        }
    }
}
