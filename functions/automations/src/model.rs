//! What an automation is, as its API takes it: a trigger, conditions on the trigger's data, and steps. Every
//! bound a request could stretch is checked here, before anything is stored: sizes, counts, nesting depth,
//! ids, templates (compiled once), schedule expressions and time zones.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::conditions::Condition;
use crate::template;

/// The largest definition (trigger, conditions and steps as JSON).
pub const MAX_DEFINITION_BYTES: usize = 32 * 1024;
/// Steps in a definition, counting those inside branches and repeats.
pub const MAX_STEPS: usize = 25;
/// Branches and repeats inside each other.
pub const MAX_DEPTH: usize = 3;
/// Items a repeat goes over.
pub const MAX_REPEAT_ITEMS: usize = 50;
/// The longest wait (SQS delays a job 15 minutes at most; a longer wait is several hops).
pub const MAX_WAIT_SECS: u64 = 7 * 24 * 3600;
/// Runs of one automation at once.
pub const MAX_CONCURRENCY: u32 = 10;
/// Fields a record action writes.
pub const MAX_FIELDS: usize = 100;

/// Why a definition is refused: `field` names the part (`trigger.cron`, `steps[2].then[0].fields`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), reason: reason.into() }
}

/// What starts a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// On a clock: exactly one of `cron` (five fields: minute hour day-of-month month day-of-week), `rate`
    /// (`5 minutes`, `1 hour`, `2 days`) or `at` (one time, local: `2027-01-31T09:30:00`), in `timezone` (IANA,
    /// default UTC).
    Schedule {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cron: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
    /// A record created in a table of a base linked to the workspace (by anyone: through the gateway or in
    /// Airtable; seen through change capture).
    RecordCreated { base_id: String, table_id: String },
    /// A record changed; with `fields` (field ids), only when one of them changed.
    RecordUpdated {
        base_id: String,
        table_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<Vec<String>>,
    },
    /// A record created or changed so that it matches `conditions` (on `trigger.fields.<field id>`) when it
    /// did not before.
    RecordMatches { base_id: String, table_id: String, conditions: Condition },
    /// Any platform event of this type in the tenant (`GET /api/v1/events/types`).
    Event { event_type: String },
    /// A POST to the automation's secret URL (answered once, at creation and rotation).
    Webhook {},
    /// Only `POST …/run`.
    Manual {},
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Schedule { .. } => "schedule",
            Self::RecordCreated { .. } => "record_created",
            Self::RecordUpdated { .. } => "record_updated",
            Self::RecordMatches { .. } => "record_matches",
            Self::Event { .. } => "event",
            Self::Webhook {} => "webhook",
            Self::Manual {} => "manual",
        }
    }

    /// The event types that may start it (the trigger index's keys).
    pub fn event_types(&self) -> Vec<&str> {
        match self {
            Self::RecordCreated { .. } => vec![events::Action::AirtableRecordCreated.as_str()],
            Self::RecordUpdated { .. } => vec![events::Action::AirtableRecordUpdated.as_str()],
            Self::RecordMatches { .. } => {
                vec![events::Action::AirtableRecordCreated.as_str(), events::Action::AirtableRecordUpdated.as_str()]
            }
            Self::Event { event_type } => vec![event_type.as_str()],
            _ => Vec::new(),
        }
    }
}

/// One step. `id` (optional, unique, `[a-z][a-z0-9_]{0,39}`) names its output for later steps
/// (`{{ steps.<id>.… }}`). String values are templates over `trigger`, `steps`, `item`, `index`, `run` and
/// `automation`; a string that is exactly one `{{ expression }}` keeps the expression's JSON type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Creates a record through the gateway, as the automation's creator. With `idempotency_field` (a text
    /// field of the table), the run's step key is written there and the create is an upsert on it, so a step
    /// repeated after a crash at any point never makes a second record.
    CreateRecord {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        base_id: String,
        /// Table id or name.
        table: String,
        #[schema(value_type = Object)]
        fields: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        typecast: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_field: Option<String>,
    },
    /// Changes a record's fields (merging).
    UpdateRecord {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        base_id: String,
        table: String,
        record_id: String,
        #[schema(value_type = Object)]
        fields: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        typecast: Option<bool>,
    },
    DeleteRecord {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        base_id: String,
        table: String,
        record_id: String,
    },
    /// An in-app notification (and email, per each recipient's preferences) to `to`: user ids of the tenant,
    /// or `creator` (the default).
    Notify {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Vec<String>>,
        subject: String,
        body: String,
    },
    /// POSTs `body` (JSON) to `url` (SSRF-guarded, 15 s, redirects not followed); `Idempotency-Key` is the step
    /// key, the same on every attempt.
    Webhook {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Object)]
        body: Option<Value>,
    },
    /// Pauses the run.
    Wait {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        seconds: u64,
    },
    /// `then` when `if` holds, else `else`.
    Branch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(rename = "if")]
        condition: Condition,
        #[schema(no_recursion)]
        then: Vec<Step>,
        #[serde(default, rename = "else", skip_serializing_if = "Vec::is_empty")]
        #[schema(no_recursion)]
        otherwise: Vec<Step>,
    },
    /// `steps` once per element of `over` (an expression giving a list: `trigger.records`), with `item` and
    /// `index`; at most 50 elements.
    Repeat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        over: String,
        #[schema(no_recursion)]
        steps: Vec<Step>,
    },
}

impl Step {
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::CreateRecord { id, .. }
            | Self::UpdateRecord { id, .. }
            | Self::DeleteRecord { id, .. }
            | Self::Notify { id, .. }
            | Self::Webhook { id, .. }
            | Self::Wait { id, .. }
            | Self::Branch { id, .. }
            | Self::Repeat { id, .. } => id.as_deref(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateRecord { .. } => "create_record",
            Self::UpdateRecord { .. } => "update_record",
            Self::DeleteRecord { .. } => "delete_record",
            Self::Notify { .. } => "notify",
            Self::Webhook { .. } => "webhook",
            Self::Wait { .. } => "wait",
            Self::Branch { .. } => "branch",
            Self::Repeat { .. } => "repeat",
        }
    }
}

/// A definition: what create takes and every automation holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub trigger: Trigger,
    /// On the trigger's data (`trigger.…`): a run starts only when they hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Condition>,
    pub steps: Vec<Step>,
}

/// Checks every bound and compiles every template of `definition` (`prefix` names its place in the body).
pub fn validate(definition: &Definition) -> Result<(), Invalid> {
    let size = serde_json::to_vec(definition).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_DEFINITION_BYTES {
        return Err(invalid("steps", format!("the definition takes {size} bytes; at most {MAX_DEFINITION_BYTES}")));
    }
    validate_trigger(&definition.trigger)?;
    if let Some(conditions) = &definition.conditions {
        conditions.validate("conditions")?;
    }
    if definition.steps.is_empty() {
        return Err(invalid("steps", "at least one step"));
    }
    let mut ids = BTreeSet::new();
    let mut count = 0;
    validate_steps(&definition.steps, "steps", 0, &mut ids, &mut count)
}

fn validate_trigger(trigger: &Trigger) -> Result<(), Invalid> {
    match trigger {
        Trigger::Schedule { .. } => crate::schedule::expression_of(trigger).map(drop),
        Trigger::RecordCreated { base_id, table_id } | Trigger::RecordUpdated { base_id, table_id, .. } => {
            base_and_table(base_id, table_id)?;
            if let Trigger::RecordUpdated { fields: Some(fields), .. } = trigger {
                if fields.is_empty() || fields.len() > MAX_FIELDS {
                    return Err(invalid("trigger.fields", format!("1 to {MAX_FIELDS} field ids")));
                }
                if let Some(bad) = fields.iter().find(|f| !is_airtable_id(f, "fld")) {
                    return Err(invalid("trigger.fields", format!("{:?} is not a field id (fld…)", shown(bad))));
                }
            }
            Ok(())
        }
        Trigger::RecordMatches { base_id, table_id, conditions } => {
            base_and_table(base_id, table_id)?;
            conditions.validate("trigger.conditions")
        }
        Trigger::Event { event_type } => match event_type.parse::<events::Action>() {
            // Automations' own events would let automations start each other in a loop.
            Ok(action) if action.category() == events::Category::Automation => Err(invalid(
                "trigger.event_type",
                "automation.* events cannot start an automation (automations would start each other endlessly)",
            )),
            Ok(_) => Ok(()),
            Err(_) => Err(invalid(
                "trigger.event_type",
                format!("unknown event type {:?} (see GET /api/v1/events/types)", shown(event_type)),
            )),
        },
        Trigger::Webhook {} | Trigger::Manual {} => Ok(()),
    }
}

fn base_and_table(base: &str, table: &str) -> Result<(), Invalid> {
    if !is_airtable_id(base, "app") {
        return Err(invalid("trigger.base_id", "a base id (app…)"));
    }
    if !is_airtable_id(table, "tbl") {
        return Err(invalid("trigger.table_id", "a table id (tbl…): change events name tables by id"));
    }
    Ok(())
}

/// `prefix` + 14 letters or digits, as Airtable's ids are.
pub fn is_airtable_id(id: &str, prefix: &str) -> bool {
    id.len() == 17 && id.starts_with(prefix) && id[3..].bytes().all(|b| b.is_ascii_alphanumeric())
}

fn shown(s: &str) -> String {
    s.chars().take(80).collect()
}

fn valid_step_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    (1..=40).contains(&id.len())
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn validate_steps(
    steps: &[Step],
    at: &str,
    depth: usize,
    ids: &mut BTreeSet<String>,
    count: &mut usize,
) -> Result<(), Invalid> {
    if depth > MAX_DEPTH {
        return Err(invalid(at, format!("branches and repeats nest at most {MAX_DEPTH} deep")));
    }
    for (i, step) in steps.iter().enumerate() {
        let here = format!("{at}[{i}]");
        *count += 1;
        if *count > MAX_STEPS {
            return Err(invalid(here, format!("at most {MAX_STEPS} steps in all")));
        }
        if let Some(id) = step.id() {
            if !valid_step_id(id) {
                return Err(invalid(format!("{here}.id"), "1 to 40 of a-z, 0-9 and _, starting with a letter"));
            }
            if !ids.insert(id.to_string()) {
                return Err(invalid(format!("{here}.id"), format!("{id:?} names two steps")));
            }
        }
        validate_step(step, &here)?;
        match step {
            Step::Branch { then, otherwise, .. } => {
                if then.is_empty() && otherwise.is_empty() {
                    return Err(invalid(here, "a branch needs steps in then or else"));
                }
                validate_steps(then, &format!("{here}.then"), depth + 1, ids, count)?;
                validate_steps(otherwise, &format!("{here}.else"), depth + 1, ids, count)?;
            }
            Step::Repeat { steps, .. } => {
                if steps.is_empty() {
                    return Err(invalid(format!("{here}.steps"), "at least one step"));
                }
                validate_steps(steps, &format!("{here}.steps"), depth + 1, ids, count)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn validate_step(step: &Step, here: &str) -> Result<(), Invalid> {
    let field = |name: &str| format!("{here}.{name}");
    match step {
        Step::CreateRecord { base_id, table, fields, idempotency_field, .. } => {
            record_target(base_id, table, here)?;
            record_fields(fields, &field("fields"))?;
            if let Some(name) = idempotency_field
                && (name.trim().is_empty() || name.chars().count() > 255)
            {
                return Err(invalid(field("idempotency_field"), "a field name or id, 1 to 255 characters"));
            }
            Ok(())
        }
        Step::UpdateRecord { base_id, table, record_id, fields, .. } => {
            record_target(base_id, table, here)?;
            template::check(record_id, &field("record_id"))?;
            record_fields(fields, &field("fields"))
        }
        Step::DeleteRecord { base_id, table, record_id, .. } => {
            record_target(base_id, table, here)?;
            template::check(record_id, &field("record_id"))
        }
        Step::Notify { to, subject, body, .. } => {
            if let Some(to) = to {
                if to.is_empty() || to.len() > 20 {
                    return Err(invalid(field("to"), "1 to 20 recipients"));
                }
                if let Some(bad) = to.iter().find(|r| *r != "creator" && !access::is_valid_id(r)) {
                    return Err(invalid(field("to"), format!("{:?} is neither a user id nor \"creator\"", shown(bad))));
                }
            }
            if subject.trim().is_empty() || subject.chars().count() > 200 {
                return Err(invalid(field("subject"), "1 to 200 characters"));
            }
            if body.chars().count() > 5_000 {
                return Err(invalid(field("body"), "at most 5000 characters"));
            }
            template::check(subject, &field("subject"))?;
            template::check(body, &field("body"))
        }
        Step::Webhook { url, body, .. } => {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
                return Err(invalid(field("url"), "an http(s) URL of at most 2048 characters"));
            }
            template::check(url, &field("url"))?;
            if let Some(body) = body {
                template::check_value(body, &field("body"))?;
            }
            Ok(())
        }
        Step::Wait { seconds, .. } => {
            if *seconds == 0 || *seconds > MAX_WAIT_SECS {
                return Err(invalid(field("seconds"), format!("1 to {MAX_WAIT_SECS}")));
            }
            Ok(())
        }
        Step::Branch { condition, .. } => condition.validate(&field("if")),
        Step::Repeat { over, .. } => template::check_expression(over, &field("over")),
    }
}

fn record_target(base: &str, table: &str, here: &str) -> Result<(), Invalid> {
    if !is_airtable_id(base, "app") {
        return Err(invalid(format!("{here}.base_id"), "a base id (app…)"));
    }
    if table.trim().is_empty() || table.chars().count() > 255 || table.chars().any(char::is_control) {
        return Err(invalid(format!("{here}.table"), "a table id or name, 1 to 255 characters"));
    }
    Ok(())
}

fn record_fields(fields: &Value, at: &str) -> Result<(), Invalid> {
    let Some(map) = fields.as_object() else {
        return Err(invalid(at, "an object of field name (or id) to value"));
    };
    if map.is_empty() || map.len() > MAX_FIELDS {
        return Err(invalid(at, format!("1 to {MAX_FIELDS} fields")));
    }
    template::check_value(fields, at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn definition(value: Value) -> Result<Definition, String> {
        let definition: Definition = serde_json::from_value(value).map_err(|e| e.to_string())?;
        validate(&definition).map_err(|e| e.to_string())?;
        Ok(definition)
    }

    #[test]
    fn a_full_definition_is_taken() {
        let ok = definition(json!({
            "trigger": {"type": "record_created", "base_id": "appAAAAAAAAAAAAAA", "table_id": "tblAAAAAAAAAAAAAA"},
            "conditions": {"path": "trigger.fields.fldStatus", "op": "eq", "value": "New"},
            "steps": [
                {"type": "create_record", "id": "copy", "base_id": "appAAAAAAAAAAAAAA", "table": "Log",
                 "fields": {"Name": "{{ trigger.fields.fldName }}"}},
                {"type": "branch", "if": {"path": "steps.copy.id", "op": "is_not_empty"},
                 "then": [{"type": "notify", "subject": "Copied {{ steps.copy.id }}", "body": ""}]},
                {"type": "repeat", "over": "trigger.items", "steps": [{"type": "wait", "seconds": 1}]}
            ]
        }));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn bounds_and_shapes_are_refused_with_the_part_named() {
        let base = json!({"type": "manual"});
        let cases = [
            (json!({"trigger": base, "steps": []}), "steps: at least one step"),
            (
                json!({"trigger": {"type": "event", "event_type": "no.such"}, "steps": [{"type": "wait", "seconds": 1}]}),
                "trigger.event_type",
            ),
            (
                json!({"trigger": {"type": "event", "event_type": "automation.run_failed"}, "steps": [{"type": "wait", "seconds": 1}]}),
                "endlessly",
            ),
            (json!({"trigger": base, "steps": [{"type": "wait", "seconds": 0}]}), "steps[0].seconds"),
            (
                json!({"trigger": base, "steps": [{"type": "notify", "subject": "{{ unclosed", "body": ""}]}),
                "steps[0].subject",
            ),
            (
                json!({"trigger": base, "steps": [{"type": "wait", "id": "a", "seconds": 1}, {"type": "wait", "id": "a", "seconds": 1}]}),
                "names two steps",
            ),
            (
                json!({"trigger": {"type": "schedule", "cron": "61 * * * *"}, "steps": [{"type": "wait", "seconds": 1}]}),
                "trigger.cron",
            ),
            (
                json!({"trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Base"}, "steps": [{"type": "wait", "seconds": 1}]}),
                "trigger.timezone",
            ),
            (
                json!({"trigger": {"type": "schedule", "cron": "0 9 * * *", "rate": "1 hour"}, "steps": [{"type": "wait", "seconds": 1}]}),
                "exactly one",
            ),
            (
                json!({"trigger": {"type": "record_created", "base_id": "app1", "table_id": "tblAAAAAAAAAAAAAA"}, "steps": [{"type": "wait", "seconds": 1}]}),
                "trigger.base_id",
            ),
        ];
        for (body, expected) in cases {
            let err = definition(body.clone()).expect_err(&body.to_string());
            assert!(err.contains(expected), "{body}: {err}");
        }
        // Nesting beyond the bound.
        let mut steps = json!([{"type": "wait", "seconds": 1}]);
        for _ in 0..=MAX_DEPTH {
            steps = json!([{"type": "branch", "if": {"path": "trigger.x", "op": "is_empty"}, "then": steps}]);
        }
        let err = definition(json!({"trigger": base, "steps": steps})).expect_err("too deep");
        assert!(err.contains("nest at most"), "{err}");
        // Too many steps.
        let many: Vec<Value> = (0..=MAX_STEPS).map(|_| json!({"type": "wait", "seconds": 1})).collect();
        let err = definition(json!({"trigger": base, "steps": many})).expect_err("too many");
        assert!(err.contains("at most 25 steps"), "{err}");
        // Unknown fields are refused, not ignored.
        assert!(definition(json!({"trigger": base, "steps": [{"type": "wait", "seconds": 1, "extra": 1}]})).is_err());
    }
}
