//! Starting a run, whatever started it (a schedule, an event, an incoming webhook, a user): the run is written
//! with a snapshot of the definition and counted against the tenant's monthly runs in one transaction, then
//! its first job is sent. A trigger seen twice (the same id seed) finds its run and, if that run never got
//! going, sends its job again.

use std::time::Duration;

use identity::IdentityStore;
use identity::plans::Plans;
use serde_json::Value;

use crate::jobs::Jobs;
use crate::store::{Automation, AutomationStore, Run, RunStatus, Started};

/// The largest trigger data kept with a run.
pub const MAX_TRIGGER_BYTES: usize = 32 * 1024;

#[derive(Clone)]
pub struct Starter {
    store: AutomationStore,
    jobs: Jobs,
    identity: IdentityStore,
    plans: Plans,
}

/// `YYYY-MM` of `ms`, UTC.
pub fn month_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m").to_string()
}

impl Starter {
    pub fn new(store: AutomationStore, jobs: Jobs, identity: IdentityStore, plans: Plans) -> Self {
        Self { store, jobs, identity, plans }
    }

    /// The runs the tenant's plan allows a month.
    pub async fn allowed_runs(&self, tenant: &str) -> anyhow::Result<u64> {
        let plan =
            self.identity.tenant(tenant).await?.map(|t| t.plan).unwrap_or_else(|| identity::plans::DEFAULT_PLAN.into());
        Ok(self.plans.limits(&plan).automation_runs())
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Starts a run of `automation` with `trigger` data; `seed` and `at_ms` (when the trigger happened) make its
    /// id: the same trigger, the same run.
    pub async fn start(
        &self,
        automation: &Automation,
        trigger: Value,
        seed: &str,
        at_ms: i64,
    ) -> anyhow::Result<Started> {
        let now = storage::now_millis();
        let size = serde_json::to_vec(&trigger).map(|b| b.len()).unwrap_or(usize::MAX);
        let trigger =
            if size > MAX_TRIGGER_BYTES { crate::engine::walk::bounded(trigger, MAX_TRIGGER_BYTES) } else { trigger };
        let run = Run {
            id: crate::store::run_id(at_ms, &format!("{}/{seed}", automation.id)),
            tenant_id: automation.tenant_id.clone(),
            workspace_id: automation.workspace_id.clone(),
            automation_id: automation.id.clone(),
            automation_name: automation.name.clone(),
            status: RunStatus::Queued,
            trigger_type: automation.definition.trigger.kind().to_string(),
            trigger,
            definition: automation.definition.clone(),
            acts_as: automation.created_by.clone(),
            max_concurrent_runs: automation.max_concurrent_runs,
            log: Vec::new(),
            error: None,
            created_at_ms: now,
            started_at_ms: None,
            finished_at_ms: None,
            retries: 0,
            version: 0,
        };
        let allowed = self.allowed_runs(&automation.tenant_id).await?;
        let started = self.store.create_run(&run, &month_of(now), allowed).await?;
        match &started {
            Started::New(run) => {
                tracing::info!(run = %run.id, automation = %automation.id, trigger = %run.trigger_type, "run started");
                self.jobs.step(&run.tenant_id, &run.automation_id, &run.id, Duration::ZERO).await?;
            }
            Started::Existing => {
                // The same trigger again: if its run never got going (a crash before its job), send the job.
                if let Some(existing) = self.store.run(&run.tenant_id, &run.automation_id, &run.id).await?
                    && existing.status == RunStatus::Queued
                    && existing.log.is_empty()
                {
                    self.jobs.step(&run.tenant_id, &run.automation_id, &run.id, Duration::ZERO).await?;
                }
            }
            Started::OverLimit { allowed } => {
                tracing::warn!(
                    automation = %automation.id,
                    tenant = %automation.tenant_id,
                    allowed,
                    "the plan's automation runs for this month are spent: no run"
                );
            }
        }
        Ok(started)
    }
}
