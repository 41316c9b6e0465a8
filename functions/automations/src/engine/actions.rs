//! The actions: record writes through the gateway (as the automation's creator: the permission decision, the
//! limiter and cache invalidation all apply), notifications (events, committed with the step's record), and
//! outgoing HTTP calls (SSRF-guarded).

use std::time::Duration;

use airtable::gateway::Write;
use airtable::ids::{BaseId, RecordId, TableRef};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use platform::Caller;
use serde_json::{Value, json};

use crate::model::Step;
use crate::template;

/// What an attempt came to.
#[derive(Debug)]
pub enum Outcome {
    Done(Value),
    /// Worth another attempt (a 429, a 5xx, a timeout), maybe not before `after`.
    Transient {
        error: String,
        after: Option<Duration>,
    },
    /// Will fail again (a 4xx, a template error, no permission).
    Permanent(String),
}

/// An action's settings rendered against the run's context.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Create { base: String, table: String, fields: Value, typecast: bool, idempotency_field: Option<String> },
    Update { base: String, table: String, record: String, fields: Value, typecast: bool },
    Delete { base: String, table: String, record: String },
    Notify { to: Vec<String>, subject: String, body: String },
    Webhook { url: String, body: Value },
}

impl Rendered {
    /// What the log shows as the step's input.
    pub fn input(&self) -> Value {
        match self {
            Self::Create { base, table, fields, typecast, .. } => {
                json!({"base_id": base, "table": table, "fields": fields, "typecast": typecast})
            }
            Self::Update { base, table, record, fields, typecast } => {
                json!({"base_id": base, "table": table, "record_id": record, "fields": fields, "typecast": typecast})
            }
            Self::Delete { base, table, record } => json!({"base_id": base, "table": table, "record_id": record}),
            Self::Notify { to, subject, body } => json!({"to": to, "subject": subject, "body": body}),
            Self::Webhook { url, body } => json!({"url": url, "body": body}),
        }
    }

    /// Safe to send again after a crash left its outcome unknown.
    pub fn repeatable(&self) -> bool {
        !matches!(self, Self::Create { idempotency_field: None, .. })
    }
}

fn text(source: &str, context: &Value, what: &str) -> Result<String, String> {
    match template::render(source, context).map_err(|e| format!("{what}: {e}"))? {
        Value::String(s) => Ok(s),
        Value::Null => Ok(String::new()),
        other => Ok(other.to_string()),
    }
}

fn object(source: &Value, context: &Value, what: &str) -> Result<Value, String> {
    let value = template::render_value(source, context).map_err(|e| format!("{what}: {e}"))?;
    if value.is_object() { Ok(value) } else { Err(format!("{what}: not an object")) }
}

/// Renders an action step (`None` for control steps).
pub fn render(step: &Step, context: &Value, creator: &str) -> Option<Result<Rendered, String>> {
    let rendered = match step {
        Step::CreateRecord { base_id, table, fields, typecast, idempotency_field, .. } => {
            object(fields, context, "fields").map(|fields| Rendered::Create {
                base: base_id.clone(),
                table: table.clone(),
                fields,
                typecast: typecast.unwrap_or(false),
                idempotency_field: idempotency_field.clone(),
            })
        }
        Step::UpdateRecord { base_id, table, record_id, fields, typecast, .. } => text(record_id, context, "record_id")
            .and_then(|record| {
                Ok(Rendered::Update {
                    base: base_id.clone(),
                    table: table.clone(),
                    record,
                    fields: object(fields, context, "fields")?,
                    typecast: typecast.unwrap_or(false),
                })
            }),
        Step::DeleteRecord { base_id, table, record_id, .. } => text(record_id, context, "record_id")
            .map(|record| Rendered::Delete { base: base_id.clone(), table: table.clone(), record }),
        Step::Notify { to, subject, body, .. } => (|| {
            let mut recipients: Vec<String> = Vec::new();
            for r in to.clone().unwrap_or_else(|| vec!["creator".into()]) {
                let user = if r == "creator" { creator.to_string() } else { r };
                if !recipients.contains(&user) {
                    recipients.push(user);
                }
            }
            let subject = text(subject, context, "subject")?;
            let subject: String = subject.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
            let body: String = text(body, context, "body")?.chars().take(5_000).collect();
            Ok(Rendered::Notify { to: recipients, subject, body })
        })(),
        Step::Webhook { url, body, .. } => text(url, context, "url").and_then(|url| {
            let body = match body {
                Some(body) => template::render_value(body, context).map_err(|e| format!("body: {e}"))?,
                None => json!({"trigger": context["trigger"], "steps": context["steps"]}),
            };
            Ok(Rendered::Webhook { url, body })
        }),
        Step::Wait { .. } | Step::Branch { .. } | Step::Repeat { .. } => return None,
    };
    Some(rendered)
}

fn ids(base: &str, table: &str) -> Result<(BaseId, TableRef), String> {
    let base = BaseId::parse(base).ok_or_else(|| format!("{base:?} is not a base id"))?;
    let table = TableRef::parse(table).ok_or_else(|| format!("{table:?} is not a table id or name"))?;
    Ok((base, table))
}

fn record_id(raw: &str) -> Result<RecordId, String> {
    RecordId::parse(raw.trim())
        .ok_or_else(|| format!("{:?} is not a record id (rec…)", raw.chars().take(40).collect::<String>()))
}

/// Sends a record write through the gateway as `caller`; `key` is the step's idempotency key.
pub async fn record_write(gateway: &airtable::Gateway, caller: &Caller, rendered: &Rendered, key: &str) -> Outcome {
    let built = (|| -> Result<Write, String> {
        Ok(match rendered {
            Rendered::Create { base, table, fields, typecast, idempotency_field } => {
                let (base, table) = ids(base, table)?;
                match idempotency_field {
                    Some(field) => {
                        let mut fields = fields.clone();
                        fields[field.as_str()] = json!(key);
                        let body = json!({
                            "records": [{"fields": fields}],
                            "performUpsert": {"fieldsToMergeOn": [field]},
                            "typecast": typecast,
                        });
                        airtable::requests::write(Method::PATCH, &base, &table, None, Vec::new(), Some(to_bytes(&body)))
                    }
                    None => {
                        let body = json!({"records": [{"fields": fields}], "typecast": typecast});
                        airtable::requests::write(Method::POST, &base, &table, None, Vec::new(), Some(to_bytes(&body)))
                    }
                }
            }
            Rendered::Update { base, table, record, fields, typecast } => {
                let (base, table) = ids(base, table)?;
                let record = record_id(record)?;
                let body = json!({"records": [{"id": record.as_str(), "fields": fields}], "typecast": typecast});
                airtable::requests::write(Method::PATCH, &base, &table, None, Vec::new(), Some(to_bytes(&body)))
            }
            Rendered::Delete { base, table, record } => {
                let (base, table) = ids(base, table)?;
                let record = record_id(record)?;
                airtable::requests::write(Method::DELETE, &base, &table, Some(&record), Vec::new(), None)
            }
            _ => return Err("not a record action".into()),
        })
    })();
    let write = match built {
        Ok(write) => write,
        Err(e) => return Outcome::Permanent(e),
    };
    match gateway.write(caller, write).await {
        Ok(body) => {
            let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            // `{records: [one]}` for creates and updates; `{id, deleted}` for a delete.
            let output = answer.get("records").and_then(|r| r.get(0)).cloned().unwrap_or(answer);
            Outcome::Done(output)
        }
        Err(failure) => classify(&failure),
    }
}

fn to_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn classify(failure: &airtable::error::GatewayError) -> Outcome {
    use airtable::error::GatewayError as E;
    match failure {
        E::Upstream { status, body, retry_after } => {
            let message = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| {
                    let error = v.get("error")?;
                    Some(match (error.get("type"), error.get("message")) {
                        (Some(t), Some(m)) => format!("{}: {}", t.as_str().unwrap_or(""), m.as_str().unwrap_or("")),
                        (Some(t), None) => t.as_str().unwrap_or("").to_string(),
                        _ => error.as_str().unwrap_or("").to_string(),
                    })
                })
                .unwrap_or_default();
            let error = format!("Airtable answered {status} {message}").trim().to_string();
            if *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                Outcome::Transient { error, after: *retry_after }
            } else {
                Outcome::Permanent(error)
            }
        }
        E::Invalid { status, kind, message } => Outcome::Permanent(format!("{status} {kind}: {message}")),
        E::RateLimited { retry_after, message } => {
            Outcome::Transient { error: message.clone(), after: Some(*retry_after) }
        }
        E::Unavailable { .. } => Outcome::Transient { error: "Airtable is unavailable".into(), after: None },
        E::Unexpected(e) => Outcome::Transient { error: format!("unexpected: {e}"), after: None },
    }
}

/// Outgoing HTTP calls, guarded like the webhooks service's deliveries (private, loopback, link-local and
/// metadata addresses refused, unless `WEBHOOK_ALLOWED_CIDRS` allows them), no redirects followed.
#[derive(Clone)]
pub struct HttpOut {
    client: reqwest::Client,
    allowed: webhooks::ssrf::AllowList,
}

/// The most of an answer kept as the step's output.
const ANSWER_BYTES: usize = 2048;

impl HttpOut {
    pub fn new(allowed: webhooks::ssrf::AllowList, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(webhooks::ssrf::GuardedResolver::new(allowed.clone()))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .build()?;
        Ok(Self { client, allowed })
    }

    pub async fn post(&self, url: &str, body: &Value, key: &str) -> Outcome {
        let url = match reqwest::Url::parse(url) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.username().is_empty()
                    && url.password().is_none() =>
            {
                url
            }
            _ => {
                return Outcome::Permanent(format!(
                    "{:?} is not an http(s) URL without credentials",
                    url.chars().take(200).collect::<String>()
                ));
            }
        };
        if let Err(refused) = webhooks::ssrf::check_host(&self.allowed, &url) {
            return Outcome::Permanent(refused.to_string());
        }
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "PyAirtable-Automations/1")
            .header("idempotency-key", key)
            .body(serde_json::to_vec(body).unwrap_or_default());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return match webhooks::ssrf::refusal_in(&e) {
                    Some(refused) => Outcome::Permanent(refused.to_string()),
                    None if e.is_timeout() => Outcome::Transient { error: "timed out".into(), after: None },
                    None => Outcome::Transient { error: format!("could not connect: {e}"), after: None },
                };
            }
        };
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let kept = &bytes[..bytes.len().min(ANSWER_BYTES)];
        let answer = serde_json::from_slice::<Value>(kept)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(kept).into_owned()));
        let output = json!({"status": status.as_u16(), "body": answer});
        if status.is_success() {
            Outcome::Done(output)
        } else if status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
        {
            Outcome::Transient { error: format!("the receiver answered {status}"), after: None }
        } else {
            Outcome::Permanent(format!("the receiver answered {status}"))
        }
    }
}
