//! The bus consumer (`events-automations`, every event): each event is matched against the tenant's enabled
//! automations whose trigger takes its type (the trigger index: one partition query per event), and each match
//! whose conditions hold starts a run whose id derives from the event, so a redelivered event starts nothing
//! twice. A `record_matches` trigger reads the record through the gateway as the automation's creator and
//! fires only when the record matches now and did not before the change (its previous values from the event).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use axum::http::Method;
use events::{Action, Event};
use serde_json::{Map, Value, json};

use crate::conditions::Condition;
use crate::engine::Worker;
use crate::model::Trigger;
use crate::store::Automation;

pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    events::consume::each("automations-events", event, |message| async move {
        let body = message.body.unwrap_or_default();
        // Not an event: a failure, so SQS moves it to the dead-letter queue (and its alarm) after its receives.
        let event: Event = serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("not an event: {e}"))?;
        on_event(worker, &event).await
    })
    .await
}

/// The trigger data of a change-capture event: `{type, base_id, table_id, record_id, fields, changed_fields,
/// previous, event_id, time}`.
fn record_data(event: &Event) -> Value {
    let mut data = Map::new();
    data.insert("type".into(), json!(event.action.as_str()));
    for name in ["base_id", "table_id", "record_id", "fields", "changed_fields", "previous", "created_time", "source"] {
        if let Some(value) = event.details.get(name) {
            data.insert(name.into(), value.clone());
        }
    }
    data.insert("event_id".into(), json!(event.event_id));
    data.insert("time".into(), json!(event.occurred_at()));
    Value::Object(data)
}

pub async fn on_event(worker: &Worker, event: &Event) -> anyhow::Result<()> {
    let Some(tenant) = event.tenant_id.as_deref() else { return Ok(()) };
    let candidates = worker.store.triggered_by(tenant, event.action.as_str()).await?;
    for indexed in candidates {
        let Some(automation) = worker.store.automation(tenant, &indexed.workspace, &indexed.automation).await? else {
            continue;
        };
        if !automation.enabled {
            continue;
        }
        // The loop guard: a change this automation made itself does not start it again.
        if let Some(record) = event.details.get("record_id").and_then(Value::as_str)
            && event.action.category() == events::Category::Airtable
            && worker.store.written_by(tenant, record).await?.as_deref() == Some(automation.id.as_str())
        {
            tracing::info!(automation = %automation.id, %record, "its own change: no run");
            continue;
        }
        let Some(data) = trigger_data(worker, &automation, event).await? else { continue };
        if let Some(conditions) = &automation.definition.conditions
            && !conditions.holds(&json!({"trigger": data}))
        {
            tracing::debug!(automation = %automation.id, "conditions do not hold: no run");
            continue;
        }
        worker.starter.start(&automation, data, &format!("event/{}", event.event_id), event.occurred_at_ms).await?;
    }
    Ok(())
}

/// The data a run of `automation` gets from `event`, or `None` when the trigger does not take it.
async fn trigger_data(worker: &Worker, automation: &Automation, event: &Event) -> anyhow::Result<Option<Value>> {
    let text = |name: &str| event.details.get(name).and_then(Value::as_str).unwrap_or_default();
    let same_table = |base: &str, table: &str| {
        text("base_id") == base && text("table_id") == table && text("workspace_id") == automation.workspace_id
    };
    Ok(match &automation.definition.trigger {
        Trigger::RecordCreated { base_id, table_id } => {
            (event.action == Action::AirtableRecordCreated && same_table(base_id, table_id)).then(|| record_data(event))
        }
        Trigger::RecordUpdated { base_id, table_id, fields } => {
            if event.action != Action::AirtableRecordUpdated || !same_table(base_id, table_id) {
                return Ok(None);
            }
            let changed: Vec<&str> = event
                .details
                .get("changed_fields")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let watched = fields.as_ref().is_none_or(|fields| fields.iter().any(|f| changed.contains(&f.as_str())));
            watched.then(|| record_data(event))
        }
        Trigger::RecordMatches { base_id, table_id, conditions } => {
            let kinds = [Action::AirtableRecordCreated, Action::AirtableRecordUpdated];
            if !kinds.contains(&event.action) || !same_table(base_id, table_id) {
                return Ok(None);
            }
            matches_now(worker, automation, event, conditions).await?
        }
        Trigger::Event { .. } => Some(serde_json::to_value(event)?),
        Trigger::Schedule { .. } | Trigger::Webhook {} | Trigger::Manual {} => None,
    })
}

/// `record_matches`: the record now (read through the gateway) matches, and it did not before the change.
async fn matches_now(
    worker: &Worker,
    automation: &Automation,
    event: &Event,
    conditions: &Condition,
) -> anyhow::Result<Option<Value>> {
    let mut data = record_data(event);
    let record = data["record_id"].as_str().unwrap_or_default().to_string();
    let (Some(base), Some(table), Some(record)) = (
        airtable::ids::BaseId::parse(data["base_id"].as_str().unwrap_or_default()),
        airtable::ids::TableRef::parse(data["table_id"].as_str().unwrap_or_default()),
        airtable::ids::RecordId::parse(&record),
    ) else {
        return Ok(None);
    };
    let Some(caller) = worker.creator_of(automation).await? else {
        tracing::warn!(automation = %automation.id, "the creator is gone: the trigger cannot read the record");
        return Ok(None);
    };
    let mut write = airtable::requests::write(Method::GET, &base, &table, Some(&record), Vec::new(), None);
    write.request.query = vec![("returnFieldsByFieldId".into(), "true".into())];
    write.request.read = true;
    let current = match worker.gateway.send(&caller, write.request).await {
        Ok(body) => serde_json::from_slice::<Value>(&body)?.get("fields").cloned().unwrap_or_else(|| json!({})),
        Err(e) => {
            tracing::warn!(automation = %automation.id, error = %e, "the record could not be read: no run");
            return Ok(None);
        }
    };
    let mut before = current.clone();
    if event.action == Action::AirtableRecordUpdated {
        if let (Some(before), Some(previous)) =
            (before.as_object_mut(), event.details.get("previous").and_then(Value::as_object))
        {
            for (field, value) in previous {
                before.insert(field.clone(), value.clone());
            }
        }
        // A changed field without a previous value was empty before.
        for field in event.details.get("changed_fields").and_then(Value::as_array).into_iter().flatten() {
            if let (Some(field), Some(before)) = (field.as_str(), before.as_object_mut())
                && event.details.get("previous").and_then(|p| p.get(field)).is_none()
            {
                before.remove(field);
            }
        }
    }
    let now = conditions.holds(&json!({"trigger": {"fields": current}}));
    let then =
        event.action == Action::AirtableRecordUpdated && conditions.holds(&json!({"trigger": {"fields": before}}));
    if now && !then {
        data["fields"] = current;
        Ok(Some(data))
    } else {
        Ok(None)
    }
}
