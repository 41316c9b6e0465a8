//! The worker: the runs queue's jobs. A schedule fire starts a run; a step job walks the run ([`walk`]) and
//! does the one thing it finds — records a decision and walks on, waits (a delayed job), or executes one
//! action — then sends the next job. One action per job: each step is an SQS message, retried by SQS if the
//! worker dies.
//!
//! ## Exactly one effect per step
//! Before an action runs, its log entry is *claimed* (status `running`, a claim time, attempt + 1) by a
//! version-guarded write of the run, so two copies of one job never both execute it: the second finds the
//! claim. After the action, its outcome is written the same way; a notification's events commit in that very
//! write (the outbox), so they exist exactly when the step is recorded as done. The step key
//! (`{run}:{path}`) goes with every effect: the upsert field of a create with `idempotency_field`, the
//! `Idempotency-Key` header of an outgoing call.
//!
//! A job that finds a claim older than the lease (the worker died between claiming and recording) executes
//! the step again when that is safe — updates, deletes, outgoing calls (at least once, with the same key) and
//! creates with an idempotency field (an upsert on the step key finds the record made before the crash) —
//! and otherwise (a plain create, whose record may or may not exist) fails the step as `outcome unknown`
//! rather than risk a second record: the run fails visibly and `POST …/runs/{id}/retry` runs it again on the
//! user's word.

pub mod actions;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use events::{Action, Event, Origin};
use identity::IdentityStore;
use platform::Caller;
use platform::caller::{AuthType, KeyScope};
use serde_json::{Value, json};

use crate::jobs::{Job, Jobs};
use crate::runs::{self, Starter};
use crate::store::{AutomationStore, Run, RunStatus, StepEntry, StepStatus, StoreFailure};
use actions::{HttpOut, Outcome, Rendered};
use walk::Next;

/// The business counters of runs and steps (`platform::metrics::count`; template.yaml's dashboard and alarm).
pub const RUNS_SUCCEEDED: &str = "automation_runs_succeeded";
pub const RUNS_FAILED: &str = "automation_runs_failed";
pub const STEPS_EXECUTED: &str = "automation_steps_executed";

/// Attempts of a step that fails transiently.
pub const MAX_ATTEMPTS: u32 = 3;
/// The most step executions and records a run's log holds.
pub const MAX_LOG_ENTRIES: usize = 150;
/// The largest run record (DynamoDB holds 400 KB an item).
pub const MAX_RUN_BYTES: usize = 350_000;
/// A step's input and output in the log.
const INPUT_BYTES: usize = 4_096;
const OUTPUT_BYTES: usize = 16_384;

#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// How long a claim holds: after it, a job takes the step as abandoned. Longer than the worker function's
    /// 30 s timeout, so no live attempt outlives its claim (an action's calls time out sooner: 15 s).
    pub lease: Duration,
    /// Delays before the second and third attempts of a transiently failing step.
    pub retry_delays: Vec<Duration>,
    /// How long a queued run waits for a slot before asking again.
    pub slot_wait: Duration,
    /// `AUTOMATIONS_FAILPOINT`: `abort-after-action` aborts the process after an action's effect, before its
    /// record (the crash test).
    pub failpoint: Option<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(35),
            retry_delays: vec![Duration::from_secs(5), Duration::from_secs(30)],
            slot_wait: Duration::from_secs(5),
            failpoint: None,
        }
    }
}

impl EngineSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self { failpoint: platform::config::var("AUTOMATIONS_FAILPOINT"), ..Self::default() })
    }
}

pub struct Worker {
    pub store: AutomationStore,
    pub events: events::Publisher,
    pub jobs: Jobs,
    pub starter: Starter,
    pub identity: IdentityStore,
    pub gateway: airtable::Gateway,
    pub http: HttpOut,
    pub settings: EngineSettings,
}

pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("automations-worker", event, |message| async move {
        let body = message.body.unwrap_or_default();
        // Not a job: a failure, so SQS moves it to the dead-letter queue (and its alarm) after its receives.
        let job: Job = serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("not a job: {e}"))?;
        match job {
            Job::Fire { tenant, workspace, automation, scheduled_time } => {
                fire(worker, &tenant, &workspace, &automation, &scheduled_time).await
            }
            Job::Step { tenant, automation, run, .. } => step(worker, &tenant, &automation, &run).await,
        }
    })
    .await
}

async fn fire(worker: &Worker, tenant: &str, workspace: &str, automation: &str, scheduled: &str) -> anyhow::Result<()> {
    let Some(automation) = worker.store.automation(tenant, workspace, automation).await? else {
        tracing::info!(%automation, "a schedule fired for an automation that is gone");
        return Ok(());
    };
    if !automation.enabled || automation.definition.trigger.kind() != "schedule" {
        tracing::info!(automation = %automation.id, "a schedule fired for a disabled automation");
        return Ok(());
    }
    let data = json!({"type": "schedule", "scheduled_time": scheduled});
    let at_ms = chrono::DateTime::parse_from_rfc3339(scheduled).map_or_else(|_| now_ms(), |t| t.timestamp_millis());
    worker.starter.start(&automation, data, &format!("schedule/{scheduled}"), at_ms).await.map(drop)
}

fn now_ms() -> i64 {
    storage::now_millis()
}

fn failpoint(worker: &Worker, name: &str) {
    if worker.settings.failpoint.as_deref() == Some(name) {
        tracing::error!("AUTOMATIONS_FAILPOINT={name}: aborting");
        std::process::abort();
    }
}

/// One job of a run: walks, does one thing, sends the next job.
pub async fn step(worker: &Worker, tenant: &str, automation: &str, run_id: &str) -> anyhow::Result<()> {
    // Recording decisions walks on in the same job; bounded by the log's size.
    for _ in 0..(MAX_LOG_ENTRIES * 2) {
        let Some(mut run) = worker.store.run(tenant, automation, run_id).await? else {
            tracing::info!(run = %run_id, "no such run: dropped");
            return Ok(());
        };
        if run.status.is_final() {
            return Ok(());
        }
        let now = now_ms();
        if run.status == RunStatus::Queued {
            let slot = worker.store.take_slot(tenant, automation, &run.id, run.max_concurrent_runs, now).await?;
            if !slot {
                worker.jobs.step(tenant, automation, run_id, worker.settings.slot_wait).await?;
                return Ok(());
            }
            run.status = RunStatus::Running;
            run.started_at_ms.get_or_insert(now);
            saved(worker.store.save_run(&run).await)?;
            continue;
        }
        let next = walk::walk(&run, now);
        match next {
            Next::Done => {
                if finish(worker, run, RunStatus::Succeeded, None).await? {
                    return Ok(());
                }
            }
            Next::Fail { path, kind, error } => {
                let mut entry = failed_entry(&path, kind, &error, now);
                entry.attempts = 1;
                upsert(&mut run, entry);
                if finish(worker, run, RunStatus::Failed, Some(format!("step {path}: {error}"))).await? {
                    return Ok(());
                }
            }
            Next::Record(entry) => {
                upsert(&mut run, entry);
                run.status = RunStatus::Running;
                if let Some(refusal) = too_large(&run) {
                    if finish(worker, run, RunStatus::Failed, Some(refusal)).await? {
                        return Ok(());
                    }
                    continue;
                }
                saved(worker.store.save_run(&run).await)?;
            }
            Next::Wait { path, step_id, until_ms } => {
                if run.entry(&path).is_none() {
                    upsert(
                        &mut run,
                        StepEntry {
                            path: path.clone(),
                            step_id,
                            kind: "wait".into(),
                            status: StepStatus::Waiting,
                            attempts: 1,
                            input: Some(json!({"until_ms": until_ms})),
                            output: None,
                            error: None,
                            started_at_ms: now,
                            finished_at_ms: None,
                            due_at_ms: Some(until_ms),
                            claimed_at_ms: None,
                        },
                    );
                    run.status = RunStatus::Waiting;
                    if saved(worker.store.save_run(&run).await)?.is_none() {
                        continue;
                    }
                }
                let delay = Duration::from_millis(u64::try_from(until_ms - now).unwrap_or(0));
                worker.jobs.step(tenant, automation, run_id, delay).await?;
                return Ok(());
            }
            Next::Action { path, step, context } => {
                let step = step.clone();
                return act(worker, run, &path, &step, &context).await;
            }
        }
    }
    anyhow::bail!("run {run_id}: no progress after many records")
}

/// `Ok(None)` when someone else wrote the run first (walk again), the stored run otherwise.
fn saved(result: Result<Run, StoreFailure>) -> anyhow::Result<Option<Run>> {
    match result {
        Ok(run) => Ok(Some(run)),
        Err(StoreFailure::Conflict) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

fn upsert(run: &mut Run, entry: StepEntry) {
    match run.entry_mut(&entry.path) {
        Some(existing) => *existing = entry,
        None => run.log.push(entry),
    }
}

fn failed_entry(path: &str, kind: &str, error: &str, now: i64) -> StepEntry {
    StepEntry {
        path: path.to_string(),
        step_id: None,
        kind: kind.to_string(),
        status: StepStatus::Failed,
        attempts: 0,
        input: None,
        output: None,
        error: Some(error.to_string()),
        started_at_ms: now,
        finished_at_ms: Some(now),
        due_at_ms: None,
        claimed_at_ms: None,
    }
}

fn too_large(run: &Run) -> Option<String> {
    if run.log.len() > MAX_LOG_ENTRIES {
        return Some(format!("the run took more than {MAX_LOG_ENTRIES} steps"));
    }
    let size = serde_json::to_vec(run).map(|b| b.len()).unwrap_or(usize::MAX);
    (size > MAX_RUN_BYTES).then(|| format!("the run's record would take {size} bytes; at most {MAX_RUN_BYTES}"))
}

async fn act(
    worker: &Worker,
    mut run: Run,
    path: &str,
    step: &crate::model::Step,
    context: &Value,
) -> anyhow::Result<()> {
    let now = now_ms();
    let (tenant, automation, run_id) = (run.tenant_id.clone(), run.automation_id.clone(), run.id.clone());
    let key = format!("{run_id}:{path}");
    let rendered = match actions::render(step, context, &run.acts_as) {
        Some(Ok(rendered)) => rendered,
        Some(Err(error)) => return fail_step(worker, run, path, step, None, &error).await,
        None => anyhow::bail!("step {path} is not an action"),
    };
    let lease_ms = i64::try_from(worker.settings.lease.as_millis()).unwrap_or(i64::MAX);
    let attempts = match run.entry(path) {
        Some(e) if e.status == StepStatus::Running => {
            let claimed = e.claimed_at_ms.unwrap_or(0);
            if now < claimed.saturating_add(lease_ms) {
                // Another job holds it (or died a moment ago): look again when the lease ends.
                let wait = Duration::from_millis(u64::try_from(claimed + lease_ms - now).unwrap_or(0) + 1_000);
                worker.jobs.step(&tenant, &automation, &run_id, wait).await?;
                return Ok(());
            }
            if !rendered.repeatable() {
                let error = "outcome unknown: the worker stopped while creating the record, which may or may not \
                             exist; check the table, then retry the run (set idempotency_field to make this safe)";
                return fail_step(worker, run, path, step, Some(rendered.input()), error).await;
            }
            e.attempts
        }
        Some(e) if e.status == StepStatus::Retrying => {
            if let Some(due) = e.due_at_ms.filter(|due| *due > now) {
                let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
                worker.jobs.step(&tenant, &automation, &run_id, wait).await?;
                return Ok(());
            }
            e.attempts
        }
        Some(e) => e.attempts,
        None => 0,
    };
    // Claim.
    let mut claimed = walk::entry(path, step, StepStatus::Running, None, now);
    claimed.attempts = attempts + 1;
    claimed.claimed_at_ms = Some(now);
    claimed.input = Some(walk::bounded(rendered.input(), INPUT_BYTES));
    if let Some(previous) = run.entry(path) {
        claimed.started_at_ms = previous.started_at_ms;
    }
    upsert(&mut run, claimed);
    run.status = RunStatus::Running;
    let Some(mut run) = saved(worker.store.save_run(&run).await)? else {
        // Someone else moved the run: walk again in a moment.
        worker.jobs.step(&tenant, &automation, &run_id, Duration::from_secs(1)).await?;
        return Ok(());
    };

    // Execute.
    let started = std::time::Instant::now();
    let (outcome, notices) = execute(worker, &run, &rendered, &key).await?;
    failpoint(worker, "abort-after-action");
    let elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let done_at = now_ms();
    let Some(entry) = run.entry_mut(path) else { anyhow::bail!("the claimed entry vanished") };
    entry.claimed_at_ms = None;
    let attempts = entry.attempts;
    match outcome {
        Outcome::Done(output) => {
            // The loop guard: a change event about this record will not start this automation again.
            if let Some(record) = written_record(&rendered, &output)
                && let Err(e) = worker.store.wrote(&tenant, &record, &automation, done_at).await
            {
                tracing::warn!(error = ?e, %record, "the loop guard's marker was not written");
            }
            entry.status = StepStatus::Succeeded;
            entry.output = Some(walk::bounded(output, OUTPUT_BYTES));
            entry.error = None;
            entry.finished_at_ms = Some(done_at);
            entry.due_at_ms = None;
            tracing::info!(run = %run_id, %path, kind = step.kind(), elapsed_ms, "step done");
            platform::metrics::count("automations", STEPS_EXECUTED, 1);
            let stored = worker.events.commit_all(notices, worker.store.save_run(&run)).await;
            if saved(stored)?.is_none() {
                tracing::warn!(run = %run_id, %path, "the run changed while the step ran; walking again");
            }
            worker.jobs.step(&tenant, &automation, &run_id, Duration::ZERO).await?;
            Ok(())
        }
        Outcome::Transient { error, after } if attempts < MAX_ATTEMPTS => {
            let delay = worker
                .settings
                .retry_delays
                .get(attempts.saturating_sub(1) as usize)
                .copied()
                .unwrap_or(Duration::from_secs(60))
                .max(after.unwrap_or_default());
            entry.status = StepStatus::Retrying;
            entry.error = Some(error.clone());
            entry.due_at_ms = Some(done_at + i64::try_from(delay.as_millis()).unwrap_or(0));
            tracing::warn!(run = %run_id, %path, %error, attempts, "step failed; it will be tried again");
            if saved(worker.store.save_run(&run).await)?.is_some() {
                worker.jobs.step(&tenant, &automation, &run_id, delay).await?;
            }
            Ok(())
        }
        Outcome::Transient { error, .. } | Outcome::Permanent(error) => {
            entry.status = StepStatus::Failed;
            entry.error = Some(error.clone());
            entry.finished_at_ms = Some(done_at);
            tracing::warn!(run = %run_id, %path, %error, "step failed");
            finish(worker, run, RunStatus::Failed, Some(format!("step {path}: {error}"))).await.map(drop)
        }
    }
}

/// The record a record action wrote.
fn written_record(rendered: &Rendered, output: &Value) -> Option<String> {
    match rendered {
        Rendered::Create { .. } | Rendered::Update { .. } => output.get("id").and_then(Value::as_str).map(String::from),
        Rendered::Delete { record, .. } => Some(record.trim().to_string()),
        _ => None,
    }
}

/// Runs the action; a notification's events are returned, to commit with the step's record.
async fn execute(worker: &Worker, run: &Run, rendered: &Rendered, key: &str) -> anyhow::Result<(Outcome, Vec<Event>)> {
    Ok(match rendered {
        Rendered::Create { .. } | Rendered::Update { .. } | Rendered::Delete { .. } => {
            let Some(caller) = worker.acting_as(&run.tenant_id, &run.acts_as, &run.automation_id).await? else {
                return Ok((Outcome::Permanent(creator_gone()), Vec::new()));
            };
            (actions::record_write(&worker.gateway, &caller, rendered, key).await, Vec::new())
        }
        Rendered::Notify { to, subject, body } => {
            let mut notices = Vec::new();
            let mut skipped = Vec::new();
            for user in to {
                match worker.identity.user(&run.tenant_id, user).await? {
                    Some(u) if u.is_active() => notices.push(
                        Event::new(Action::AutomationNotification, &origin(run))
                            .tenant(&run.tenant_id)
                            .subject(user)
                            .detail("automation_id", run.automation_id.clone())
                            .detail("automation_name", run.automation_name.clone())
                            .detail("run_id", run.id.clone())
                            .detail("step_key", key)
                            .detail("subject", subject.clone())
                            .detail("body", body.clone()),
                    ),
                    _ => skipped.push(user.clone()),
                }
            }
            if notices.is_empty() {
                (Outcome::Permanent(format!("no active user among the recipients {to:?}")), notices)
            } else {
                let notified: Vec<&str> = notices.iter().filter_map(|e| e.subject_id.as_deref()).collect();
                (Outcome::Done(json!({"notified": notified, "skipped": skipped})), notices)
            }
        }
        Rendered::Webhook { url, body } => (worker.http.post(url, body, key).await, Vec::new()),
    })
}

/// A run's events carry the run as their request: its id ties them in the logs and the audit trail.
fn origin(run: &Run) -> Origin {
    Origin { request_id: format!("automation-run:{}", run.id), ip: None }
}

fn creator_gone() -> String {
    "the automation's creator no longer has an active account in the tenant; its actions act with their rights".into()
}

async fn fail_step(
    worker: &Worker,
    mut run: Run,
    path: &str,
    step: &crate::model::Step,
    input: Option<Value>,
    error: &str,
) -> anyhow::Result<()> {
    let now = now_ms();
    let attempts = run.entry(path).map_or(1, |e| e.attempts.max(1));
    let mut entry = walk::entry(path, step, StepStatus::Failed, None, now);
    entry.attempts = attempts;
    entry.error = Some(error.to_string());
    entry.input = input.map(|i| walk::bounded(i, INPUT_BYTES));
    if let Some(previous) = run.entry(path) {
        entry.started_at_ms = previous.started_at_ms;
    }
    upsert(&mut run, entry);
    let (tenant, automation, id) = (run.tenant_id.clone(), run.automation_id.clone(), run.id.clone());
    if !finish(worker, run, RunStatus::Failed, Some(format!("step {path}: {error}"))).await? {
        worker.jobs.step(&tenant, &automation, &id, Duration::from_secs(1)).await?;
    }
    Ok(())
}

/// Ends the run (its event committed with it) and gives its slot back; false if the run changed first.
async fn finish(worker: &Worker, mut run: Run, status: RunStatus, error: Option<String>) -> anyhow::Result<bool> {
    let now = now_ms();
    run.status = status;
    run.error = error.clone();
    run.finished_at_ms = Some(now);
    let action =
        if status == RunStatus::Succeeded { Action::AutomationRunSucceeded } else { Action::AutomationRunFailed };
    let mut event = Event::new(action, &origin(&run))
        .tenant(&run.tenant_id)
        .actor(&run.acts_as)
        .detail("workspace_id", run.workspace_id.clone())
        .detail("automation_id", run.automation_id.clone())
        .detail("run_id", run.id.clone())
        .detail("trigger_type", run.trigger_type.clone())
        .detail("duration_ms", now - run.started_at_ms.unwrap_or(run.created_at_ms));
    if let Some(error) = &error {
        event = event.detail("error", error.clone());
    }
    let stored = worker.events.commit(event, worker.store.save_run(&run)).await;
    if saved(stored)?.is_none() {
        return Ok(false);
    }
    worker.store.release_slot(&run.tenant_id, &run.automation_id, &run.id).await?;
    let counter = if status == RunStatus::Succeeded { RUNS_SUCCEEDED } else { RUNS_FAILED };
    platform::metrics::count("automations", counter, 1);
    tracing::info!(run = %run.id, status = ?status, error = ?error, "run finished");
    Ok(true)
}

/// What the worker's state is built from (both runtimes).
pub struct WorkerParts {
    pub gateway: airtable::Gateway,
    pub plans: identity::plans::Plans,
    pub allowed: webhooks::ssrf::AllowList,
    pub settings: EngineSettings,
}

impl Worker {
    /// The automation's creator as a caller: their current roles and tenant plan, so a demoted or removed
    /// creator's automations lose those rights at once.
    pub async fn acting_as(&self, tenant: &str, user: &str, automation: &str) -> anyhow::Result<Option<Caller>> {
        let (user, found) = tokio::try_join!(self.identity.user(tenant, user), self.identity.tenant(tenant))?;
        let Some(user) = user.filter(|u| u.is_active()) else { return Ok(None) };
        Ok(Some(Caller {
            user_id: user.id.clone(),
            tenant_id: tenant.to_string(),
            roles: user.roles.clone(),
            session_id: format!("automation:{automation}"),
            auth_type: AuthType::Jwt,
            key_scope: KeyScope::default(),
            plan: found.map(|t| t.plan),
        }))
    }

    pub async fn creator_of(&self, automation: &crate::store::Automation) -> anyhow::Result<Option<Caller>> {
        self.acting_as(&automation.tenant_id, &automation.created_by, &automation.id).await
    }

    pub async fn build(resources: &platform::group::Resources, parts: WorkerParts) -> anyhow::Result<Self> {
        let (table, events) = events::Publisher::open(resources, crate::store::TABLE).await?;
        let store = AutomationStore::new(table);
        let jobs = Jobs::new(resources.queue(&crate::jobs::queue_spec()).await?);
        let identity = IdentityStore::new(resources.table(identity::TABLE).await?);
        Ok(Self {
            starter: runs::Starter::new(store.clone(), jobs.clone(), identity.clone(), parts.plans),
            store,
            events,
            jobs,
            identity,
            gateway: parts.gateway,
            http: HttpOut::new(parts.allowed, Duration::from_secs(15))?,
            settings: parts.settings,
        })
    }
}

pub type SharedWorker = Arc<Worker>;
