//! What an event counts for: its metrics, each with a value and the dimensions `/top` ranks by. One place to
//! read what every metric means.

use events::{Action, Event};
use platform::usage;
use serde_json::Value;

/// Every metric, with what it counts (the API's `metric` values).
pub const METRICS: &[(&str, &str)] = &[
    ("events", "Platform events of the tenant (dimensions: type, user)"),
    ("automation_runs", "Automation runs finished (dimensions: status, automation)"),
    ("airtable_changes", "Record changes captured in linked Airtable bases (dimensions: base, type)"),
    ("files_ready", "Files uploaded and processed (dimensions: content_type, user)"),
    ("file_bytes", "Bytes of files uploaded and processed (dimensions: content_type, user)"),
    ("logins", "Successful sign-ins (dimension: user)"),
    ("webhook_failures", "Webhook messages that failed for good (dimension: endpoint)"),
    // The request path's, metered by every HTTP function (platform::usage) and sent through `analytics-requests`.
    (usage::API_REQUESTS, "API requests answered (dimensions: route, status, user)"),
    (usage::API_ERRORS, "API requests answered with a 5xx (dimensions: route, status)"),
    (
        usage::API_LATENCY_MS,
        "Milliseconds spent answering API requests; divided by api_requests, the mean latency (dimension: route)",
    ),
    (usage::AIRTABLE_UPSTREAM_CALLS, "Calls the Airtable gateway made to Airtable (dimension: base)"),
    (
        usage::AIRTABLE_CACHE,
        "Airtable gateway reads by cache outcome: hit, miss, stale, bypass (dimensions: outcome, base)",
    ),
    (usage::AIRTABLE_LIMITER_WAITS, "Airtable calls that waited for the rate limiter (dimension: base)"),
    (usage::AIRTABLE_LIMITER_WAIT_MS, "Milliseconds Airtable calls waited for the rate limiter (dimension: base)"),
    (
        usage::NOTIFICATIONS_SENT,
        "Email, SMS and push messages by final outcome: delivered, failed, rate_limited (dimensions: channel, outcome)",
    ),
    (
        usage::WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by outcome: delivered, failed, gone, refused (dimensions: outcome, endpoint)",
    ),
];

/// The dimensions `/top` may rank by.
pub const DIMENSIONS: &[&str] =
    &["type", "user", "base", "status", "automation", "content_type", "endpoint", "route", "outcome", "channel"];

/// A metered usage message's readings in the catalogue's names; a metric or dimension this version does not know
/// (sent by a newer function during a deployment) is left out, and named in the error list.
pub fn usage_readings(message: &usage::UsageMessage) -> (Vec<Reading>, Vec<String>) {
    let mut unknown = Vec::new();
    let mut out = Vec::new();
    for reading in &message.readings {
        let Some((metric, _)) = METRICS.iter().find(|(m, _)| *m == reading.metric) else {
            unknown.push(reading.metric.clone());
            continue;
        };
        let mut dimensions = Vec::new();
        for (name, value) in &reading.dimensions {
            match DIMENSIONS.iter().find(|d| **d == name) {
                Some(dimension) => dimensions.push((*dimension, value.clone())),
                None => unknown.push(name.clone()),
            }
        }
        out.push(Reading { metric, value: reading.value, dimensions });
    }
    (out, unknown)
}

/// One metric's share of an event.
#[derive(Debug, PartialEq)]
pub struct Reading {
    pub metric: &'static str,
    pub value: u64,
    /// (dimension, value) pairs.
    pub dimensions: Vec<(&'static str, String)>,
}

fn text(event: &Event, name: &str) -> Option<String> {
    event.details.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// What `event` counts for. Events of no tenant count for nothing.
pub fn readings(event: &Event) -> Vec<Reading> {
    if event.tenant_id.is_none() {
        return Vec::new();
    }
    let kind = event.action.as_str().to_string();
    let user = event.actor_id.clone();
    let with_user = |mut dims: Vec<(&'static str, String)>| {
        if let Some(user) = &user {
            dims.push(("user", user.clone()));
        }
        dims
    };
    let mut out = vec![Reading { metric: "events", value: 1, dimensions: with_user(vec![("type", kind.clone())]) }];
    match event.action {
        Action::AutomationRunSucceeded | Action::AutomationRunFailed => {
            let status = if event.action == Action::AutomationRunSucceeded { "succeeded" } else { "failed" };
            let mut dimensions = vec![("status", status.to_string())];
            dimensions.extend(text(event, "automation_id").map(|a| ("automation", a)));
            out.push(Reading { metric: "automation_runs", value: 1, dimensions });
        }
        Action::AirtableRecordCreated | Action::AirtableRecordUpdated | Action::AirtableRecordDeleted => {
            let mut dimensions = vec![("type", kind)];
            dimensions.extend(text(event, "base_id").map(|b| ("base", b)));
            out.push(Reading { metric: "airtable_changes", value: 1, dimensions });
        }
        Action::FileReady => {
            let dims = with_user(text(event, "content_type").map(|t| ("content_type", t)).into_iter().collect());
            let size = event.details.get("size").and_then(Value::as_u64).unwrap_or(0);
            out.push(Reading { metric: "files_ready", value: 1, dimensions: dims.clone() });
            out.push(Reading { metric: "file_bytes", value: size, dimensions: dims });
        }
        Action::LoginSucceeded => out.push(Reading { metric: "logins", value: 1, dimensions: with_user(Vec::new()) }),
        Action::WebhookMessageFailed => {
            let dimensions = text(event, "endpoint_id").map(|e| ("endpoint", e)).into_iter().collect();
            out.push(Reading { metric: "webhook_failures", value: 1, dimensions });
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use events::Origin;

    use super::*;

    #[test]
    fn an_event_counts_for_events_and_its_own_metrics_and_no_tenant_counts_for_nothing() {
        let origin = Origin { request_id: "r".into(), ip: None };
        let ready = Event::new(Action::FileReady, &origin)
            .tenant("t1")
            .actor("u1")
            .detail("content_type", "text/csv")
            .detail("size", 42);
        let metrics: Vec<(&str, u64)> = readings(&ready).iter().map(|r| (r.metric, r.value)).collect();
        assert_eq!(metrics, vec![("events", 1), ("files_ready", 1), ("file_bytes", 42)]);
        assert_eq!(readings(&ready)[2].dimensions, vec![("content_type", "text/csv".into()), ("user", "u1".into())]);
        assert!(readings(&Event::new(Action::LoginFailed, &origin)).is_empty());
        for (metric, _) in METRICS {
            assert!(metric.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{metric}");
        }
    }
}
