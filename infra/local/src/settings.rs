use platform::config::{ConfigError, HttpSettings, parse_or, var};
use storage::backend::{StorageMode, StorageSettings};

/// The runner's settings, read once: `BIND` (127.0.0.1), `PORT` (8080), `PUBLIC_URL` (how clients reach it,
/// for presigned blob URLs; default `http://BIND:PORT`), `GROUPS` (comma-separated; default every group),
/// plus every group's settings (storage, HTTP, auth, the Airtable gateway). Nothing below reads the
/// environment again: tests build this struct and inherit nothing.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub port: u16,
    pub public_url: Option<String>,
    pub storage: StorageSettings,
    pub http: HttpSettings,
    /// The auth function's settings (tokens, bcrypt cost, throttling, admin bootstrap); the authorizer uses
    /// the same token settings. Without `JWT_SIGNING_KEY` a key is generated once under the data dir.
    pub auth: auth::AuthSettings,
    /// The tenant service's settings (plans, invitation lifetime).
    pub tenants: tenants::TenantSettings,
    /// The tenants group's usage-plans consumer (`USAGE_PLAN_IDS`; its plans are `tenants.plans`): API Gateway
    /// keys with the AWS adapters (moto: usage plans created when provisioning), nothing with embedded storage.
    pub usage_plans: tenants::usage_plans::UsagePlanSettings,
    /// The Airtable gateway's settings (`AIRTABLE_*`).
    pub airtable: airtable::AirtableSettings,
    /// The workspaces service's settings (plans, the Airtable OAuth client).
    pub workspaces: workspaces::WorkspaceSettings,
    /// Outgoing webhooks (`WEBHOOK_*`: allowed CIDRs, retry schedule, timeout, rotation overlap).
    pub webhooks: webhooks::WebhookSettings,
    /// Notifications (`NOTIFICATIONS_*`: sender, per-tenant email rate, the invitation link).
    pub notifications: notifications::NotificationSettings,
    /// `DEMO_WORKSPACES` (default `true` with the embedded emulator): each tenant's first listing of
    /// workspaces or bases gives it a "Demo" workspace linked to its own copy of the emulator's demo bases.
    pub demo_workspaces: bool,
    /// `AIRTABLE_ENDPOINT_URL` unset: start the embedded emulator with the demo bases and use it.
    pub emulate_airtable: bool,
    /// The groups to serve (`GROUPS`); `None` = all. The authorizer always runs.
    pub groups: Option<Vec<String>>,
    /// `AIRTABLE_WEBHOOKS_PUBLIC_URL`: the API's root as Airtable reaches it, for change capture's webhooks.
    /// Unset: the runner's own URL when it emulates Airtable (the emulator pings it), else no change capture
    /// (Airtable cannot reach a laptop).
    pub airtable_webhooks_public_url: Option<String>,
    /// `AIRTABLE_CHANGE_CAPTURE` (default `true`; `false` in [`Settings::defaults`], which tests start from,
    /// so their upstream counts stay their own): register Airtable webhooks for linked bases.
    pub change_capture: bool,
    /// The automations' engine (`AUTOMATIONS_FAILPOINT` for the crash test; tests shorten its lease and
    /// retry delays).
    pub automations: automations::engine::EngineSettings,
    /// Files (`FILES_UPLOAD_TTL_SECS`: how long an upload URL works).
    pub files: files::FilesSettings,
    /// `USAGE_FLUSH_SECS` (default 10): how often each tenant's metered requests go to analytics.
    pub usage_flush: std::time::Duration,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let groups = platform::config::list("GROUPS");
        Ok(Self {
            bind: var("BIND").unwrap_or_else(|| "127.0.0.1".into()),
            port: parse_or::<u16>("PORT", 8080)?,
            public_url: var("PUBLIC_URL"),
            storage: StorageSettings::from_env(StorageMode::Embedded)?,
            http: HttpSettings::from_env().map_err(|e: ConfigError| anyhow::anyhow!(e))?,
            auth: auth::AuthSettings::from_env()?,
            tenants: tenants::TenantSettings::from_env()?,
            usage_plans: tenants::usage_plans::UsagePlanSettings::from_env()?,
            airtable: airtable::AirtableSettings::from_env()?,
            workspaces: workspaces::WorkspaceSettings::from_env()?,
            webhooks: webhooks::WebhookSettings::from_env()?,
            notifications: notifications::NotificationSettings::from_env()?,
            demo_workspaces: parse_or("DEMO_WORKSPACES", true)?,
            emulate_airtable: var("AIRTABLE_ENDPOINT_URL").is_none(),
            groups: (!groups.is_empty()).then_some(groups),
            airtable_webhooks_public_url: var("AIRTABLE_WEBHOOKS_PUBLIC_URL"),
            change_capture: parse_or("AIRTABLE_CHANGE_CAPTURE", true)?,
            automations: automations::engine::EngineSettings::from_env()?,
            files: files::FilesSettings::from_env()?,
            usage_flush: platform::usage::flush_interval_from_env()?,
        })
    }

    /// Every default, no environment: embedded storage under `data_dir`, the emulator for Airtable, every group.
    pub fn defaults(storage: StorageSettings) -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 0,
            public_url: None,
            storage,
            http: HttpSettings::default(),
            auth: auth::AuthSettings::default(),
            tenants: tenants::TenantSettings::default(),
            usage_plans: tenants::usage_plans::UsagePlanSettings::default(),
            airtable: airtable::AirtableSettings::new("https://api.airtable.com", None),
            workspaces: workspaces::WorkspaceSettings::default(),
            webhooks: webhooks::WebhookSettings::default(),
            notifications: notifications::NotificationSettings::default(),
            demo_workspaces: false,
            emulate_airtable: true,
            groups: None,
            airtable_webhooks_public_url: None,
            change_capture: false,
            automations: automations::engine::EngineSettings::default(),
            files: files::FilesSettings::default(),
            usage_flush: platform::usage::DEFAULT_FLUSH,
        }
    }
}
