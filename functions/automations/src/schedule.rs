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
        (Some(cron), None, None) => {
            Expression::cron(cron).map_err(|e| invalid("trigger.cron", e.to_string()))?
        }
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

/// The schedule an automation should have now, if any.
pub fn wanted(automation: &Automation) -> anyhow::Result<Option<Schedule>> {
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
        group: automation.tenant_id.clone(),
        name: automation.id.clone(),
        expression,
        time_zone,
        input: serde_json::to_string(&job)?,
        enabled: true,
    }))
}

/// Puts or deletes the automation's schedule to match it.
pub async fn sync(schedules: &Arc<dyn Schedules>, automation: &Automation) -> anyhow::Result<()> {
    match wanted(automation)? {
        Some(schedule) => schedules.put(&schedule).await?,
        None => schedules.delete(&automation.tenant_id, &automation.id).await?,
    }
    Ok(())
}

/// Deletes the automation's schedule (it may have none).
pub async fn remove(schedules: &Arc<dyn Schedules>, tenant: &str, automation: &str) -> anyhow::Result<()> {
    Ok(schedules.delete(tenant, automation).await?)
}
