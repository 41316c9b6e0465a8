//! `GET /api/v1/analytics/usage` (a metric's time series) and `GET /api/v1/analytics/top` (the top values of a
//! dimension). Tenant admins read their tenant; platform admins may name any tenant (`tenant_id`).

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::SharedState;
use crate::store::{Aggregate, Granularity};

/// The metrics (see `meter::METRICS` for what each counts).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Events,
    AutomationRuns,
    AirtableChanges,
    FilesReady,
    FileBytes,
    Logins,
    WebhookFailures,
    ApiRequests,
    ApiErrors,
    ApiLatencyMs,
    AirtableUpstreamCalls,
    AirtableCache,
    AirtableLimiterWaits,
    AirtableLimiterWaitMs,
    NotificationsSent,
    WebhookAttempts,
}

/// The dimensions `/top` ranks by.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Type,
    User,
    Base,
    Status,
    Automation,
    ContentType,
    Endpoint,
    Route,
    Outcome,
    Channel,
}

fn name<T: Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field}: {reason}"))
}

/// The longest range one answer covers: 31 days of hours, 400 days of days.
fn max_span_ms(granularity: Granularity) -> i64 {
    match granularity {
        Granularity::Hour => 31 * 86_400_000,
        Granularity::Day => 400 * 86_400_000,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// RFC 3339; default: `to` less a day (hours) or 30 days (days). At most `to`, and at most 31 days (hours)
    /// or 400 days (days) before it.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339; default: now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Default `hour`.
    #[param(inline)]
    pub granularity: Option<Granularity>,
    /// Platform admins: the tenant to read (default: the caller's).
    pub tenant_id: Option<String>,
}

/// The tenant whose analytics the caller may read.
fn tenant(caller: &Caller, asked: Option<&str>) -> ApiResult<String> {
    match asked.filter(|t| !t.is_empty()) {
        Some(other) if other != caller.tenant_id => {
            if caller.is_platform_admin() {
                Ok(other.to_string())
            } else {
                Err(ApiError::forbidden("Only platform admins read another tenant's analytics"))
            }
        }
        _ if caller.is_tenant_admin() => Ok(caller.tenant_id.clone()),
        _ => Err(ApiError::forbidden("Only admins read analytics")),
    }
}

/// The range as (from, to) epoch milliseconds and its granularity.
fn range(range: &Range) -> ApiResult<(i64, i64, Granularity)> {
    let granularity = range.granularity.unwrap_or(Granularity::Hour);
    let parse = |field: &str, raw: &Option<String>| -> ApiResult<Option<i64>> {
        match raw.as_deref().filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(raw) => chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| Some(t.timestamp_millis()))
                .map_err(|_| invalid(field, "an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")),
        }
    };
    let to = parse("to", &range.to)?.unwrap_or_else(storage::now_millis);
    let default_span = match granularity {
        Granularity::Hour => 86_400_000,
        Granularity::Day => 30 * 86_400_000,
    };
    let from = parse("from", &range.from)?.unwrap_or(to - default_span);
    if from > to {
        return Err(invalid("from", "must not be after to"));
    }
    if to - from > max_span_ms(granularity) {
        return Err(invalid("from", "at most 31 days of hours or 400 days of days"));
    }
    Ok((from, to, granularity))
}

type Parsed<T> = Result<Query<T>, QueryRejection>;

/// A route's own parameters, the tenant it reads and its range: what both routes start with.
fn inputs<T>(
    caller: &Caller,
    query: Parsed<T>,
    bounds: Parsed<Range>,
) -> ApiResult<(T, String, (i64, i64, Granularity))> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let Query(bounds) = bounds.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let tenant = tenant(caller, bounds.tenant_id.as_deref())?;
    Ok((query, tenant, range(&bounds)?))
}

fn period_start(granularity: Granularity, ms: i64) -> i64 {
    ms - ms.rem_euclid(granularity.step_ms())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn read(
    state: &SharedState,
    tenant: &str,
    metric: Metric,
    (from, to, granularity): (i64, i64, Granularity),
) -> ApiResult<Vec<Aggregate>> {
    let (first, last) = (granularity.period(from), granularity.period(to));
    Ok(state.store.aggregates(tenant, &name(metric), granularity, &first, &last).await?)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    #[param(inline)]
    pub metric: Metric,
}

#[derive(Serialize, ToSchema)]
pub struct UsagePoint {
    /// The period's start (RFC 3339, UTC).
    pub period: String,
    pub value: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UsageSeries {
    pub tenant_id: String,
    pub metric: Metric,
    pub granularity: Granularity,
    pub from: String,
    pub to: String,
    pub total: u64,
    /// Every period of the range, oldest first (zero where nothing happened).
    pub series: Vec<UsagePoint>,
}

/// A metric's time series, hour by hour or day by day.
#[utoipa::path(get, path = "/api/v1/analytics/usage", tag = "analytics", operation_id = "analytics_usage",
    params(UsageQuery, Range),
    responses(
        (status = 200, description = "The series", body = UsageSeries),
        (status = 400, description = "Invalid metric, granularity or range (`invalid_field`, `invalid_query`)"),
        (status = 403, description = "Not an admin, or another tenant without being a platform admin"),
    ))]
pub async fn usage(
    State(state): State<SharedState>,
    caller: Caller,
    query: Parsed<UsageQuery>,
    bounds: Parsed<Range>,
) -> ApiResult<Json<UsageSeries>> {
    let (query, tenant, (from, to, granularity)) = inputs(&caller, query, bounds)?;
    let found: BTreeMap<String, u64> = read(&state, &tenant, query.metric, (from, to, granularity))
        .await?
        .into_iter()
        .map(|a| (a.period, a.value))
        .collect();
    let mut series = Vec::new();
    let mut at = period_start(granularity, from);
    while at <= to {
        series
            .push(UsagePoint { period: rfc3339(at), value: found.get(&granularity.period(at)).copied().unwrap_or(0) });
        at += granularity.step_ms();
    }
    Ok(Json(UsageSeries {
        tenant_id: tenant,
        metric: query.metric,
        granularity,
        from: rfc3339(from),
        to: rfc3339(to),
        total: series.iter().map(|p| p.value).sum(),
        series,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    #[param(inline)]
    pub metric: Metric,
    #[param(inline)]
    pub dimension: Dimension,
    /// 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct RankedValue {
    pub key: String,
    pub value: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TopValues {
    pub tenant_id: String,
    pub metric: Metric,
    pub dimension: Dimension,
    pub from: String,
    pub to: String,
    /// Largest first (ties by key); empty when the metric has no such dimension.
    pub items: Vec<RankedValue>,
}

/// The values of a dimension with the most of a metric over a range.
#[utoipa::path(get, path = "/api/v1/analytics/top", tag = "analytics", operation_id = "analytics_top",
    params(TopQuery, Range),
    responses(
        (status = 200, description = "The ranking", body = TopValues),
        (status = 400, description = "Invalid metric, dimension, limit, granularity or range (`invalid_field`, `invalid_query`)"),
        (status = 403, description = "Not an admin, or another tenant without being a platform admin"),
    ))]
pub async fn top(
    State(state): State<SharedState>,
    caller: Caller,
    query: Parsed<TopQuery>,
    bounds: Parsed<Range>,
) -> ApiResult<Json<TopValues>> {
    let (query, tenant, (from, to, granularity)) = inputs(&caller, query, bounds)?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit", "1 to 100"));
    }
    let dimension = name(query.dimension);
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for aggregate in read(&state, &tenant, query.metric, (from, to, granularity)).await? {
        for (key, value) in aggregate.by.get(&dimension).into_iter().flatten() {
            *totals.entry(key.clone()).or_default() += value;
        }
    }
    let mut items: Vec<RankedValue> = totals.into_iter().map(|(key, value)| RankedValue { key, value }).collect();
    items.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
    items.truncate(limit);
    Ok(Json(TopValues {
        tenant_id: tenant,
        metric: query.metric,
        dimension: query.dimension,
        from: rfc3339(from),
        to: rfc3339(to),
        items,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::meter::{DIMENSIONS, METRICS};

    #[test]
    fn every_metric_and_dimension_of_the_catalogue_can_be_asked_for() {
        for (metric, _) in METRICS {
            let parsed: Metric = serde_json::from_value(serde_json::json!(metric)).unwrap();
            assert_eq!(name(parsed), *metric);
        }
        for dimension in DIMENSIONS {
            let parsed: Dimension = serde_json::from_value(serde_json::json!(dimension)).unwrap();
            assert_eq!(name(parsed), *dimension);
        }
        for usage_dimension in platform::usage::DIMENSIONS {
            assert!(DIMENSIONS.contains(&usage_dimension), "{usage_dimension}");
        }
    }
}
