//! `GET|POST /api/v1/workspaces/{id}/automations`, `GET|PATCH|DELETE …/automations/{automationId}`,
//! `POST …/{automationId}/enable|disable|test|run`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use events::{Action, Event, Origin};
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::SharedState;
use crate::api::{AutomationList, AutomationView, RunView, automation, invalid, managed};
use crate::engine::walk;
use crate::model::{self, Definition, MAX_CONCURRENCY, Trigger};
use crate::store::{Automation, Started};

fn now_rfc3339() -> String {
    crate::api::rfc3339(storage::now_millis())
}

fn parse_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(invalid("name", "1 to 200 characters, no control characters"));
    }
    Ok(name.to_string())
}

fn parse_description(raw: Option<&str>) -> ApiResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() <= 1_000 => Ok(Some(text.to_string())),
        Some(_) => Err(invalid("description", "at most 1000 characters")),
    }
}

fn parse_concurrency(raw: Option<u32>) -> ApiResult<u32> {
    match raw {
        None => Ok(1),
        Some(n) if (1..=MAX_CONCURRENCY).contains(&n) => Ok(n),
        Some(_) => Err(invalid("max_concurrent_runs", format!("1 to {MAX_CONCURRENCY}"))),
    }
}

fn checked(definition: &Definition) -> ApiResult<()> {
    model::validate(definition).map_err(|e| invalid(e.field, e.reason))
}

fn event(action: Action, origin: &Origin, caller: &Caller, automation: &Automation) -> Event {
    Event::new(action, origin)
        .tenant(&caller.tenant_id)
        .actor(&caller.user_id)
        .detail("workspace_id", automation.workspace_id.clone())
        .detail("automation_id", automation.id.clone())
        .detail("trigger_type", automation.definition.trigger.kind())
}

/// A new incoming webhook token: `pyhk_` + 43 characters (32 random bytes).
fn new_hook_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("pyhk_{}", hex::encode(bytes))
}

/// Puts or deletes the automation's schedule; a failure is a 502 and the caller's change stands (a retry of
/// the enable or the change puts it again).
async fn sync_schedule(state: &SharedState, automation: &Automation) -> ApiResult<()> {
    state.triggers.sync(automation).await.map_err(|e| {
        tracing::error!(error = ?e, automation = %automation.id, "the schedule could not be written");
        ApiError::new(StatusCode::BAD_GATEWAY, "schedule_unavailable", "The scheduler could not be reached; try again")
    })
}

/// The workspace's automations, oldest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/automations", tag = "automations", operation_id = "list_automations",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of automations", body = AutomationList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path(workspace): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<AutomationList>> {
    let limit = page.limit()?;
    managed(&state, &caller, &workspace).await?;
    let listing = state.store.automations(&caller.tenant_id, &workspace, limit, page.cursor()).await?;
    Ok(Json(AutomationList {
        automations: listing.items.into_iter().map(AutomationView::from).collect(),
        next_cursor: listing.next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAutomation {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    pub trigger: Trigger,
    pub conditions: Option<crate::conditions::Condition>,
    #[schema(min_items = 1, max_items = 25)]
    pub steps: Vec<model::Step>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Runs at once, 1 to 10 (default 1); more wait their turn.
    #[schema(minimum = 1, maximum = 10)]
    pub max_concurrent_runs: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAutomation {
    #[serde(flatten)]
    pub automation: AutomationView,
    /// Webhook triggers: the secret URL path to POST to (shown this once; rotate by PATCHing the trigger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// Create an automation; its actions will act with the caller's rights.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/automations", tag = "automations", operation_id = "create_automation", request_body = CreateAutomation,
    params(("id" = String, Path, description = "Workspace id")),
    responses(
        (status = 201, description = "Created (with its webhook URL, for a webhook trigger: shown once)", body = CreatedAutomation),
        (status = 400, description = "Invalid field (`invalid_field`, naming it: trigger, conditions, steps[i]…) or body"),
        (status = 403, description = "Not allowed to manage automations here, or the plan's automations are all used (`plan_limit_reached`)"),
        (status = 404, description = "No such workspace"),
        (status = 502, description = "The scheduler could not be reached (`schedule_unavailable`)"),
    ))]
pub async fn create(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path(workspace): Path<String>,
    Json(body): Json<CreateAutomation>,
) -> ApiResult<(StatusCode, Json<CreatedAutomation>)> {
    let name = parse_name(&body.name)?;
    let description = parse_description(body.description.as_deref())?;
    let max_concurrent_runs = parse_concurrency(body.max_concurrent_runs)?;
    let definition = Definition { trigger: body.trigger, conditions: body.conditions, steps: body.steps };
    checked(&definition)?;
    managed(&state, &caller, &workspace).await?;
    let plan = caller.plan.clone().unwrap_or_else(|| identity::plans::DEFAULT_PLAN.into());
    let allowed = state.starter.plans().limits(&plan).automations;
    let count = state.store.count(&caller.tenant_id, usize::try_from(allowed).unwrap_or(usize::MAX)).await?;
    if count as u64 >= allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "plan_limit_reached",
            format!("The plan allows {allowed} automations: delete some, or ask for a larger plan"),
        ));
    }
    let token = matches!(definition.trigger, Trigger::Webhook {}).then(new_hook_token);
    let now = now_rfc3339();
    let automation = Automation {
        id: format!("au_{}", uuid::Uuid::now_v7().simple()),
        tenant_id: caller.tenant_id.clone(),
        workspace_id: workspace.clone(),
        name,
        description,
        enabled: body.enabled.unwrap_or(true),
        definition,
        max_concurrent_runs,
        created_by: caller.user_id.clone(),
        hook_token_hash: token.as_deref().map(crate::store::sha256_hex),
        created_at: now.clone(),
        updated_at: now,
        version: 0,
    };
    let stored = state
        .events
        .commit(event(Action::AutomationCreated, &origin, &caller, &automation), state.store.create(&automation))
        .await?;
    sync_schedule(&state, &stored).await?;
    tracing::info!(automation = %stored.id, trigger = stored.definition.trigger.kind(), "automation created");
    let webhook_url = token.map(|t| format!("/api/v1/automations/hooks/{t}"));
    Ok((StatusCode::CREATED, Json(CreatedAutomation { automation: stored.into(), webhook_url })))
}

/// One automation.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/automations/{automationId}", tag = "automations", operation_id = "get_automation",
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 200, description = "The automation", body = AutomationView),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path((workspace, id)): Path<(String, String)>,
) -> ApiResult<Json<AutomationView>> {
    Ok(Json(automation(&state, &caller, &workspace, &id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAutomation {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `""` clears it.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    pub trigger: Option<Trigger>,
    /// `null` clears them.
    #[serde(default, deserialize_with = "present")]
    pub conditions: Option<Option<crate::conditions::Condition>>,
    pub steps: Option<Vec<model::Step>>,
    #[schema(minimum = 1, maximum = 10)]
    pub max_concurrent_runs: Option<u32>,
    /// The `version` this change is based on; absent: apply to whatever is stored.
    #[serde(default, deserialize_with = "platform::json::optional_whole_number")]
    pub version: Option<u64>,
}

/// A field that may be `null` (clear) or absent (keep).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Change an automation's name, trigger, conditions, steps or concurrency; runs under way keep the definition
/// they started with.
#[utoipa::path(patch, path = "/api/v1/workspaces/{id}/automations/{automationId}", tag = "automations", operation_id = "update_automation", request_body = UpdateAutomation,
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 200, description = "Updated (with a new webhook URL when the trigger became a webhook one)", body = CreatedAutomation),
        (status = 400, description = "Invalid field (`invalid_field`) or body"),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
        (status = 409, description = "Stale version (`version_conflict`)"),
        (status = 502, description = "The scheduler could not be reached (`schedule_unavailable`)"),
    ))]
pub async fn update(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((workspace, id)): Path<(String, String)>,
    Json(body): Json<UpdateAutomation>,
) -> ApiResult<Json<CreatedAutomation>> {
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let description = body.description.as_deref().map(|d| parse_description(Some(d))).transpose()?;
    let concurrency = body.max_concurrent_runs.map(|n| parse_concurrency(Some(n))).transpose()?;
    let before = automation(&state, &caller, &workspace, &id).await?;
    if body.version.is_some_and(|v| v != before.version) {
        return Err(crate::store::StoreFailure::Conflict.into());
    }
    let mut after = before.clone();
    let mut fields = Vec::new();
    if let Some(name) = name {
        after.name = name;
        fields.push("name");
    }
    if let Some(description) = description {
        after.description = description;
        fields.push("description");
    }
    if let Some(n) = concurrency {
        after.max_concurrent_runs = n;
        fields.push("max_concurrent_runs");
    }
    if let Some(trigger) = body.trigger {
        after.definition.trigger = trigger;
        fields.push("trigger");
    }
    if let Some(conditions) = body.conditions {
        after.definition.conditions = conditions;
        fields.push("conditions");
    }
    if let Some(steps) = body.steps {
        after.definition.steps = steps;
        fields.push("steps");
    }
    checked(&after.definition)?;
    // A webhook trigger gets a token when it becomes one, and a new one whenever the trigger is given again.
    let token = match (&after.definition.trigger, fields.contains(&"trigger")) {
        (Trigger::Webhook {}, true) => Some(new_hook_token()),
        _ => None,
    };
    if let Some(token) = &token {
        after.hook_token_hash = Some(crate::store::sha256_hex(token));
    } else if !matches!(after.definition.trigger, Trigger::Webhook {}) {
        after.hook_token_hash = None;
    }
    after.updated_at = now_rfc3339();
    let event = event(Action::AutomationUpdated, &origin, &caller, &after).detail("fields", json!(fields));
    let stored = state.events.commit(event, state.store.replace(&before, &after)).await?;
    sync_schedule(&state, &stored).await?;
    let webhook_url = token.map(|t| format!("/api/v1/automations/hooks/{t}"));
    Ok(Json(CreatedAutomation { automation: stored.into(), webhook_url }))
}

/// Delete an automation (its schedule and webhook URL go with it; its runs expire).
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/automations/{automationId}", tag = "automations", operation_id = "delete_automation",
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
        (status = 409, description = "It changed meanwhile (`version_conflict`)"),
        (status = 502, description = "The scheduler could not be reached (`schedule_unavailable`)"),
    ))]
pub async fn delete(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((workspace, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let found = automation(&state, &caller, &workspace, &id).await?;
    // The schedule first: an automation deleted with its schedule left behind would fire into nothing, but a
    // schedule deleted with the automation left would be put back by the next enable.
    state.triggers.remove(&found).await.map_err(|e| {
        tracing::error!(error = ?e, "the schedule could not be deleted");
        ApiError::new(StatusCode::BAD_GATEWAY, "schedule_unavailable", "The scheduler could not be reached; try again")
    })?;
    state.events.commit(event(Action::AutomationDeleted, &origin, &caller, &found), state.store.delete(&found)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: &SharedState,
    caller: &Caller,
    origin: &Origin,
    workspace: &str,
    id: &str,
    enabled: bool,
) -> ApiResult<Json<AutomationView>> {
    let before = automation(state, caller, workspace, id).await?;
    if before.enabled == enabled {
        sync_schedule(state, &before).await?;
        return Ok(Json(before.into()));
    }
    let after = Automation { enabled, updated_at: now_rfc3339(), ..before.clone() };
    let event = event(Action::AutomationUpdated, origin, caller, &after)
        .detail("fields", json!(["enabled"]))
        .detail("enabled", enabled);
    let stored = state.events.commit(event, state.store.replace(&before, &after)).await?;
    sync_schedule(state, &stored).await?;
    Ok(Json(stored.into()))
}

/// Enable: its trigger starts runs again (a schedule is put back).
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/automations/{automationId}/enable", tag = "automations", operation_id = "enable_automation",
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 200, description = "Enabled", body = AutomationView),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
        (status = 409, description = "It changed meanwhile (`version_conflict`)"),
        (status = 502, description = "The scheduler could not be reached (`schedule_unavailable`)"),
    ))]
pub async fn enable(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((workspace, id)): Path<(String, String)>,
) -> ApiResult<Json<AutomationView>> {
    set_enabled(&state, &caller, &origin, &workspace, &id, true).await
}

/// Disable: nothing starts it (its schedule is deleted); runs under way finish.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/automations/{automationId}/disable", tag = "automations", operation_id = "disable_automation",
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 200, description = "Disabled", body = AutomationView),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
        (status = 409, description = "It changed meanwhile (`version_conflict`)"),
        (status = 502, description = "The scheduler could not be reached (`schedule_unavailable`)"),
    ))]
pub async fn disable(
    State(state): State<SharedState>,
    caller: Caller,
    origin: Origin,
    Path((workspace, id)): Path<(String, String)>,
) -> ApiResult<Json<AutomationView>> {
    set_enabled(&state, &caller, &origin, &workspace, &id, false).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleData {
    /// What the trigger would give (`trigger` in templates and conditions).
    #[schema(value_type = Object)]
    pub trigger: Option<Value>,
}

/// What a test shows: whether the conditions hold, and each step as it would run (actions rendered, not
/// executed; their outputs unknown).
#[derive(Serialize, ToSchema)]
pub struct TestResult {
    pub conditions_hold: bool,
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Value>,
}

/// Dry run with sample data: the conditions and every step rendered, nothing executed.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/automations/{automationId}/test", tag = "automations", operation_id = "test_automation", request_body = SampleData,
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 200, description = "The dry run", body = TestResult),
        (status = 400, description = "Invalid body (the sample data at most 32 KiB)"),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
    ))]
pub async fn test(
    State(state): State<SharedState>,
    caller: Caller,
    Path((workspace, id)): Path<(String, String)>,
    Json(body): Json<SampleData>,
) -> ApiResult<Json<TestResult>> {
    let trigger = body.trigger.unwrap_or_else(|| json!({}));
    if serde_json::to_vec(&trigger).map(|b| b.len()).unwrap_or(usize::MAX) > crate::runs::MAX_TRIGGER_BYTES {
        return Err(invalid("trigger", "at most 32 KiB of sample data"));
    }
    let found = automation(&state, &caller, &workspace, &id).await?;
    let context = json!({
        "trigger": trigger,
        "steps": {},
        "run": {"id": "run_test"},
        "automation": {"id": found.id, "name": found.name, "workspace_id": found.workspace_id},
    });
    let conditions_hold = found.definition.conditions.as_ref().is_none_or(|c| c.holds(&context));
    let mut steps = Vec::new();
    dry_run(&found.definition.steps, "", &mut context.clone(), &found.created_by, &mut steps);
    Ok(Json(TestResult { conditions_hold, steps }))
}

/// Each step as it would run, in order (a repeat's body once per item, at most the bound).
fn dry_run(steps: &[model::Step], prefix: &str, context: &mut Value, creator: &str, out: &mut Vec<Value>) {
    for (i, step) in steps.iter().enumerate() {
        let path = walk::child_path(prefix, i);
        let mut line = json!({"path": path, "type": step.kind()});
        if let Some(id) = step.id() {
            line["id"] = json!(id);
        }
        match step {
            model::Step::Branch { condition, then, otherwise, .. } => {
                let taken = condition.holds(context);
                line["branch"] = json!(if taken { "then" } else { "else" });
                out.push(line);
                let (list, name) = if taken { (then, "then") } else { (otherwise, "else") };
                dry_run(list, &format!("{path}.{name}"), context, creator, out);
            }
            model::Step::Repeat { over, steps: body, .. } => match crate::template::evaluate(over, context) {
                Ok(Value::Array(items)) => {
                    line["items"] = json!(items.len());
                    out.push(line);
                    for (k, item) in items.into_iter().take(model::MAX_REPEAT_ITEMS).enumerate() {
                        context["item"] = item;
                        context["index"] = json!(k);
                        dry_run(body, &format!("{path}.each.{k}"), context, creator, out);
                    }
                }
                Ok(Value::Null) => {
                    line["items"] = json!(0);
                    out.push(line);
                }
                Ok(other) => {
                    line["error"] = json!(format!("repeat over a {}, not a list", walk::kind_of(&other)));
                    out.push(line);
                }
                Err(e) => {
                    line["error"] = json!(e);
                    out.push(line);
                }
            },
            model::Step::Wait { seconds, .. } => {
                line["seconds"] = json!(seconds);
                out.push(line);
            }
            action => {
                match crate::engine::actions::render(action, context, creator) {
                    Some(Ok(rendered)) => line["input"] = rendered.input(),
                    Some(Err(e)) => line["error"] = json!(e),
                    None => {}
                }
                out.push(line);
            }
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualRun {
    /// The run's trigger data (`trigger.data` in templates); at most 32 KiB.
    #[schema(value_type = Object)]
    pub data: Option<Value>,
}

/// Run it now (any trigger type; the automation must be enabled). Counts against the month's runs.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/automations/{automationId}/run", tag = "automations", operation_id = "run_automation", request_body = ManualRun,
    params(("id" = String, Path, description = "Workspace id"), ("automationId" = String, Path, description = "Automation id")),
    responses(
        (status = 202, description = "Started; follow it at GET …/automations/runs/{runId}", body = RunView),
        (status = 400, description = "Invalid body"),
        (status = 403, description = "Not allowed to manage automations here, or the plan's runs this month are spent (`plan_limit_reached`)"),
        (status = 404, description = "No such workspace or automation"),
        (status = 409, description = "The automation is disabled (`automation_disabled`)"),
    ))]
pub async fn run(
    State(state): State<SharedState>,
    caller: Caller,
    Path((workspace, id)): Path<(String, String)>,
    Json(body): Json<ManualRun>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let data = body.data.unwrap_or_else(|| json!({}));
    if serde_json::to_vec(&data).map(|b| b.len()).unwrap_or(usize::MAX) > crate::runs::MAX_TRIGGER_BYTES {
        return Err(invalid("data", "at most 32 KiB"));
    }
    let found = automation(&state, &caller, &workspace, &id).await?;
    if !found.enabled {
        return Err(ApiError::conflict("automation_disabled", "The automation is disabled; enable it first"));
    }
    let trigger = json!({"type": "manual", "data": data, "user_id": caller.user_id});
    let seed = format!("manual/{}", uuid::Uuid::new_v4());
    match state.starter.start(&found, trigger, &seed, storage::now_millis()).await? {
        Started::New(run) => Ok((StatusCode::ACCEPTED, Json((*run).into()))),
        Started::OverLimit { allowed } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "plan_limit_reached",
            format!("The plan allows {allowed} automation runs a month; they are spent"),
        )),
        Started::Existing => Err(ApiError::Unexpected(anyhow::anyhow!("a random run id exists"))),
    }
}
