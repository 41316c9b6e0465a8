//! `GET /api/v1/workspaces/{id}/automations/{automationId}/runs`, `GET …/automations/runs/{runId}`,
//! `POST …/automations/runs/{runId}/retry`.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use platform::pagination::PageQuery;
use platform::{ApiError, ApiResult, Caller, Json};

use crate::SharedState;
use crate::api::{RunList, RunView, automation, managed, not_found};
use crate::store::{Run, RunStatus, StepStatus, is_run_id};

/// An automation's runs, newest first.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/automations/{automationId}/runs", tag = "automations", operation_id = "list_automation_runs",
    params(
        ("id" = String, Path, description = "Workspace id"),
        ("automationId" = String, Path, description = "Automation id"),
        ("limit" = Option<usize>, Query, description = "1 to 100 (default 20)", minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of runs with their step logs", body = RunList),
        (status = 400, description = "Invalid limit or cursor"),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or automation"),
    ))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Path((workspace, id)): Path<(String, String)>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<RunList>> {
    let limit = page.limit()?;
    let found = automation(&state, &caller, &workspace, &id).await?;
    let listing = state.store.runs(&caller.tenant_id, &found.id, limit, page.cursor()).await?;
    Ok(Json(RunList { runs: listing.items.into_iter().map(RunView::from).collect(), next_cursor: listing.next_cursor }))
}

async fn find(state: &SharedState, caller: &Caller, workspace: &str, run: &str) -> ApiResult<Run> {
    managed(state, caller, workspace).await?;
    if !is_run_id(run) {
        return Err(not_found("run"));
    }
    let Some(place) = state.store.run_lookup(&caller.tenant_id, run).await? else { return Err(not_found("run")) };
    if place.workspace != workspace {
        return Err(not_found("run"));
    }
    state.store.run(&caller.tenant_id, &place.automation, run).await?.ok_or_else(|| not_found("run"))
}

/// One run: its status, trigger data and step log (inputs, outputs, errors, timings).
#[utoipa::path(get, path = "/api/v1/workspaces/{id}/automations/runs/{runId}", tag = "automations", operation_id = "get_automation_run",
    params(("id" = String, Path, description = "Workspace id"), ("runId" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or run"),
    ))]
pub async fn get(
    State(state): State<SharedState>,
    caller: Caller,
    Path((workspace, run)): Path<(String, String)>,
) -> ApiResult<Json<RunView>> {
    Ok(Json(find(&state, &caller, &workspace, &run).await?.into()))
}

/// Retry a failed run: it goes on from the step that failed (steps that succeeded are not run again), with the
/// definition it started with.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/automations/runs/{runId}/retry", tag = "automations", operation_id = "retry_automation_run",
    params(("id" = String, Path, description = "Workspace id"), ("runId" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "Queued again", body = RunView),
        (status = 403, description = "Not allowed to manage automations here (`automations:manage`)"),
        (status = 404, description = "No such workspace or run"),
        (status = 409, description = "Only a failed run can be retried (`run_not_failed`), or it changed meanwhile (`version_conflict`)"),
    ))]
pub async fn retry(
    State(state): State<SharedState>,
    caller: Caller,
    Path((workspace, run)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let mut found = find(&state, &caller, &workspace, &run).await?;
    if found.status != RunStatus::Failed {
        return Err(ApiError::conflict("run_not_failed", "Only a failed run can be retried"));
    }
    // The failed entries go (their attempt starts afresh); everything that succeeded stays.
    found.log.retain(|e| e.status == StepStatus::Succeeded);
    found.status = RunStatus::Queued;
    found.error = None;
    found.finished_at_ms = None;
    found.retries += 1;
    let stored = state.store.save_run(&found).await?;
    state.jobs.step(&stored.tenant_id, &stored.automation_id, &stored.id, Duration::ZERO).await?;
    tracing::info!(run = %stored.id, retries = stored.retries, "run retried");
    Ok((StatusCode::ACCEPTED, Json(stored.into())))
}
