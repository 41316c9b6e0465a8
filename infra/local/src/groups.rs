//! The composition: which endpoint groups, consumers and schedules the local runner serves, each built from
//! the same library code its Lambda function uses. Add a group here when its function lands.

use std::sync::Arc;
use std::time::Duration;

use identity::TokenService;
use identity::tokens::KeySet;
use platform::gateway::Authorizer;
use storage::backend::Backend;
use utoipa_axum::router::OpenApiRouter;

use crate::Settings;
use crate::poller::Consumer;
use crate::scheduler::Schedule;

/// The events consumer's batch and visibility timeout (template.yaml: BatchSize 10, 6 × the timeout).
const EVENTS_BATCH: usize = 10;
const EVENTS_VISIBILITY: Duration = Duration::from_secs(60);

pub struct Composition {
    /// Every group's routes, with their part of the API document.
    pub router: OpenApiRouter,
    /// Local-only routes that are not part of the API (the embedded blob store's presigned URLs).
    pub unrouted: axum::Router,
    pub authorizer: Arc<dyn Authorizer>,
    pub consumers: Vec<Consumer>,
    pub schedules: Vec<Schedule>,
}

pub async fn compose(
    backend: &Backend,
    settings: &Settings,
    _public_url: &str,
    airtable: Option<airtable::AirtableSettings>,
) -> anyhow::Result<Composition> {
    let events_queue = backend.queue(&events::queue_spec()).await?;
    let mut readiness = health::Readiness::default();
    readiness.cache(backend.cache().await?);
    readiness.table(identity::TABLE, backend.table(identity::TABLE).await?);
    readiness.table(audit::store::TABLE, backend.table(audit::store::TABLE).await?);
    readiness.queue(events_queue.clone());

    // One key set for the auth routes and the authorizer: on AWS both read the same secret; here it is
    // generated once under the data dir unless JWT_SIGNING_KEY is set.
    let token_settings = &settings.auth.tokens;
    let keys = KeySet::from_settings(token_settings, Some(&settings.storage.data_dir))?;
    let tokens = TokenService::new(keys, token_settings.clone());

    let namespace = &settings.storage.table_prefix;
    let auth_state = Arc::new(auth::AuthState::build(backend, &settings.auth, tokens.clone(), namespace).await?);
    if let Some(admin) = &settings.auth.admin {
        auth::bootstrap::ensure_admin(&auth_state, admin).await?;
    }
    let users_state = Arc::new(users::UsersState::build(backend).await?);
    let audit_state = Arc::new(audit::AuditState::build(backend).await?);
    let authorizer = Arc::new(authorizer::State::build(backend, tokens).await?);
    let (airtable_routes, airtable_local) = airtable_gateway(backend, settings, airtable).await?;

    let router = OpenApiRouter::new()
        .merge(health::router(Arc::new(readiness)))
        .merge(auth::router(auth_state))
        .merge(users::router(users_state))
        .merge(audit::router(audit_state.clone()))
        .merge(airtable_routes);

    let audit_consumer = Consumer {
        queue: events_queue,
        handler: Arc::new(move |event| {
            let state = audit_state.clone();
            Box::pin(async move { Ok(audit::consumer::handle(&state, event).await) })
        }),
        batch_size: EVENTS_BATCH,
        visibility: EVENTS_VISIBILITY,
    };

    Ok(Composition {
        router,
        unrouted: axum::Router::new().merge(airtable_local),
        authorizer,
        consumers: vec![audit_consumer],
        schedules: Vec::new(),
    })
}

// ---------------------------------------------------------------- airtable (the gateway, issue 4)

/// The Airtable gateway against `AIRTABLE_ENDPOINT_URL`, or (unset) against an embedded emulator serving
/// the demo bases on its own loopback port. `airtable`: the gateway's settings (default: from `AIRTABLE_*`). Returns its routes and the local-only ones: `/metrics`
/// (Prometheus text) and `/_local/airtable-emulator` (where the emulator listens: tests stage outages there).
async fn airtable_gateway(
    backend: &Backend,
    settings: &Settings,
    airtable: Option<airtable::AirtableSettings>,
) -> anyhow::Result<(OpenApiRouter, axum::Router)> {
    use secrecy::ExposeSecret;

    let mut airtable = match airtable {
        Some(airtable) => airtable,
        None => airtable::AirtableSettings::from_env()?,
    };
    let mut local = axum::Router::new();
    if platform::config::var("AIRTABLE_ENDPOINT_URL").is_none() {
        // The emulator accepts the configured token, or its dev token: either way it guards only demo data.
        let token =
            airtable.api_key.get_or_insert_with(|| airtable_emulator::DEV_TOKEN.into()).expose_secret().to_string();
        let emulator =
            airtable_emulator::spawn(airtable_emulator::Emulator::demo(token), ([127, 0, 0, 1], 0).into()).await?;
        let url = emulator.url();
        tracing::info!(emulator_url = %url, "Airtable emulator with the demo bases (set AIRTABLE_ENDPOINT_URL to use another Airtable)");
        airtable.endpoint_url = url.clone();
        let where_it_is = move || std::future::ready(axum::Json(serde_json::json!({ "url": url })));
        local = local.route("/_local/airtable-emulator", axum::routing::get(where_it_is));
    }
    let metrics = airtable::Metrics::local();
    let credentials = airtable::credentials::from_settings(airtable.api_key.clone());
    let namespace = &settings.storage.table_prefix;
    let gateway = airtable::Gateway::new(&airtable, backend.cache().await?, namespace, credentials, metrics.clone())?;
    Ok((airtable::router(gateway), local.merge(airtable::metrics::router(metrics))))
}
