//! Schedule triggers through the schedules port: one schedule per enabled automation with a schedule trigger,
//! in its tenant's group, named by the automation, firing a [`Job::Fire`] into the runs queue with its
//! scheduled time (EventBridge Scheduler substitutes it; the embedded adapter likewise), so a fire delivered
//! twice starts one run. Created or replaced when the automation is created, changed or enabled; deleted when
//! it is disabled, deleted or its trigger stops being a schedule.

use std::sync::Arc;

use storage::schedules::{Expression, SCHEDULED_TIME, Schedule, Schedules};

use crate::jobs::Job;
use crate::model::{Invalid, Trigger, invalid};
use crate::store::Automation;

/// The trigger's expression and time zone, validated.
pub fn expression_of(trigger: &Trigger) -> Result<(Expression, String), Invalid> {
    let Trigger::Schedule { cron, rate, at, timezone } = trigger else {
        return Err(invalid("trigger", "not a schedule"));
    };
    let zone = timezone.clone().unwrap_or_else(|| "UTC".into());
    storage::schedules::parse_time_zone(&zone).map_err(|e| invalid("trigger.timezone", e.to_string()))?;
    let expression = match (cron, rate, at) {
        (Some(cron), None, None) => Expression::cron(cron).map_err(|e| invalid("trigger.cron", e.to_string()))?,
        (None, Some(rate), None) => {
            Expression::parse(&format!("rate({})", rate.trim())).map_err(|e| invalid("trigger.rate", e.to_string()))?
        }
        (None, None, Some(at)) => {
            Expression::parse(&format!("at({})", at.trim())).map_err(|e| invalid("trigger.at", e.to_string()))?
        }
        _ => return Err(invalid("trigger", "a schedule takes exactly one of cron, rate and at")),
    };
    if let Expression::Rate { every, unit } = &expression
        && i64::from(*every) * unit.seconds() < 60
    {
        return Err(invalid("trigger.rate", "at least 1 minute"));
    }
    // An `at` whose local time does not exist in the zone is refused here rather than by the adapter.
    let probe = Schedule {
        group: "g".into(),
        name: "n".into(),
        expression: expression.clone(),
        time_zone: zone.clone(),
        input: "{}".into(),
        enabled: true,
    };
    probe.validate().map_err(|e| invalid("trigger", e.to_string()))?;
    Ok((expression, zone))
}

/// The tenant's schedule group: the deployment's namespace (`TABLE_PREFIX`, the stack name and a dash), cut to 32
/// characters, then the tenant id's 32 letters and digits. Under its stack's name, so the API's IAM grant is
/// scoped to `schedule-group/{stack}-*` (stacks named up to 31 characters) and no stack touches another's.
pub fn group_of(namespace: &str, tenant: &str) -> String {
    let tenant: String = tenant.chars().filter(char::is_ascii_alphanumeric).take(32).collect();
    let valid = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let prefix: String = namespace.chars().filter(valid).take(64 - tenant.len()).collect();
    format!("{prefix}{tenant}")
}

/// The schedule an automation should have now, if any, in group `group`.
pub fn wanted(automation: &Automation, group: &str) -> anyhow::Result<Option<Schedule>> {
    if !automation.enabled || !matches!(automation.definition.trigger, Trigger::Schedule { .. }) {
        return Ok(None);
    }
    let (expression, time_zone) = expression_of(&automation.definition.trigger).map_err(anyhow::Error::new)?;
    let job = Job::Fire {
        tenant: automation.tenant_id.clone(),
        workspace: automation.workspace_id.clone(),
        automation: automation.id.clone(),
        scheduled_time: SCHEDULED_TIME.into(),
    };
    Ok(Some(Schedule {
        group: group.to_string(),
        name: automation.id.clone(),
        expression,
        time_zone,
        input: serde_json::to_string(&job)?,
        enabled: true,
    }))
}

/// The schedules of one deployment.
#[derive(Clone)]
pub struct Triggers {
    pub schedules: Arc<dyn Schedules>,
    /// The deployment's namespace (see [`group_of`]).
    pub namespace: String,
}

impl Triggers {
    /// Puts or deletes the automation's schedule to match it.
    pub async fn sync(&self, automation: &Automation) -> anyhow::Result<()> {
        let group = group_of(&self.namespace, &automation.tenant_id);
        match wanted(automation, &group)? {
            Some(schedule) => self.schedules.put(&schedule).await?,
            None => self.schedules.delete(&group, &automation.id).await?,
        }
        Ok(())
    }

    /// Deletes the automation's schedule (it may have none).
    pub async fn remove(&self, automation: &Automation) -> anyhow::Result<()> {
        Ok(self.schedules.delete(&group_of(&self.namespace, &automation.tenant_id), &automation.id).await?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_group_is_under_the_stack_and_always_a_valid_name() {
        let tenant = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f81";
        assert_eq!(group_of("pyairtable-dev-", tenant), "pyairtable-dev-0193a5b27c1e7d3a9f003b1c2d4e5f81");
        let long = group_of(&"s".repeat(100), tenant);
        assert_eq!(long.len(), 64);
        assert!(long.ends_with("0193a5b27c1e7d3a9f003b1c2d4e5f81"));
        assert!(storage::schedules::valid_name(&group_of("odd name!/", tenant)));
    }
}
