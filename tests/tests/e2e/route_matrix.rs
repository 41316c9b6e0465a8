//! The route × role matrix (issue 12): every protected route of the OpenAPI document × every built-in role →
//! allow or deny, generated from one table ([`ROWS`]) and checked in both runtimes.
//!
//! - [`ROWS`] has one row per protected (method, path template) of `/openapi.json`, saying what the route
//!   requires ([`Needs`]) and how to call it on the fixture world: path arguments, query and a *valid* body
//!   (a denied request must be told from a refused one: validation would answer 400 before any decision).
//! - Nothing per role is written by hand: the expected answer is derived from the `access` crate's decision
//!   engine and its built-in roles ([`access::ROLE_TABLE`] through [`BuiltinRole::permissions`]), with each
//!   role as the principal the platform makes of it ([`principal`]).
//! - `every_protected_route_of_the_document_has_exactly_one_row` compares the table with the document the
//!   running app serves; the runner boots every group (health has only public routes), so the document's
//!   protected routes are every group's.
//! - For each of the seven built-in roles a fresh tenant gets a fresh world ([`world`]), on one of [`RUNNERS`]
//!   runners (the one the macro started and more started alike; the runners work at once, each takes its
//!   roles in turn): its owner registers, creates a workspace, projects, PAT connections from an emulator token
//!   reaching the world's own copies of the demo base, links them, and adds the role's user: the owner itself
//!   (`tenant_owner`), a member joined as `admin` or `member`, or a tenant member added to the workspace as
//!   `admin`, `editor`, `commenter` or `viewer`. Then the role's user calls every row in table order.
//!   Destructive rows work on throwaway resources the owner made for them (a second project, connection and
//!   linked base; users, invitations, a custom role, a grant, a webhook endpoint; records, comments and
//!   webhooks of the world's own base copy); the two that cannot (deleting the fixture workspace, transferring
//!   the tenant) come last.
//! - Deny is 403, or 404 on rows whose group hides what the caller may not see ([`Row::hides`]: workspace
//!   routes, the Airtable gateway, users by id, grants by id). Allow is anything else but a 5xx; a 5xx fails
//!   everywhere. Every mismatch is collected and printed as one table before the test fails once.
//! - A row whose current behaviour differs from the intended rule in code this file may not change carries a
//!   [`Defect`]: the row keeps the intended rule, the test expects today's behaviour for the roles named,
//!   prints a warning, and fails when the defect is gone (so the marker is removed with the fix).

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use access::{BuiltinRole, Grant, Permission, Principal, Roles, Scope, TenantRole, WorkspaceRole};
use airtable_emulator::ConfigPatch;
use airtable_emulator::auth::{BaseReach, EmulatorUser};
use airtable_emulator::seed::{DEMO_BASE, PROJECTS, TASK_ATTACHMENTS, TASKS};
use reqwest::Method;
use serde_json::{Value, json};
use storage::backend::StorageMode;

use crate::support::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, Account, call, join, login_ok, register};
use crate::support::{Adapters, TestApp};

thread_local! {
    /// The adapter set of the runner the test's macro started: `matrix_settings` runs on the test's thread just
    /// before the test does, which starts its other runners alike.
    static ADAPTERS: Cell<Option<Adapters>> = const { Cell::new(None) };
}

fn matrix_settings(settings: &mut local_runner::Settings) {
    let adapters = match settings.storage.mode {
        StorageMode::Aws => Adapters::Aws,
        StorageMode::Embedded => Adapters::Embedded,
    };
    ADAPTERS.with(|a| a.set(Some(adapters)));
    // Every group: the document's protected routes are all of them.
    settings.groups = None;
    // Each world registers and accepts invitations from one address.
    settings.auth.throttle.public_requests_per_ip = 1_000_000;
    // The gateway's limiter is not what this tests (the emulator's limits are turned off at start).
    settings.airtable.base_rps = 10_000.0;
    settings.airtable.token_rps = 100_000.0;
    // Webhook endpoints on loopback (a closed port: the test messages fail fast, nothing leaves the host).
    settings.webhooks.allowed = "127.0.0.0/8".parse().unwrap();
    // Starting an OAuth connection needs an integration (without one it is a 503).
    settings.workspaces.airtable.oauth = Some(tenancy::airtable::OAuthClient {
        client_id: "pyairtable-matrix".into(),
        client_secret: Some(secrecy::SecretString::from("the matrix client's secret")),
        redirect_uri: "http://127.0.0.1:9/api/v1/oauth/airtable/callback".into(),
    });
}

crate::both_adapters_in!(matrix_settings;
    every_protected_route_of_the_document_has_exactly_one_row,
    every_route_admits_exactly_the_roles_the_role_table_allows,
);

// ---------------------------------------------------------------------------------------------------------
// The table

/// What a route requires of its caller.
#[derive(Clone, Copy, Debug)]
enum Needs {
    /// Any signed-in user of the tenant: the answer concerns only the caller or their tenant.
    Signed,
    /// A permission at the tenant scope.
    Tenant(Permission),
    /// The tenant's admins (and its owner): every permission of [`BuiltinRole::TenantAdmin`] tenant-wide.
    TenantAdmin,
    /// The tenant's owner alone: every permission of [`BuiltinRole::TenantOwner`] tenant-wide.
    TenantOwner,
    /// A permission on the fixture workspace.
    Workspace(Permission),
    /// Seeing the fixture workspace: any permission in it.
    WorkspaceVisible,
    /// A permission on the fixture base (linked in the fixture workspace), as the Airtable gateway asks it.
    Base(Permission),
    /// A platform admin: none of the built-in roles.
    PlatformAdmin,
}

/// A defect in code this file's authors may not change: the roles for which the route answers the opposite
/// of the intended rule today.
#[derive(Clone, Copy, Debug)]
struct Defect {
    roles: &'static [BuiltinRole],
    note: &'static str,
}

/// One protected route and how to call it on the fixture world.
#[derive(Clone, Copy, Debug)]
struct Row {
    method: &'static str,
    /// The OpenAPI path template, exactly as in the document.
    path: &'static str,
    /// The world's value for each `{param}` of the path, in order (keys of [`World::values`]).
    args: &'static [&'static str],
    /// A query string (without `?`), `${key}` placeholders filled from the world.
    query: &'static str,
    /// A JSON body, `${key}` placeholders filled from the world (`${uniq}`: a fresh unique string).
    body: Option<&'static str>,
    needs: Needs,
    /// Whether a 404 is a refusal here (the group answers what the caller may not see like what does not exist).
    hides: bool,
    defect: Option<Defect>,
}

const fn row(method: &'static str, path: &'static str, args: &'static [&'static str], needs: Needs) -> Row {
    let hides = matches!(needs, Needs::Workspace(_) | Needs::WorkspaceVisible | Needs::Base(_));
    Row { method, path, args, query: "", body: None, needs, hides, defect: None }
}

impl Row {
    const fn body(self, body: &'static str) -> Row {
        Row { body: Some(body), ..self }
    }

    const fn query(self, query: &'static str) -> Row {
        Row { query, ..self }
    }

    /// A 404 is a refusal on this row too.
    const fn hidden(self) -> Row {
        Row { hides: true, ..self }
    }

    #[allow(dead_code)] // no defect is open today; kept so one can be marked without new machinery
    const fn defect(self, roles: &'static [BuiltinRole], note: &'static str) -> Row {
        Row { defect: Some(Defect { roles, note }), ..self }
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

use Needs::*;
use Permission::*;

const WS: &[&str] = &["ws"];
const BASE: &[&str] = &["base"];
const TABLE: &[&str] = &["base", "table"];
const RECORD: &[&str] = &["base", "table", "rec"];
const API_BASE: &str = "/api/v1/airtable/bases/{baseId}";
/// A webhook endpoint: a closed port on loopback (allowed by `matrix_settings`), one event type nothing here causes.
const ENDPOINT_BODY: &str =
    r#"{"url": "http://127.0.0.1:9/matrix", "event_types": ["workspace.connection_refresh_failed"]}"#;
/// An automation with a manual trigger whose one step notifies its creator.
const AUTOMATION_BODY: &str =
    r#"{"name": "Matrix", "trigger": {"type": "manual"}, "steps": [{"type": "notify", "subject": "s", "body": ""}]}"#;
const AUTOMATION: &[&str] = &["ws", "automation"];
/// A CSV upload declared in the fixture workspace.
const FILE_BODY: &str = r#"{"workspace_id": "${ws}", "name": "matrix.csv", "content_type": "text/csv", "size": 10}"#;
const WEBHOOK_BODY: &str = r#"{"notificationUrl": "https://example.com/hook", "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}}}"#;

/// Every protected route, in the order each role calls them. The last two change the world for good.
static ROWS: &[Row] = &[
    // auth: the caller's own API keys
    row("GET", "/api/v1/auth/api-keys", &[], Signed),
    row("POST", "/api/v1/auth/api-keys", &[], Signed).body(r#"{"name": "matrix ${uniq}"}"#),
    row("DELETE", "/api/v1/auth/api-keys/{id}", &["own_key"], Signed),
    // workspaces
    row("GET", "/api/v1/workspaces", &[], Signed),
    row("POST", "/api/v1/workspaces", &[], Tenant(WorkspacesManage)).body(r#"{"name": "Matrix ${uniq}"}"#),
    row("GET", "/api/v1/workspaces/{id}", WS, WorkspaceVisible),
    row("PATCH", "/api/v1/workspaces/{id}", WS, Workspace(WorkspacesManage))
        .body(r#"{"name": "Renamed", "version": ${ws_version}}"#),
    row("GET", "/api/v1/workspaces/{id}/projects", WS, WorkspaceVisible),
    row("POST", "/api/v1/workspaces/{id}/projects", WS, Workspace(WorkspacesManage)).body(r#"{"name": "Matrix"}"#),
    row("GET", "/api/v1/workspaces/{id}/projects/{projectId}", &["ws", "project"], WorkspaceVisible),
    row("PATCH", "/api/v1/workspaces/{id}/projects/{projectId}", &["ws", "project"], Workspace(WorkspacesManage))
        .body(r#"{"name": "Renamed", "version": ${project_version}}"#),
    row("DELETE", "/api/v1/workspaces/{id}/projects/{projectId}", &["ws", "project_del"], Workspace(WorkspacesManage)),
    row("GET", "/api/v1/workspaces/{id}/members", WS, WorkspaceVisible),
    row("POST", "/api/v1/workspaces/{id}/members", WS, Workspace(MembersManage))
        .body(r#"{"user_id": "${spare}", "role": "viewer"}"#),
    row("PATCH", "/api/v1/workspaces/{id}/members/{userId}", &["ws", "target"], Workspace(MembersManage))
        .body(r#"{"role": "commenter", "version": ${target_ws_version}}"#),
    row("DELETE", "/api/v1/workspaces/{id}/members/{userId}", &["ws", "del_a"], Workspace(MembersManage)),
    row("GET", "/api/v1/workspaces/{id}/connections", WS, Workspace(ConnectionsManage)),
    row("POST", "/api/v1/workspaces/{id}/connections", WS, Workspace(ConnectionsManage))
        .body(r#"{"type": "pat", "token": "${token}", "label": "Matrix"}"#),
    row("POST", "/api/v1/workspaces/{id}/connections/oauth", WS, Workspace(ConnectionsManage))
        .body(r#"{"label": "Matrix OAuth"}"#),
    row(
        "DELETE",
        "/api/v1/workspaces/{id}/connections/{connectionId}",
        &["ws", "conn_del"],
        Workspace(ConnectionsManage),
    ),
    row("GET", "/api/v1/workspaces/{id}/bases", WS, WorkspaceVisible),
    row("POST", "/api/v1/workspaces/{id}/bases", WS, Workspace(ConnectionsManage))
        .body(r#"{"base_id": "${base_spare}", "connection_id": "${conn}"}"#),
    row("DELETE", "/api/v1/workspaces/{id}/bases/{baseId}", &["ws", "base_del"], Workspace(ConnectionsManage)),
    // permissions
    row("GET", "/api/v1/permissions/roles", &[], Signed),
    row("POST", "/api/v1/permissions/roles", &[], Tenant(MembersManage))
        .body(r#"{"name": "Matrix ${uniq}", "permissions": ["records:read"]}"#),
    row("PATCH", "/api/v1/permissions/roles/{id}", &["role"], Tenant(MembersManage))
        .body(r#"{"name": "Renamed", "version": ${role_version}}"#),
    row("DELETE", "/api/v1/permissions/roles/{id}", &["role_del"], Tenant(MembersManage)),
    row("GET", "/api/v1/permissions/grants", &[], Signed),
    row("POST", "/api/v1/permissions/grants", &[], Workspace(MembersManage))
        .body(r#"{"user_id": "${spare}", "role": "commenter", "resource": "workspace:${ws}"}"#),
    row("DELETE", "/api/v1/permissions/grants/{id}", &["grant_del"], Workspace(MembersManage)),
    // About another user: `members:manage` on the resource.
    row("POST", "/api/v1/permissions/check", &[], Workspace(MembersManage))
        .body(r#"{"permission": "records:read", "resource": "workspace:${ws}", "user_id": "${spare}"}"#),
    // The caller's own decisions on the workspace: seeing it.
    row("POST", "/api/v1/permissions/check-batch", &[], WorkspaceVisible)
        .body(r#"{"checks": [{"permission": "records:write", "resource": "workspace:${ws}"}]}"#),
    row("GET", "/api/v1/permissions/effective", &[], WorkspaceVisible).query("resource=workspace:${ws}"),
    // users (after the workspace rows: `del_a` leaves the workspace there, then the tenant here)
    row("GET", "/api/v1/users", &[], Tenant(MembersManage)),
    row("GET", "/api/v1/users/me", &[], Signed),
    row("PUT", "/api/v1/users/me", &[], Signed).body(r#"{"version": ${me_version}, "first_name": "Matrix"}"#),
    row("GET", "/api/v1/users/{id}", &["target"], Tenant(MembersManage)).hidden(),
    row("PUT", "/api/v1/users/{id}", &["target"], Tenant(MembersManage))
        .hidden()
        .body(r#"{"version": ${target_version}, "first_name": "Changed"}"#),
    row("DELETE", "/api/v1/users/{id}", &["del_b"], Tenant(MembersManage)).hidden(),
    // tenants
    row("GET", "/api/v1/tenants/current", &[], Signed),
    row("PATCH", "/api/v1/tenants/current", &[], TenantAdmin)
        .body(r#"{"version": ${tenant_version}, "name": "Matrix tenant"}"#),
    row("GET", "/api/v1/tenants/current/usage", &[], Signed),
    row("GET", "/api/v1/tenants/current/members", &[], Signed),
    row("PATCH", "/api/v1/tenants/current/members/{userId}", &["target"], Tenant(MembersManage))
        .body(r#"{"role": "admin", "version": ${target_version}}"#),
    row("DELETE", "/api/v1/tenants/current/members/{userId}", &["del_a"], Tenant(MembersManage)),
    row("GET", "/api/v1/tenants/current/invitations", &[], Tenant(MembersManage)),
    row("POST", "/api/v1/tenants/current/invitations", &[], Tenant(MembersManage))
        .body(r#"{"email": "matrix-${uniq}@example.com", "role": "member"}"#),
    row("DELETE", "/api/v1/tenants/current/invitations/{id}", &["inv_del"], Tenant(MembersManage)),
    row("POST", "/api/v1/tenants/current/invitations/{id}/resend", &["inv_resend"], Tenant(MembersManage)),
    row("PUT", "/api/v1/tenants/{tenantId}/plan", &["tenant"], PlatformAdmin).body(r#"{"plan": "pro"}"#),
    row("PUT", "/api/v1/tenants/{tenantId}/platform-bases", &["tenant"], PlatformAdmin)
        .body(r#"{"bases": [{"id": "${base_spare}"}]}"#),
    // audit
    row("GET", "/api/v1/audit-logs", &[], Tenant(AuditRead)),
    // analytics: the tenant's admins (as the audit log)
    row("GET", "/api/v1/analytics/usage", &[], Tenant(AuditRead)).query("metric=events"),
    row("GET", "/api/v1/analytics/top", &[], Tenant(AuditRead)).query("metric=events&dimension=type"),
    // webhooks: the tenant's endpoints (filtered to an event these rows never cause, so nothing is delivered
    // but the test messages, to a closed loopback port)
    row("GET", "/api/v1/events/types", &[], Signed),
    row("GET", "/api/v1/webhooks/endpoints", &[], Tenant(WebhooksManage)),
    row("POST", "/api/v1/webhooks/endpoints", &[], Tenant(WebhooksManage)).body(ENDPOINT_BODY),
    row("GET", "/api/v1/webhooks/endpoints/{id}", &["endpoint"], Tenant(WebhooksManage)),
    row("PATCH", "/api/v1/webhooks/endpoints/{id}", &["endpoint"], Tenant(WebhooksManage))
        .body(r#"{"description": "Changed"}"#),
    row("POST", "/api/v1/webhooks/endpoints/{id}/rotate-secret", &["endpoint"], Tenant(WebhooksManage)),
    row("POST", "/api/v1/webhooks/endpoints/{id}/test", &["endpoint"], Tenant(WebhooksManage)),
    row("GET", "/api/v1/webhooks/endpoints/{id}/messages", &["endpoint"], Tenant(WebhooksManage)),
    row("POST", "/api/v1/webhooks/messages/{id}/resend", &["message"], Tenant(WebhooksManage)),
    row("POST", "/api/v1/webhooks/endpoints/{id}/recover", &["endpoint"], Tenant(WebhooksManage))
        .body(r#"{"since": "${message_created_at}"}"#),
    row("DELETE", "/api/v1/webhooks/endpoints/{id}", &["endpoint_del"], Tenant(WebhooksManage)),
    // notifications: the caller's own inbox, preferences and devices, the tenant's templates (owners and admins),
    // the embedded outbox (platform admins)
    row("GET", "/api/v1/notifications", &[], Signed).query("unread=true"),
    row("GET", "/api/v1/notifications/unread-count", &[], Signed),
    row("POST", "/api/v1/notifications/{id}/read", &["notification"], Signed),
    row("POST", "/api/v1/notifications/read-all", &[], Signed),
    row("GET", "/api/v1/notifications/preferences", &[], Signed),
    row("PUT", "/api/v1/notifications/preferences", &[], Signed)
        .body(r#"{"categories": {"workspace": {"in_app": true, "email": false}}}"#),
    row("GET", "/api/v1/notifications/devices", &[], Signed),
    row("POST", "/api/v1/notifications/devices", &[], Signed).body(r#"{"platform": "fcm", "token": "matrix-${uniq}"}"#),
    row("DELETE", "/api/v1/notifications/devices/{id}", &["own_device"], Signed),
    row("GET", "/api/v1/notifications/templates/{type}", &["notification_type"], TenantAdmin),
    row("PUT", "/api/v1/notifications/templates/{type}", &["notification_type"], TenantAdmin)
        .body(r#"{"subject": "Key {{ data.api_key_id }}", "body": "A new key for {{ recipient.email }}."}"#),
    row("POST", "/api/v1/notifications/templates/{type}/preview", &["notification_type"], TenantAdmin).body("{}"),
    row("GET", "/api/v1/notifications/outbox", &[], PlatformAdmin),
    // automations: the fixture workspace's (`automations:manage` on it; hidden from who does not see it)
    row("GET", "/api/v1/workspaces/{id}/automations", WS, Workspace(AutomationsManage)),
    row("POST", "/api/v1/workspaces/{id}/automations", WS, Workspace(AutomationsManage)).body(AUTOMATION_BODY),
    row("GET", "/api/v1/workspaces/{id}/automations/{automationId}", AUTOMATION, Workspace(AutomationsManage)),
    row("PATCH", "/api/v1/workspaces/{id}/automations/{automationId}", AUTOMATION, Workspace(AutomationsManage))
        .body(r#"{"name": "Renamed"}"#),
    row("POST", "/api/v1/workspaces/{id}/automations/{automationId}/test", AUTOMATION, Workspace(AutomationsManage))
        .body(r#"{"trigger": {}}"#),
    row("POST", "/api/v1/workspaces/{id}/automations/{automationId}/run", AUTOMATION, Workspace(AutomationsManage))
        .body("{}"),
    row("GET", "/api/v1/workspaces/{id}/automations/{automationId}/runs", AUTOMATION, Workspace(AutomationsManage)),
    row("GET", "/api/v1/workspaces/{id}/automations/runs/{runId}", &["ws", "run"], Workspace(AutomationsManage)),
    // A succeeded run: 409 `run_not_failed` for who may, 403/404 for who may not.
    row("POST", "/api/v1/workspaces/{id}/automations/runs/{runId}/retry", &["ws", "run"], Workspace(AutomationsManage)),
    row("POST", "/api/v1/workspaces/{id}/automations/{automationId}/disable", AUTOMATION, Workspace(AutomationsManage)),
    row("POST", "/api/v1/workspaces/{id}/automations/{automationId}/enable", AUTOMATION, Workspace(AutomationsManage)),
    row(
        "DELETE",
        "/api/v1/workspaces/{id}/automations/{automationId}",
        &["ws", "automation_del"],
        Workspace(AutomationsManage),
    ),
    // files: the fixture workspace's (records:read to read, records:write to upload and delete; hidden from who
    // does not see it). Completing a file never uploaded is a 409 for who may.
    row("GET", "/api/v1/files", &[], Workspace(RecordsRead)).query("workspace_id=${ws}"),
    row("POST", "/api/v1/files", &[], Workspace(RecordsWrite)).body(FILE_BODY),
    row("GET", "/api/v1/files/{id}", &["file"], Workspace(RecordsRead)),
    row("POST", "/api/v1/files/{id}/complete", &["file"], Workspace(RecordsWrite)),
    row("DELETE", "/api/v1/files/{id}", &["file_del"], Workspace(RecordsWrite)),
    // Attaching a file (here one never uploaded: 409 `file_not_ready` for who may) is a record write on the base.
    row("POST", "/api/v1/airtable/bases/{baseId}/records/{recordId}/attachments", &["base", "rec"], Base(RecordsWrite))
        .body(r#"{"file_id": "${file}", "field": "Attachments"}"#),
    // the Airtable gateway, the platform's dialect
    row("GET", "/api/v1/airtable/bases", &[], Signed),
    row("GET", API_BASE, BASE, Base(RecordsRead)),
    row("GET", "/api/v1/airtable/bases/{baseId}/tables", BASE, Base(RecordsRead)),
    row("GET", "/api/v1/airtable/bases/{baseId}/tables/{tableId}", TABLE, Base(RecordsRead)),
    row("GET", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records", TABLE, Base(RecordsRead))
        .query("pageSize=1"),
    row("POST", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records", TABLE, Base(RecordsWrite))
        .body(r#"{"fields": {"Name": "Matrix"}}"#),
    row("GET", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/{recordId}", RECORD, Base(RecordsRead)),
    row("PATCH", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/{recordId}", RECORD, Base(RecordsWrite))
        .body(r#"{"fields": {"Notes": "matrix"}}"#),
    row(
        "DELETE",
        "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/{recordId}",
        &["base", "table", "rec_del1"],
        Base(RecordsWrite),
    ),
    row("POST", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/batch", TABLE, Base(RecordsWrite))
        .body(r#"{"records": [{"fields": {"Name": "Matrix"}}]}"#),
    row("PATCH", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/batch", TABLE, Base(RecordsWrite))
        .body(r#"{"records": [{"id": "${rec}", "fields": {"Notes": "matrix"}}]}"#),
    row("POST", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/upsert", TABLE, Base(RecordsWrite))
        .body(r#"{"records": [{"fields": {"Name": "Matrix ${uniq}"}}], "fieldsToMergeOn": ["Name"]}"#),
    row("POST", "/api/v1/airtable/bases/{baseId}/tables/{tableId}/records/delete", TABLE, Base(RecordsWrite))
        .body(r#"{"ids": ["${rec_del2}"]}"#),
    // the Airtable gateway, Airtable's own dialect
    row("GET", "/v0/meta/whoami", &[], Signed),
    row("GET", "/v0/meta/bases", &[], Signed),
    row("GET", "/v0/meta/bases/{baseId}/tables", BASE, Base(RecordsRead)),
    row("POST", "/v0/meta/bases/{baseId}/tables", BASE, Base(SchemaWrite))
        .body(r#"{"name": "Matrix ${uniq}", "fields": [{"name": "Name", "type": "singleLineText"}]}"#),
    row("PATCH", "/v0/meta/bases/{baseId}/tables/{tableIdOrName}", TABLE, Base(SchemaWrite))
        .body(r#"{"description": "matrix"}"#),
    row("POST", "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields", &["base", "tasks"], Base(SchemaWrite))
        .body(r#"{"name": "Matrix ${uniq}", "type": "singleLineText"}"#),
    row(
        "PATCH",
        "/v0/meta/bases/{baseId}/tables/{tableIdOrName}/fields/{fieldId}",
        &["base", "table", "field"],
        Base(SchemaWrite),
    )
    .body(r#"{"description": "matrix"}"#),
    row("GET", "/v0/{baseId}/{tableIdOrName}", TABLE, Base(RecordsRead)).query("pageSize=1"),
    row("POST", "/v0/{baseId}/{tableIdOrName}", TABLE, Base(RecordsWrite)).body(r#"{"fields": {"Name": "Matrix"}}"#),
    row("PATCH", "/v0/{baseId}/{tableIdOrName}", TABLE, Base(RecordsWrite))
        .body(r#"{"records": [{"id": "${rec}", "fields": {"Notes": "matrix"}}]}"#),
    row("PUT", "/v0/{baseId}/{tableIdOrName}", TABLE, Base(RecordsWrite))
        .body(r#"{"records": [{"id": "${rec}", "fields": {"Name": "Matrix"}}]}"#),
    row("DELETE", "/v0/{baseId}/{tableIdOrName}", TABLE, Base(RecordsWrite)).query("records[]=${rec_del3}"),
    row("POST", "/v0/{baseId}/{tableIdOrName}/listRecords", TABLE, Base(RecordsRead)).body(r#"{"pageSize": 1}"#),
    row("GET", "/v0/{baseId}/{tableIdOrName}/{recordId}", RECORD, Base(RecordsRead)),
    row("PATCH", "/v0/{baseId}/{tableIdOrName}/{recordId}", RECORD, Base(RecordsWrite))
        .body(r#"{"fields": {"Notes": "matrix"}}"#),
    row("PUT", "/v0/{baseId}/{tableIdOrName}/{recordId}", RECORD, Base(RecordsWrite))
        .body(r#"{"fields": {"Name": "Matrix"}}"#),
    row("DELETE", "/v0/{baseId}/{tableIdOrName}/{recordId}", &["base", "table", "rec_del4"], Base(RecordsWrite)),
    row("GET", "/v0/{baseId}/{tableIdOrName}/{recordId}/comments", RECORD, Base(RecordsRead)),
    row("POST", "/v0/{baseId}/{tableIdOrName}/{recordId}/comments", RECORD, Base(CommentsWrite))
        .body(r#"{"text": "matrix"}"#),
    row(
        "PATCH",
        "/v0/{baseId}/{tableIdOrName}/{recordId}/comments/{rowCommentId}",
        &["base", "table", "rec", "comment"],
        Base(CommentsWrite),
    )
    .body(r#"{"text": "edited"}"#),
    row(
        "DELETE",
        "/v0/{baseId}/{tableIdOrName}/{recordId}/comments/{rowCommentId}",
        &["base", "table", "rec", "comment_del"],
        Base(CommentsWrite),
    ),
    // The document names the segments as the comment routes' (base, record, attachment field).
    row(
        "POST",
        "/v0/{baseId}/{tableIdOrName}/{recordId}/uploadAttachment",
        &["base", "task_rec", "attachments"],
        Base(RecordsWrite),
    )
    .body(r#"{"contentType": "text/plain", "file": "aGk=", "filename": "a.txt"}"#),
    row("GET", "/v0/bases/{baseId}/webhooks", BASE, Base(WebhooksManage)),
    row("POST", "/v0/bases/{baseId}/webhooks", BASE, Base(WebhooksManage)).body(WEBHOOK_BODY),
    row("DELETE", "/v0/bases/{baseId}/webhooks/{webhookId}", &["base", "webhook_del"], Base(WebhooksManage)),
    row("POST", "/v0/bases/{baseId}/webhooks/{webhookId}/refresh", &["base", "webhook"], Base(WebhooksManage)),
    row(
        "POST",
        "/v0/bases/{baseId}/webhooks/{webhookId}/enableNotifications",
        &["base", "webhook"],
        Base(WebhooksManage),
    )
    .body(r#"{"enable": true}"#),
    row("GET", "/v0/bases/{baseId}/webhooks/{webhookId}/payloads", &["base", "webhook"], Base(WebhooksManage)),
    // Last: these change the world for every row after them.
    row("DELETE", "/api/v1/workspaces/{id}", WS, Workspace(WorkspacesManage)),
    row("POST", "/api/v1/tenants/current/transfer-ownership", &[], TenantOwner).body(r#"{"user_id": "${spare}"}"#),
];

// ---------------------------------------------------------------------------------------------------------
// The expectation, derived from the access crate

/// The tenant role a built-in role's user holds: the tenant roles are themselves; the workspace roles are
/// held by tenant members.
fn tenant_role(role: BuiltinRole) -> TenantRole {
    TenantRole::ALL.into_iter().find(|t| t.builtin() == role).unwrap_or(TenantRole::Member)
}

fn workspace_role(role: BuiltinRole) -> Option<WorkspaceRole> {
    WorkspaceRole::ALL.into_iter().find(|w| w.builtin() == role)
}

/// How many runners share the roles. Under moto the work is about the same however it is split (measured:
/// ~27 s of the runners' CPU and ~39 s of moto's for the whole matrix); a few runners overlap the two, more
/// only add their start-up.
const RUNNERS: usize = 3;

const FIXTURE_WS: &str = "ws_fixture";

/// The principal the platform makes of a role's user: its tenant role and, for a workspace role, that role
/// on the fixture workspace (a membership).
fn principal(role: BuiltinRole) -> Principal {
    let principal = Principal::new(tenant_role(role));
    match workspace_role(role) {
        Some(ws_role) => principal.with_grant(Grant::workspace(ws_role, FIXTURE_WS)),
        None => principal,
    }
}

/// Whether the intended rule admits `role` on a route that needs `needs`.
fn intended(needs: Needs, role: BuiltinRole) -> bool {
    let (who, roles) = (principal(role), Roles::new());
    let tenant = Scope::tenant();
    let workspace = Scope::workspace(FIXTURE_WS);
    match needs {
        Signed => true,
        Tenant(permission) => access::allows(&who, &roles, permission, &tenant),
        TenantAdmin => access::effective(&who, &roles, &tenant).contains_all(BuiltinRole::TenantAdmin.permissions()),
        TenantOwner => access::effective(&who, &roles, &tenant).contains_all(BuiltinRole::TenantOwner.permissions()),
        Workspace(permission) => access::allows(&who, &roles, permission, &workspace),
        WorkspaceVisible => !access::effective(&who, &roles, &workspace).is_empty(),
        Base(permission) => access::allows(&who, &roles, permission, &Scope::base(FIXTURE_WS, DEMO_BASE)),
        PlatformAdmin => false,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Completeness

async fn protected_routes(app: &TestApp) -> BTreeSet<String> {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !platform::gateway::is_public_operation(operation) {
                routes.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

async fn every_protected_route_of_the_document_has_exactly_one_row(app: TestApp) {
    let documented = protected_routes(&app).await;
    let mut problems = Vec::new();
    let mut rows = BTreeSet::new();
    for row in ROWS {
        if !rows.insert(row.name()) {
            problems.push(format!("two rows for {}", row.name()));
        }
        let params = row.path.split('/').filter(|s| s.starts_with('{')).count();
        if params != row.args.len() {
            problems.push(format!("{}: {} path parameters, {} arguments", row.name(), params, row.args.len()));
        }
    }
    for missing in documented.difference(&rows) {
        problems.push(format!("no row for the protected route {missing}"));
    }
    for stale in rows.difference(&documented) {
        problems.push(format!("a row for {stale}, which is not a protected route of /openapi.json"));
    }
    assert!(problems.is_empty(), "the table and the document disagree:\n  {}", problems.join("\n  "));
    assert_eq!(documented.len(), ROWS.len());
}

// ---------------------------------------------------------------------------------------------------------
// The fixture world

/// A fresh tenant with everything the rows name, and the user holding the role under test.
struct World {
    owner: Account,
    caller: Account,
    /// `${key}` → value, for path arguments, queries and bodies.
    values: HashMap<&'static str, String>,
}

/// Status and JSON body of a 2xx answer, else a panic naming what was being made.
async fn made(app: &TestApp, method: Method, path: &str, credential: &str, body: Option<Value>, what: &str) -> Value {
    let response = call(app, method, path, credential, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "making {what}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        other => panic!("{pointer} in {value}: {other:?}"),
    }
}

/// The seeded ids of the demo base (every copy keeps them): Projects' records and first field, a Tasks record.
struct Seed {
    records: Vec<String>,
    field: String,
    task: String,
}

fn seed() -> Seed {
    let bases = airtable_emulator::seed::demo_bases();
    let demo = bases.iter().find(|b| b.id == DEMO_BASE).unwrap();
    let projects = demo.tables.iter().find(|t| t.id == PROJECTS).unwrap();
    let tasks = demo.tables.iter().find(|t| t.id == TASKS).unwrap();
    Seed {
        records: projects.records.iter().take(5).map(|r| r.id.clone()).collect(),
        field: projects.fields[0].id.clone(),
        task: tasks.records[0].id.clone(),
    }
}

async fn world(app: &TestApp, admin: &str, role: BuiltinRole) -> World {
    let owner = register(app).await;
    let o = owner.access.as_str();
    let mut values: HashMap<&'static str, String> = HashMap::new();
    values.insert("tenant", owner.tenant_id.clone());
    // Room for everything the rows make (the free plan allows two connections).
    let plan = format!("/api/v1/tenants/{}/plan", owner.tenant_id);
    made(app, Method::PUT, &plan, admin, Some(json!({"plan": "enterprise"})), "the plan").await;

    // The world's own copies of the demo base: the fixture base, one to unlink, one to link.
    let emulator = app.emulator();
    let copy = |name: &str| emulator.copy_base(DEMO_BASE, &format!("{name} {}", role.as_str())).unwrap();
    let (base, base_del, base_spare) = (copy("Matrix"), copy("Unlink"), copy("Link"));
    let token = emulator.issue_token(
        EmulatorUser::emulator(),
        BaseReach::only([base.clone(), base_del.clone(), base_spare.clone()]),
        Vec::new(),
    );

    let ws = made(app, Method::POST, "/api/v1/workspaces", o, Some(json!({"name": "Matrix"})), "a workspace").await;
    let w = text(&ws, "/id");
    values.insert("ws_version", text(&ws, "/version"));
    let projects = format!("/api/v1/workspaces/{w}/projects");
    let project = made(app, Method::POST, &projects, o, Some(json!({"name": "P"})), "a project").await;
    values.insert("project", text(&project, "/id"));
    values.insert("project_version", text(&project, "/version"));
    let project = made(app, Method::POST, &projects, o, Some(json!({"name": "Doomed"})), "a project").await;
    values.insert("project_del", text(&project, "/id"));
    let connections = format!("/api/v1/workspaces/{w}/connections");
    let pat = json!({"type": "pat", "token": token});
    let connection = made(app, Method::POST, &connections, o, Some(pat.clone()), "a connection").await;
    let conn = text(&connection, "/connection/id");
    let connection = made(app, Method::POST, &connections, o, Some(pat), "a connection").await;
    values.insert("conn_del", text(&connection, "/connection/id"));
    let bases = format!("/api/v1/workspaces/{w}/bases");
    for linked in [&base, &base_del] {
        let link = json!({"base_id": linked, "connection_id": conn});
        made(app, Method::POST, &bases, o, Some(link), "a link").await;
    }

    // The role's user and the users the rows act on, all tenant members: `spare` (added, granted, asked about,
    // made owner), `target` (a workspace viewer whose role changes, a tenant member changed, a user updated),
    // `del_a` (a workspace viewer removed from the workspace, then from the tenant), `del_b` (a user deleted).
    // One at a time: acceptances into one tenant race on its version (the embedded store answers the loser
    // 409 `busy` after its retries; moto's DynamoDB fails concurrent transactions on one table with a 500).
    let caller = match role {
        BuiltinRole::TenantOwner => owner.clone(),
        BuiltinRole::TenantAdmin => join(app, o, "admin").await,
        _ => join(app, o, "member").await,
    };
    for key in ["spare", "target", "del_a", "del_b"] {
        let user = join(app, o, "member").await;
        values.insert(key, user.user_id);
    }
    let members = format!("/api/v1/workspaces/{w}/members");
    let mut add = vec![(values["target"].clone(), "viewer"), (values["del_a"].clone(), "viewer")];
    if let Some(ws_role) = workspace_role(role) {
        add.push((caller.user_id.clone(), ws_role.as_str()));
    }
    for (user, ws_role) in add {
        let member = json!({"user_id": user, "role": ws_role});
        let added = made(app, Method::POST, &members, o, Some(member), "a workspace member").await;
        if user == values["target"] {
            values.insert("target_ws_version", text(&added, "/version"));
        }
    }

    // A custom role to change, one to delete, a grant to revoke, invitations to revoke and resend.
    let roles = "/api/v1/permissions/roles";
    let custom = json!({"name": "Reader", "permissions": ["records:read"]});
    let created = made(app, Method::POST, roles, o, Some(custom), "a role").await;
    values.insert("role", text(&created, "/id"));
    values.insert("role_version", text(&created, "/version"));
    let custom = json!({"name": "Doomed", "permissions": ["records:read"]});
    values.insert("role_del", text(&made(app, Method::POST, roles, o, Some(custom), "a role").await, "/id"));
    let grant = json!({"user_id": values["spare"], "role": "viewer", "resource": format!("workspace:{w}")});
    let grant = made(app, Method::POST, "/api/v1/permissions/grants", o, Some(grant), "a grant").await;
    values.insert("grant_del", text(&grant, "/id"));
    for key in ["inv_del", "inv_resend"] {
        let invite = json!({"email": crate::support::accounts::unique_email(), "role": "member"});
        let invited =
            made(app, Method::POST, "/api/v1/tenants/current/invitations", o, Some(invite), "an invitation").await;
        values.insert(key, text(&invited, "/invitation/id"));
    }

    // Webhook endpoints: one to use, one to delete; a message (a test event) to resend.
    let endpoints = "/api/v1/webhooks/endpoints";
    let endpoint: Value = serde_json::from_str(ENDPOINT_BODY).unwrap();
    let created = made(app, Method::POST, endpoints, o, Some(endpoint.clone()), "an endpoint").await;
    let ep = text(&created, "/endpoint/id");
    let created = made(app, Method::POST, endpoints, o, Some(endpoint), "an endpoint").await;
    values.insert("endpoint_del", text(&created, "/endpoint/id"));
    let message = made(app, Method::POST, &format!("{endpoints}/{ep}/test"), o, None, "a test message").await;
    values.insert("message", text(&message, "/id"));
    values.insert("message_created_at", text(&message, "/created_at"));
    values.insert("endpoint", ep);

    // Automations of the fixture workspace: one to use (with a finished run), one to delete.
    let automations = format!("/api/v1/workspaces/{w}/automations");
    let definition: Value = serde_json::from_str(AUTOMATION_BODY).unwrap();
    let created = made(app, Method::POST, &automations, o, Some(definition.clone()), "an automation").await;
    let automation = text(&created, "/id");
    let created = made(app, Method::POST, &automations, o, Some(definition), "an automation").await;
    values.insert("automation_del", text(&created, "/id"));
    let run = made(app, Method::POST, &format!("{automations}/{automation}/run"), o, Some(json!({})), "a run").await;
    let run = text(&run, "/id");
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = made(app, Method::GET, &format!("{automations}/runs/{run}"), o, None, "the run").await;
        if got["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "the fixture run did not finish: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    values.insert("automation", automation);
    values.insert("run", run);

    // Files of the fixture workspace (declared, never uploaded): one to use, one to delete.
    let file: Value = serde_json::from_str(&FILE_BODY.replace("${ws}", &w)).unwrap();
    for key in ["file", "file_del"] {
        let declared = made(app, Method::POST, "/api/v1/files", o, Some(file.clone()), "a file").await;
        values.insert(key, text(&declared, "/file/id"));
    }

    // The caller's own: an API key to delete, the version of its record.
    let c = caller.access.as_str();
    let key = made(app, Method::POST, "/api/v1/auth/api-keys", c, Some(json!({"name": "Doomed"})), "a key").await;
    values.insert("own_key", text(&key, "/id"));
    let me = made(app, Method::GET, "/api/v1/users/me", c, None, "the caller").await;
    values.insert("me_version", text(&me, "/version"));
    // A notification of the caller's (the security notice of the key just made, once the consumer has run; a
    // well-formed id of none before: the row asks only that no signed-in caller is refused).
    let inbox = made(app, Method::GET, "/api/v1/notifications?limit=1", c, None, "the caller's inbox").await;
    let notification = inbox.pointer("/notifications/0/id").and_then(Value::as_str).map(String::from);
    values.insert("notification", notification.unwrap_or_else(|| format!("ntf_{}", "0".repeat(32))));
    values.insert("notification_type", "api_key.created".to_string());
    // A device of the caller's to delete.
    let device = json!({"platform": "fcm", "token": format!("matrix-own-{}", uuid::Uuid::new_v4().simple())});
    let device = made(app, Method::POST, "/api/v1/notifications/devices", c, Some(device), "a device").await;
    values.insert("own_device", text(&device, "/id"));

    // Airtable: seeded records (reads and updates on the first, one to delete per deleting row), a comment to
    // edit and one to delete, a webhook to use and one to delete.
    let seed = seed();
    let rec = seed.records[0].clone();
    let comments = format!("/v0/{base}/{PROJECTS}/{rec}/comments");
    for key in ["comment", "comment_del"] {
        let comment = made(app, Method::POST, &comments, o, Some(json!({"text": key})), "a comment").await;
        values.insert(key, text(&comment, "/id"));
    }
    let webhooks = format!("/v0/bases/{base}/webhooks");
    let hook: Value = serde_json::from_str(WEBHOOK_BODY).unwrap();
    for key in ["webhook", "webhook_del"] {
        let webhook = made(app, Method::POST, &webhooks, o, Some(hook.clone()), "a webhook").await;
        values.insert(key, text(&webhook, "/id"));
    }
    for (i, key) in ["rec_del1", "rec_del2", "rec_del3", "rec_del4"].into_iter().enumerate() {
        values.insert(key, seed.records[i + 1].clone());
    }
    values.extend([
        ("ws", w),
        ("conn", conn),
        ("token", token),
        ("base", base),
        ("base_del", base_del),
        ("base_spare", base_spare),
        ("table", PROJECTS.to_string()),
        ("tasks", TASKS.to_string()),
        ("rec", rec),
        ("field", seed.field),
        ("task_rec", seed.task),
        ("attachments", TASK_ATTACHMENTS.to_string()),
    ]);
    World { owner, caller, values }
}

/// `template` with every `${key}` replaced by the world's value (`${uniq}`: a fresh unique string).
fn fill(template: &str, values: &HashMap<&'static str, String>) -> String {
    let mut filled = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        filled.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').unwrap_or_else(|| panic!("an unclosed ${{ in {template}"));
        let key = &after[..end];
        if key == "uniq" {
            filled.push_str(&uuid::Uuid::new_v4().simple().to_string());
        } else {
            filled.push_str(values.get(key).unwrap_or_else(|| panic!("the world has no ${{{key}}} ({template})")));
        }
        rest = &after[end + 1..];
    }
    filled.push_str(rest);
    filled
}

/// The row's concrete path (and query) in `world`.
fn target(row: &Row, world: &World) -> String {
    let mut args = row.args.iter();
    let path: Vec<String> = row
        .path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                let key = args.next().unwrap_or_else(|| panic!("{}: too few arguments", row.name()));
                world.values.get(key).unwrap_or_else(|| panic!("{}: the world has no {key}", row.name())).clone()
            } else {
                segment.to_string()
            }
        })
        .collect();
    let path = path.join("/");
    match row.query {
        "" => path,
        query => format!("{path}?{}", fill(query, &world.values)),
    }
}

/// What one role got on one row.
struct Answer {
    row: usize,
    role: BuiltinRole,
    status: u16,
    excerpt: String,
}

/// Values read right before a row uses them (other rows change them): key, what the owner reads, where.
const LIVE: &[(&str, &str, &str)] = &[
    ("target_version", "/api/v1/users/${target}", "/version"),
    ("tenant_version", "/api/v1/tenants/current", "/version"),
];

/// One role's world on its own runner, and its answer to every row.
async fn run_role(app: &TestApp, role: BuiltinRole) -> Vec<Answer> {
    app.emulator().configure(ConfigPatch { base_rps: Some(0.0), token_rps: Some(0.0), ..ConfigPatch::default() });
    let admin = login_ok(app, ADMIN_EMAIL, ADMIN_PASSWORD).await.access;
    let mut world = world(app, &admin, role).await;
    let mut answers = Vec::with_capacity(ROWS.len());
    for (i, row) in ROWS.iter().enumerate() {
        for (key, path, pointer) in LIVE {
            if row.body.is_some_and(|b| b.contains(&format!("${{{key}}}"))) {
                let path = fill(path, &world.values);
                let read = made(app, Method::GET, &path, &world.owner.access, None, key).await;
                world.values.insert(key, text(&read, pointer));
            }
        }
        let method = Method::from_bytes(row.method.as_bytes()).unwrap();
        let body = row.body.map(|b| {
            let filled = fill(b, &world.values);
            serde_json::from_str::<Value>(&filled).unwrap_or_else(|e| panic!("{}: body {filled}: {e}", row.name()))
        });
        let response = call(app, method, &target(row, &world), &world.caller.access, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(140).collect();
        answers.push(Answer { row: i, role, status, excerpt });
    }
    answers
}

fn denies(row: &Row, status: u16) -> bool {
    status == 403 || (row.hides && status == 404)
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

async fn every_route_admits_exactly_the_roles_the_role_table_allows(app: TestApp) {
    let started = Instant::now();
    // The runners work at once, each one request at a time: moto's DynamoDB fails a transaction on a table
    // another request writes meanwhile (500), so requests overlap only across runners (separate tables).
    let adapters = ADAPTERS.with(Cell::get).expect("matrix_settings ran on this test's thread");
    let more = futures::future::join_all((1..RUNNERS).map(|_| TestApp::spawn_with(adapters, matrix_settings)));
    let more = more.await;
    let apps: Vec<&TestApp> = std::iter::once(&app).chain(&more).collect();
    // Roles dealt to the runners in turn; each runner takes its roles one after the other.
    let count = apps.len();
    let runs = apps.into_iter().enumerate().map(|(i, app)| async move {
        let mut answers = Vec::new();
        for role in BuiltinRole::ALL.into_iter().skip(i).step_by(count) {
            answers.extend(run_role(app, role).await);
        }
        answers
    });
    let answers: Vec<Answer> = futures::future::join_all(runs).await.into_iter().flatten().collect();
    for runner in more {
        runner.shutdown().await;
    }
    assert_eq!(answers.len(), ROWS.len() * BuiltinRole::ALL.len());

    let mut mismatches = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let allowed = answers.iter().filter(|a| !denies(&ROWS[a.row], a.status)).count();
    for answer in &answers {
        let row = &ROWS[answer.row];
        let (role, status) = (answer.role, answer.status);
        let got = !denies(row, status);
        let rule = intended(row.needs, role);
        let defect = row.defect.filter(|d| d.roles.contains(&role));
        let line = |want: bool| {
            let excerpt = &answer.excerpt;
            format!(
                "{:<72} {:<16} {:<6} {:<6} {status} {excerpt}",
                row.name(),
                role.as_str(),
                verdict(want),
                verdict(got)
            )
        };
        if status >= 500 {
            mismatches.push(format!("{}   <- a server error", line(rule)));
        } else if let Some(defect) = defect {
            // The row keeps the intended rule; today's answer is its opposite.
            if got == rule {
                mismatches.push(format!(
                    "{}   <- the known defect is gone ({}): remove its marker",
                    line(rule),
                    defect.note
                ));
            } else {
                warnings.push(format!("{}   <- known defect: {}", line(rule), defect.note));
            }
        } else if got != rule {
            mismatches.push(line(rule));
        } else if got && !(200..300).contains(&status) {
            notes.push(line(rule));
        }
    }
    let header = format!("{:<72} {:<16} {:<6} {:<6} got", "route", "role", "want", "is");
    if !warnings.is_empty() {
        eprintln!(
            "route matrix: WARNING, {} known defect(s), answered against the rule as expected:\n{header}\n{}",
            warnings.len(),
            warnings.join("\n")
        );
    }
    if !notes.is_empty() {
        eprintln!("route matrix: allowed, answered without a 2xx ({}):\n{header}\n{}", notes.len(), notes.join("\n"));
    }
    eprintln!(
        "route matrix: {} rows x {} roles = {} calls ({} allowed, {} denied) in {:.1?}",
        ROWS.len(),
        BuiltinRole::ALL.len(),
        answers.len(),
        allowed,
        answers.len() - allowed,
        started.elapsed()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es) between the role table and the routes:\n{header}\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
