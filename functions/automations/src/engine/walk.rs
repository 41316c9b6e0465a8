//! Where a run is: the definition walked again from the top against the run's log (a replay). A step the log
//! records as succeeded gives its output to the context and is passed; a branch's decision and a repeat's items
//! are recorded once and read back, so every walk takes the same path. The walk stops at the first thing to
//! do. It is pure (the log and the clock in, a decision out), so the engine's one rule is: walk, do that one
//! thing, record it.

use serde_json::{Map, Value, json};

use crate::model::{MAX_REPEAT_ITEMS, Step};
use crate::store::{Run, StepEntry, StepStatus};
use crate::template;

/// What the run needs next.
#[derive(Debug)]
pub enum Next<'a> {
    /// Every step is done.
    Done,
    /// Record this entry (a branch's decision, a repeat's items, a wait that is over) and walk again.
    Record(StepEntry),
    /// A wait step: until `until_ms`.
    Wait { path: String, step_id: Option<String>, until_ms: i64 },
    /// Execute this action with this context.
    Action { path: String, step: &'a Step, context: Value },
    /// The run cannot go on (a repeat over something that is not a list).
    Fail { path: String, kind: &'static str, error: String },
}

/// The context templates see before any step ran.
pub fn base_context(run: &Run) -> Value {
    json!({
        "trigger": run.trigger,
        "steps": {},
        "run": {"id": run.id, "created_at_ms": run.created_at_ms},
        "automation": {"id": run.automation_id, "name": run.automation_name, "workspace_id": run.workspace_id},
    })
}

pub fn walk(run: &Run, now_ms: i64) -> Next<'_> {
    let mut context = base_context(run);
    walk_list(&run.definition.steps, "", run, &mut context, now_ms).unwrap_or(Next::Done)
}

pub fn child_path(prefix: &str, i: usize) -> String {
    if prefix.is_empty() { i.to_string() } else { format!("{prefix}.{i}") }
}

pub fn entry(path: &str, step: &Step, status: StepStatus, output: Option<Value>, now_ms: i64) -> StepEntry {
    StepEntry {
        path: path.to_string(),
        step_id: step.id().map(String::from),
        kind: step.kind().to_string(),
        status,
        attempts: 0,
        input: None,
        output,
        error: None,
        started_at_ms: now_ms,
        finished_at_ms: status_is_final(status).then_some(now_ms),
        due_at_ms: None,
        claimed_at_ms: None,
    }
}

fn status_is_final(status: StepStatus) -> bool {
    matches!(status, StepStatus::Succeeded | StepStatus::Failed)
}

fn remember(context: &mut Value, step: &Step, output: &Value) {
    if let Some(id) = step.id()
        && let Some(steps) = context.get_mut("steps").and_then(Value::as_object_mut)
    {
        steps.insert(id.to_string(), output.clone());
    }
}

fn done<'r>(run: &'r Run, path: &str) -> Option<&'r StepEntry> {
    run.entry(path).filter(|e| e.status == StepStatus::Succeeded)
}

fn walk_list<'a>(steps: &'a [Step], prefix: &str, run: &'a Run, context: &mut Value, now_ms: i64) -> Option<Next<'a>> {
    for (i, step) in steps.iter().enumerate() {
        let path = child_path(prefix, i);
        match step {
            Step::Branch { condition, then, otherwise, .. } => {
                let Some(entry) = done(run, &path) else {
                    let taken = if condition.holds(context) { "then" } else { "else" };
                    return Some(Next::Record(self::entry(
                        &path,
                        step,
                        StepStatus::Succeeded,
                        Some(json!({"branch": taken})),
                        now_ms,
                    )));
                };
                let output = entry.output.clone().unwrap_or(Value::Null);
                let (list, name) = if output["branch"] == "then" { (then, "then") } else { (otherwise, "else") };
                if let Some(next) = walk_list(list, &format!("{path}.{name}"), run, context, now_ms) {
                    return Some(next);
                }
                remember(context, step, &output);
            }
            Step::Repeat { over, steps: body, .. } => {
                let Some(entry) = done(run, &path) else {
                    return Some(match template::evaluate(over, context) {
                        Ok(Value::Null) => Next::Record(self::entry(
                            &path,
                            step,
                            StepStatus::Succeeded,
                            Some(json!({"items": [], "count": 0})),
                            now_ms,
                        )),
                        Ok(Value::Array(items)) if items.len() <= MAX_REPEAT_ITEMS => {
                            let count = items.len();
                            Next::Record(self::entry(
                                &path,
                                step,
                                StepStatus::Succeeded,
                                Some(json!({"items": items, "count": count})),
                                now_ms,
                            ))
                        }
                        Ok(Value::Array(items)) => Next::Fail {
                            path,
                            kind: "repeat",
                            error: format!("repeat over {} items; at most {MAX_REPEAT_ITEMS}", items.len()),
                        },
                        Ok(other) => Next::Fail {
                            path,
                            kind: "repeat",
                            error: format!("repeat over a {}, not a list", kind_of(&other)),
                        },
                        Err(e) => Next::Fail { path, kind: "repeat", error: format!("over: {e}") },
                    });
                };
                let output = entry.output.clone().unwrap_or(Value::Null);
                let items = output.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                let outer = (context.get("item").cloned(), context.get("index").cloned());
                for (k, item) in items.into_iter().enumerate() {
                    set(context, "item", Some(item));
                    set(context, "index", Some(json!(k)));
                    if let Some(next) = walk_list(body, &format!("{path}.each.{k}"), run, context, now_ms) {
                        return Some(next);
                    }
                }
                set(context, "item", outer.0);
                set(context, "index", outer.1);
                remember(context, step, &json!({"count": output["count"]}));
            }
            Step::Wait { seconds, .. } => match run.entry(&path) {
                Some(e) if e.status == StepStatus::Succeeded => {}
                Some(e) if e.due_at_ms.is_some_and(|due| due <= now_ms) => {
                    let mut finished = e.clone();
                    finished.status = StepStatus::Succeeded;
                    finished.finished_at_ms = Some(now_ms);
                    return Some(Next::Record(finished));
                }
                Some(e) => {
                    let until_ms = e.due_at_ms.unwrap_or(now_ms);
                    return Some(Next::Wait { path, step_id: step.id().map(String::from), until_ms });
                }
                None => {
                    let millis = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
                    let until_ms = now_ms.saturating_add(millis);
                    return Some(Next::Wait { path, step_id: step.id().map(String::from), until_ms });
                }
            },
            action => match done(run, &path) {
                Some(entry) => remember(context, action, &entry.output.clone().unwrap_or(Value::Null)),
                None => return Some(Next::Action { path, step: action, context: context.clone() }),
            },
        }
    }
    None
}

fn set(context: &mut Value, name: &str, value: Option<Value>) {
    if let Some(map) = context.as_object_mut() {
        match value {
            Some(value) => map.insert(name.to_string(), value),
            None => map.remove(name),
        };
    }
}

pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// `value` cut to `limit` bytes of JSON: kept whole when it fits, else a note with its start.
pub fn bounded(value: Value, limit: usize) -> Value {
    let text = serde_json::to_string(&value).unwrap_or_default();
    if text.len() <= limit {
        return value;
    }
    let mut cut = limit.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut note = Map::new();
    note.insert("truncated".into(), json!(true));
    note.insert("bytes".into(), json!(text.len()));
    note.insert("start".into(), json!(&text[..cut]));
    Value::Object(note)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Definition;
    use crate::store::RunStatus;

    fn run(steps: Value, trigger: Value) -> Run {
        let definition: Definition =
            serde_json::from_value(json!({"trigger": {"type": "manual"}, "steps": steps})).unwrap();
        Run {
            id: "run_1".into(),
            tenant_id: "t".into(),
            workspace_id: "w".into(),
            automation_id: "a".into(),
            automation_name: "A".into(),
            status: RunStatus::Running,
            trigger_type: "manual".into(),
            trigger,
            definition,
            acts_as: "u".into(),
            max_concurrent_runs: 1,
            log: Vec::new(),
            error: None,
            created_at_ms: 0,
            started_at_ms: None,
            finished_at_ms: None,
            retries: 0,
            version: 0,
        }
    }

    fn succeed(run: &mut Run, path: &str, output: Value) {
        run.log.push(StepEntry {
            path: path.into(),
            step_id: None,
            kind: "x".into(),
            status: StepStatus::Succeeded,
            attempts: 1,
            input: None,
            output: Some(output),
            error: None,
            started_at_ms: 0,
            finished_at_ms: Some(0),
            due_at_ms: None,
            claimed_at_ms: None,
        });
    }

    /// Drives a run to its end, "executing" each action by recording its path as output; returns the order.
    fn drive(mut run: Run) -> Vec<String> {
        let mut order = Vec::new();
        for _ in 0..200 {
            match walk(&run, 1_000_000) {
                Next::Done => return order,
                Next::Record(entry) => {
                    run.log.retain(|e| e.path != entry.path);
                    run.log.push(entry);
                }
                Next::Action { path, context, .. } => {
                    order.push(format!("{path}:{}", context["item"]));
                    succeed(&mut run, &path, json!({"path": path}));
                }
                Next::Wait { path, .. } => succeed(&mut run, &path, Value::Null),
                Next::Fail { error, .. } => panic!("{error}"),
            }
        }
        panic!("no end");
    }

    #[test]
    fn the_walk_takes_branches_and_repeats_once_and_resumes_where_the_log_stops() {
        let steps = json!([
            {"type": "notify", "id": "first", "subject": "s", "body": ""},
            {"type": "branch", "if": {"path": "trigger.go", "op": "eq", "value": true},
             "then": [{"type": "notify", "subject": "then", "body": ""}],
             "else": [{"type": "notify", "subject": "else", "body": ""}]},
            {"type": "repeat", "over": "trigger.items", "steps": [{"type": "notify", "subject": "{{ item }}", "body": ""}]},
            {"type": "wait", "seconds": 5},
            {"type": "notify", "subject": "last", "body": ""}
        ]);
        let order = drive(run(steps.clone(), json!({"go": true, "items": ["a", "b"]})));
        assert_eq!(order, ["0:null", "1.then.0:null", "2.each.0.0:\"a\"", "2.each.1.0:\"b\"", "4:null"]);
        let order = drive(run(steps, json!({"go": false, "items": null})));
        assert_eq!(order, ["0:null", "1.else.0:null", "4:null"]);
    }

    #[test]
    fn a_recorded_decision_stands_and_outputs_reach_later_steps() {
        let steps = json!([
            {"type": "notify", "id": "first", "subject": "s", "body": ""},
            {"type": "branch", "if": {"path": "steps.first.ok", "op": "eq", "value": true},
             "then": [{"type": "notify", "subject": "then", "body": ""}]}
        ]);
        let mut r = run(steps, json!({}));
        succeed(&mut r, "0", json!({"ok": true}));
        let Next::Record(decision) = walk(&r, 0) else { panic!("a decision first") };
        assert_eq!(decision.output, Some(json!({"branch": "then"})));
        r.log.push(decision);
        // The first step's output changing later (it cannot; this proves the record is read back) keeps the path.
        r.log[0].output = Some(json!({"ok": false}));
        match walk(&r, 0) {
            Next::Action { path, context, .. } => {
                assert_eq!(path, "1.then.0");
                assert_eq!(context["steps"]["first"], json!({"ok": false}));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wait_waits_until_due_and_a_repeat_over_a_non_list_fails() {
        let mut r = run(json!([{"type": "wait", "seconds": 10}]), json!({}));
        let Next::Wait { until_ms, .. } = walk(&r, 1_000) else { panic!() };
        assert_eq!(until_ms, 11_000);
        let mut waiting = entry("0", &r.definition.steps[0], StepStatus::Waiting, None, 1_000);
        waiting.due_at_ms = Some(11_000);
        r.log.push(waiting);
        assert!(matches!(walk(&r, 5_000), Next::Wait { until_ms: 11_000, .. }));
        assert!(matches!(walk(&r, 11_000), Next::Record(_)));
        let r = run(
            json!([{"type": "repeat", "over": "trigger.x", "steps": [{"type": "wait", "seconds": 1}]}]),
            json!({"x": 3}),
        );
        assert!(matches!(walk(&r, 0), Next::Fail { .. }));
    }

    #[test]
    fn large_values_are_cut_with_a_note() {
        let big = json!("x".repeat(5000));
        let cut = bounded(big, 100);
        assert_eq!(cut["truncated"], true);
        assert_eq!(bounded(json!({"a": 1}), 100), json!({"a": 1}));
    }
}
