//! The deliveries queue's consumer: each job is one attempt of one message (or a hop towards a retry due
//! after SQS's longest delay). See the crate docs for the token, the lease and the order of writes that make
//! delivery at least once without two concurrent sends.

pub mod http;
pub mod retry;

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use platform::group::Resources;
use secrecy::SecretString;
use tracing::Instrument;

use crate::jobs::{self, Job, Jobs, new_token};
use crate::secrets::EndpointSecrets;
use crate::settings::WebhookSettings;
use crate::store::{Attempt, Endpoint, Message, Status, StoreFailure, Trigger, WebhookStore};
use http::{Outcome, Sender, Verdict};

/// How long an attempt holds its message: longer than an attempt (timeout at most 25 s) and its writes,
/// shorter than the queue's visibility (180 s), after which a crashed attempt's job comes back.
const LEASE: Duration = Duration::from_secs(60);
/// A job this early is sent on rather than attempted (SQS may deliver a delayed message a little early).
const EARLY: i64 = 1_000;

pub struct DeliveryState {
    pub store: WebhookStore,
    /// `webhook.message_failed` and `webhook.endpoint_disabled`, committed with the change.
    pub events: events::Publisher,
    pub secrets: EndpointSecrets,
    pub jobs: Jobs,
    pub sender: Sender,
    pub settings: WebhookSettings,
}

impl DeliveryState {
    pub async fn build(resources: &Resources, settings: WebhookSettings) -> anyhow::Result<Self> {
        let (table, events) = events::Publisher::open(resources, crate::store::TABLE).await?;
        Ok(Self {
            store: WebhookStore::new(table),
            events,
            secrets: crate::secrets::endpoint_secrets(resources.keys().await?),
            jobs: Jobs::new(resources.queue(&jobs::queue_spec()).await?),
            sender: Sender::new(settings.allowed.clone(), settings.timeout)?,
            settings,
        })
    }
}

/// What became of one job.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    Attempted(Verdict),
    /// Not due yet: sent on.
    Hopped,
    /// Its token is no longer the message's (a later job or a resend replaced it), or the message is gone.
    Stale,
    /// Another copy holds the lease: try again after the visibility timeout.
    Busy,
}

/// A batch's jobs side by side; a job that fails (the table or the queue did) is reported alone.
pub async fn handle(state: &DeliveryState, event: SqsEvent) -> SqsBatchResponse {
    let runs = event.records.into_iter().map(|record| async move {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("webhook_delivery", %message_id);
        let result = handle_record(state, &record).instrument(span.clone()).await;
        match result {
            Ok(Handled::Busy) => Some(message_id),
            Ok(_) => None,
            Err(e) => {
                span.in_scope(|| tracing::error!(error = ?e, "webhook job failed; it will be redelivered"));
                Some(message_id)
            }
        }
    });
    let mut response = SqsBatchResponse::default();
    for failed in futures::future::join_all(runs).await.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = failed;
        response.batch_item_failures.push(failure);
    }
    response
}

async fn handle_record(state: &DeliveryState, record: &SqsMessage) -> anyhow::Result<Handled> {
    let body = record.body.as_deref().unwrap_or_default();
    let job: Job = serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not a webhook job: {e}"))?;
    process(state, &job).await
}

pub async fn process(state: &DeliveryState, job: &Job) -> anyhow::Result<Handled> {
    let Some(message) = state.store.message(&job.tenant, &job.endpoint, &job.message).await? else {
        return Ok(Handled::Stale);
    };
    if message.status != Status::Pending || message.token.as_deref() != Some(job.token.as_str()) {
        return Ok(Handled::Stale);
    }
    let now = storage::now_millis();
    if job.due_ms > now + EARLY {
        state.jobs.send(job).await?;
        return Ok(Handled::Hopped);
    }
    if message.lease_until_ms.is_some_and(|until| until > now) {
        return Ok(Handled::Busy);
    }
    let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
    let claimed = match state.store.update_message(&Message { lease_until_ms: Some(now + lease), ..message }).await {
        Ok(claimed) => claimed,
        Err(StoreFailure::Conflict) => return Ok(Handled::Busy),
        Err(e) => return Err(e.into()),
    };
    let Some(endpoint) = state.store.endpoint(&job.tenant, &job.endpoint).await? else {
        return Ok(Handled::Stale);
    };
    if !endpoint.enabled {
        let reason = endpoint.disabled_reason.clone().unwrap_or_else(|| "disabled".into());
        settle(state, job, claimed, None, |m| fail(m, format!("the endpoint is disabled ({reason})"))).await?;
        return Ok(Handled::Attempted(Verdict::Failed));
    }
    let outcome = attempt(state, &endpoint, &claimed).await?;
    let attempt = Attempt {
        number: claimed.attempt_count + 1,
        at_ms: now,
        trigger: job.trigger,
        status_code: outcome.status_code,
        error: outcome.error.clone(),
        duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        response: outcome.response.clone(),
    };
    tracing::info!(
        endpoint_id = %endpoint.id,
        webhook_message_id = %claimed.id,
        attempt = attempt.number,
        status = ?attempt.status_code,
        error = attempt.error.as_deref().unwrap_or(""),
        duration_ms = attempt.duration_ms,
        verdict = ?outcome.verdict,
        "webhook attempt"
    );
    // The next job goes out before the message records it: a crash in between repeats an attempt but never
    // leaves a pending message without a job.
    let retry = match outcome.verdict {
        Verdict::Failed => state
            .settings
            .retry_schedule
            .next_delay(claimed.retries_used, outcome.retry_after)
            .map(|delay| (new_token(), now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))),
        _ => None,
    };
    if let Some((token, due_ms)) = &retry {
        let next = Job { token: token.clone(), due_ms: *due_ms, trigger: Trigger::Retry, ..job.clone() };
        state.jobs.send(&next).await?;
    }
    let verdict = outcome.verdict.clone();
    // A 410 disables the endpoint before the message says so: whoever reads the failed message finds the
    // endpoint disabled (a crash in between leaves the job, which then fails the message on the disabled endpoint).
    if verdict == Verdict::Gone {
        record_health(state, job, &endpoint, &verdict, now).await?;
    }
    let (applied, reason) = (verdict.clone(), last_error(&outcome));
    let exhausted = matches!((&verdict, &retry), (Verdict::Failed, None) | (Verdict::Gone, _) | (Verdict::Refused, _));
    let settled = settle(state, job, claimed, Some(attempt), move |m| match (applied, retry) {
        (Verdict::Delivered, _) => {
            m.status = Status::Delivered;
            m.last_error = None;
            m.token = None;
            m.next_attempt_at_ms = None;
        }
        (Verdict::Failed, Some((token, due_ms))) => {
            m.retries_used += 1;
            m.token = Some(token);
            m.next_attempt_at_ms = Some(due_ms);
            m.last_error = Some(reason);
        }
        (Verdict::Failed, None) => fail(m, format!("retries exhausted; last: {reason}")),
        (Verdict::Gone, _) => fail(m, "the endpoint answered 410 Gone and was disabled".into()),
        (Verdict::Refused, _) => fail(m, reason),
    });
    if exhausted {
        // The message's failure and its event commit together.
        let event = message_failed(job, &endpoint);
        state.events.commit(event, settled).await?;
    } else {
        settled.await?;
    }
    if verdict != Verdict::Gone {
        record_health(state, job, &endpoint, &verdict, now).await?;
    }
    let outcome = match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Gone => "gone",
        Verdict::Refused => "refused",
        Verdict::Failed => "failed",
    };
    platform::usage::count(
        &endpoint.tenant_id,
        platform::usage::WEBHOOK_ATTEMPTS,
        1,
        &[("outcome", outcome), ("endpoint", &endpoint.id)],
    );
    Ok(Handled::Attempted(verdict))
}

/// Events of the deliveries have no request: they carry the message id as their request id.
fn origin(job: &Job) -> events::Origin {
    events::Origin { request_id: job.message.clone(), ip: None }
}

fn message_failed(job: &Job, endpoint: &Endpoint) -> events::Event {
    events::Event::new(events::Action::WebhookMessageFailed, &origin(job))
        .tenant(&endpoint.tenant_id)
        .detail("endpoint_id", endpoint.id.clone())
        .detail("message_id", job.message.clone())
}

fn last_error(outcome: &Outcome) -> String {
    match (&outcome.error, outcome.status_code) {
        (Some(error), _) => error.clone(),
        (None, Some(status)) => format!("HTTP {status}"),
        (None, None) => "no answer".into(),
    }
}

fn fail(message: &mut Message, reason: String) {
    message.status = Status::Failed;
    message.token = None;
    message.next_attempt_at_ms = None;
    message.last_error = Some(reason);
}

/// Signs with the current secret and, during a rotation's overlap, the previous one; sends.
async fn attempt(state: &DeliveryState, endpoint: &Endpoint, message: &Message) -> anyhow::Result<Outcome> {
    let mut secrets: Vec<SecretString> =
        vec![state.secrets.open(&endpoint.tenant_id, &endpoint.id, &endpoint.secret).await?];
    let overlapping = endpoint.previous_secret_expires_at_ms.is_some_and(|until| until > storage::now_millis());
    if let (Some(previous), true) = (&endpoint.previous_secret, overlapping) {
        secrets.push(state.secrets.open(&endpoint.tenant_id, &endpoint.id, previous).await?);
    }
    let signed = crate::signing::sign(&message.id, storage::now_secs(), &message.payload, &secrets)?;
    Ok(state.sender.send(&endpoint.url, &signed, &message.payload).await)
}

/// Writes the attempt and the message's next state, releasing the lease. Should someone have written the
/// message since the claim (a resend), the attempt is still logged but the resend's schedule stands.
async fn settle(
    state: &DeliveryState,
    job: &Job,
    mut message: Message,
    attempt: Option<Attempt>,
    apply: impl FnOnce(&mut Message),
) -> anyhow::Result<()> {
    let mut apply = Some(apply);
    for _ in 0..5 {
        let still_ours = message.token.as_deref() == Some(job.token.as_str()) && message.status == Status::Pending;
        let mut next = message.clone();
        if let Some(attempt) = &attempt {
            next.attempt_count += 1;
            next.log(attempt.clone());
        }
        if still_ours {
            next.lease_until_ms = None;
            if let Some(apply) = apply.take() {
                apply(&mut next);
            }
        }
        match state.store.update_message(&next).await {
            Ok(_) => return Ok(()),
            Err(StoreFailure::Conflict) => {
                let Some(fresh) = state.store.message(&job.tenant, &job.endpoint, &job.message).await? else {
                    return Ok(());
                };
                if !still_ours {
                    apply = None;
                }
                message = fresh;
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the message kept changing while its attempt was recorded")
}

/// A success ends the endpoint's run of failures; a 410 disables it; a failure starts a run (or, after
/// `WEBHOOK_DISABLE_AFTER_DAYS` of it, disables the endpoint).
async fn record_health(
    state: &DeliveryState,
    job: &Job,
    endpoint: &Endpoint,
    verdict: &Verdict,
    now: i64,
) -> anyhow::Result<()> {
    let mut current = endpoint.clone();
    for _ in 0..5 {
        let mut next = current.clone();
        match verdict {
            Verdict::Delivered => next.failing_since_ms = None,
            Verdict::Gone => {
                next.enabled = false;
                next.disabled_reason = Some("the endpoint answered 410 Gone".into());
            }
            Verdict::Failed | Verdict::Refused => {
                let since = *next.failing_since_ms.get_or_insert(now);
                if next.enabled && retry::failed_too_long(since, now, state.settings.disable_after) {
                    next.enabled = false;
                    let days = state.settings.disable_after.map_or(0, |d| d.as_secs() / 86_400);
                    next.disabled_reason = Some(format!("failing without a success for {days} days"));
                    tracing::warn!(endpoint_id = %next.id, "webhook endpoint disabled after failing for days");
                }
            }
        }
        if next == current {
            return Ok(());
        }
        next.updated_at = crate::api::now_rfc3339();
        let update = state.store.update_endpoint(&next);
        let updated = if current.enabled && !next.enabled {
            let event = events::Event::new(events::Action::WebhookEndpointDisabled, &origin(job))
                .tenant(&next.tenant_id)
                .detail("endpoint_id", next.id.clone())
                .detail("reason", next.disabled_reason.clone().unwrap_or_default());
            state.events.commit(event, update).await
        } else {
            update.await
        };
        match updated {
            Ok(_) => return Ok(()),
            Err(StoreFailure::Conflict) => match state.store.endpoint(&endpoint.tenant_id, &endpoint.id).await? {
                Some(fresh) => current = fresh,
                None => return Ok(()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("the endpoint kept changing while its health was recorded")
}

#[cfg(test)]
mod tests;
