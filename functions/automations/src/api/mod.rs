//! The automations API: `/api/v1/workspaces/{id}/automations…` (definitions, enable/disable, test, run, runs,
//! retry) and the public incoming webhook route. Every route asks one guard ([`managed`]): the workspace in the
//! caller's tenant and seen by the caller (else 404, like one that does not exist), `automations:manage` on it
//! (else 403). An automation or run of another workspace or tenant is a 404.

pub mod automations;
pub mod hooks;
pub mod runs;

use access::{Permission, Scope};
use platform::{ApiError, ApiResult, Caller};
use serde::Serialize;
use serde_json::Value;
use tenancy::resolve::CallerAccess;
use utoipa::ToSchema;

use crate::ApiState;
use crate::model::Definition;
use crate::store::{Automation, Run, RunStatus, StepEntry};

pub fn not_found(what: &str) -> ApiError {
    ApiError::not_found(format!("No such {what}"))
}

pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
    let field = field.into();
    ApiError::bad_request("invalid_field", format!("{field}: {}", reason.into()))
}

/// 404 unless the caller sees workspace `id` of their tenant; 403 unless they may manage its automations.
pub async fn managed(state: &ApiState, caller: &Caller, workspace: &str) -> ApiResult<()> {
    let access = CallerAccess::load(&state.tenancy, caller).await?;
    if !access::is_valid_id(workspace) || !access.sees_workspace(workspace) {
        return Err(not_found("workspace"));
    }
    if state.tenancy.workspace(&caller.tenant_id, workspace).await?.is_none() {
        return Err(not_found("workspace"));
    }
    if !access.allows(Permission::AutomationsManage, &Scope::workspace(workspace)) {
        return Err(ApiError::forbidden(format!("This needs the {} permission here", Permission::AutomationsManage)));
    }
    Ok(())
}

/// The caller's automation `id` in `workspace`, once the guard passed.
pub async fn automation(state: &ApiState, caller: &Caller, workspace: &str, id: &str) -> ApiResult<Automation> {
    managed(state, caller, workspace).await?;
    if !access::is_valid_id(id) {
        return Err(not_found("automation"));
    }
    state.store.automation(&caller.tenant_id, workspace, id).await?.ok_or_else(|| not_found("automation"))
}

/// An automation as the API shows it (never its webhook token, which is answered once).
#[derive(Serialize, ToSchema)]
pub struct AutomationView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(flatten)]
    pub definition: Definition,
    pub max_concurrent_runs: u32,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    /// Pass it back in a PATCH to change only what you read.
    pub version: u64,
}

impl From<Automation> for AutomationView {
    fn from(a: Automation) -> Self {
        Self {
            id: a.id,
            workspace_id: a.workspace_id,
            name: a.name,
            description: a.description,
            enabled: a.enabled,
            definition: a.definition,
            max_concurrent_runs: a.max_concurrent_runs,
            created_by: a.created_by,
            created_at: a.created_at,
            updated_at: a.updated_at,
            version: a.version,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AutomationList {
    pub automations: Vec<AutomationView>,
    pub next_cursor: Option<String>,
}

/// A run: status, what triggered it, and its step log.
#[derive(Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub workspace_id: String,
    pub automation_id: String,
    pub status: RunStatus,
    pub trigger_type: String,
    #[schema(value_type = Object)]
    pub trigger: Value,
    pub steps: Vec<StepEntry>,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub retries: u32,
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self {
            id: r.id,
            workspace_id: r.workspace_id,
            automation_id: r.automation_id,
            status: r.status,
            trigger_type: r.trigger_type,
            trigger: r.trigger,
            steps: r.log,
            error: r.error,
            created_at: rfc3339(r.created_at_ms),
            started_at: r.started_at_ms.map(rfc3339),
            finished_at: r.finished_at_ms.map(rfc3339),
            retries: r.retries,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
    pub next_cursor: Option<String>,
}
