//! The composition: [`GROUPS`] lists every endpoint group with the function that builds its parts from the
//! same library code its Lambda functions use. What each group may open (its [`Resources`]), which of its
//! binaries are queue consumers (queue, batch, visibility) or schedules, and what `/ready` checks all come
//! from the group's declaration (`platform::group`); a builder only says how to make its handlers.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use identity::TokenService;
use identity::api_rate::ApiRateLimiter;
use identity::tokens::KeySet;
use platform::gateway::{Authorizer, TenantLimiter};
use platform::group::{Group, Kind, Resources};
use storage::backend::Backend;
use storage::queue::Queue;
use utoipa_axum::router::OpenApiRouter;

use crate::Settings;
use crate::poller::{Consumer, SqsHandler};
use crate::scheduler::{Schedule, ScheduledHandler};

/// What the runner shares between groups (as on AWS two functions share one secret).
pub struct Context<'a> {
    pub backend: Arc<Backend>,
    pub settings: &'a Settings,
    /// One key set for the auth routes and the authorizer: on AWS both read the same secret; here it is
    /// generated once under the data dir unless JWT_SIGNING_KEY is set.
    pub tokens: TokenService,
    /// The groups being served (readiness checks what they declare).
    pub served: Vec<&'static Group>,
    /// The gateway's per-tenant API rate limits by plan (API Gateway's usage plans on AWS), in the shared
    /// cache; the tenants group reads its counts for the usage route.
    pub api_rate: ApiRateLimiter,
    /// Where Airtable is for the gateway and the workspaces service (the embedded emulator's address and
    /// platform token under `emulate_airtable`).
    pub airtable: airtable::AirtableSettings,
    /// The embedded emulator, when there is one.
    pub emulator: Option<airtable_emulator::Emulator>,
    /// Each tenant's demo workspace (copies of the emulator's demo bases), when `DEMO_WORKSPACES` is on.
    pub demo: Option<Arc<dyn tenancy::demo::DemoProvisioner>>,
    /// How clients (and the emulator's webhook pings) reach the runner.
    pub public_url: &'a str,
    /// The Airtable gateway's counters, shared by every group that sends through a gateway (`/metrics`).
    pub airtable_metrics: Arc<airtable::Metrics>,
}

/// What one group contributes.
#[derive(Default)]
pub struct Parts {
    pub router: OpenApiRouter,
    /// Local-only routes outside the API (the emulator's address).
    pub unrouted: axum::Router,
    pub authorizer: Option<Arc<dyn Authorizer>>,
    /// A handler per consumer binary, with the queue it receives from.
    pub consumers: Vec<(&'static str, Arc<dyn Queue>, SqsHandler)>,
    /// A handler per scheduled binary.
    pub schedules: Vec<(&'static str, ScheduledHandler)>,
}

type Build = for<'a> fn(Resources, &'a Context<'a>) -> BoxFuture<'a, anyhow::Result<Parts>>;

/// Every group the runner can serve, in start order. A test checks this list against the crates under
/// functions/ and template.yaml's functions.
pub static GROUPS: &[(&Group, Build)] = &[
    (&health::GROUP, |r, c| Box::pin(build_health(r, c))),
    (&auth::GROUP, |r, c| Box::pin(build_auth(r, c))),
    (&authorizer::GROUP, |r, c| Box::pin(build_authorizer(r, c))),
    (&users::GROUP, |r, c| Box::pin(build_users(r, c))),
    (&tenants::GROUP, |r, c| Box::pin(build_tenants(r, c))),
    (&audit::GROUP, |r, c| Box::pin(build_audit(r, c))),
    (&relay::GROUP, |r, c| Box::pin(build_relay(r, c))),
    (&workspaces::GROUP, |r, c| Box::pin(build_workspaces(r, c))),
    (&webhooks::GROUP, |r, c| Box::pin(build_webhooks(r, c))),
    (&notifications::GROUP, |r, c| Box::pin(build_notifications(r, c))),
    (&airtable::GROUP, |r, c| Box::pin(build_airtable(r, c))),
    (&automations::GROUP, |r, c| Box::pin(build_automations(r, c))),
    (&files::GROUP, |r, c| Box::pin(build_files(r, c))),
    (&analytics::GROUP, |r, c| Box::pin(build_analytics(r, c))),
];

/// Every group's declaration.
pub fn declarations() -> Vec<&'static Group> {
    GROUPS.iter().map(|(group, _)| *group).collect()
}

pub struct Composition {
    /// Every group's routes, with their part of the API document.
    pub router: OpenApiRouter,
    pub unrouted: axum::Router,
    pub authorizer: Arc<dyn Authorizer>,
    pub tenant_limits: Arc<dyn TenantLimiter>,
    pub consumers: Vec<Consumer>,
    pub schedules: Vec<Schedule>,
    /// The embedded Airtable emulator, when the runner started one.
    pub emulator: Option<airtable_emulator::Emulator>,
    pub airtable_metrics: Arc<airtable::Metrics>,
}

pub async fn compose(backend: Arc<Backend>, settings: &Settings, public_url: &str) -> anyhow::Result<Composition> {
    let served = selected(settings)?;
    let token_settings = &settings.auth.tokens;
    let keys = KeySet::from_settings(token_settings, Some(&settings.storage.data_dir))?;
    let tokens = TokenService::new(keys, token_settings.clone());
    let cache = backend.cache().await?;
    let api_rate = ApiRateLimiter::new(cache, settings.tenants.plans.clone(), &backend.settings().table_prefix);
    let (airtable, emulator, local) = airtable_endpoint(settings).await?;
    let demo = match &emulator {
        Some(emulator) if settings.demo_workspaces => {
            Some(Arc::new(crate::demo::EmulatorDemo::new(emulator.clone())) as Arc<dyn tenancy::demo::DemoProvisioner>)
        }
        _ => None,
    };
    let context = Context {
        backend: backend.clone(),
        settings,
        tokens,
        served: served.iter().map(|(g, _)| *g).collect(),
        api_rate,
        airtable,
        emulator,
        demo,
        public_url,
        airtable_metrics: airtable::Metrics::local(),
    };

    let mut router = OpenApiRouter::new();
    let mut unrouted = local;
    let mut authorizer = None;
    let mut consumers = Vec::new();
    let mut schedules = Vec::new();
    for (group, build) in &served {
        let parts = build(Resources::for_group(backend.clone(), group), &context).await?;
        router = router.merge(platform::metrics::tag_group(parts.router, group.name));
        unrouted = unrouted.merge(parts.unrouted);
        authorizer = authorizer.or(parts.authorizer);
        let mut handlers = parts.consumers;
        let mut scheduled = parts.schedules;
        for function in group.functions {
            match function.kind {
                Kind::Consumer { batch_size, visibility_secs, .. } => {
                    let at = handlers.iter().position(|(binary, _, _)| *binary == function.binary);
                    let Some(at) = at else {
                        anyhow::bail!(
                            "group {} declares consumer {} but builds no handler for it",
                            group.name,
                            function.binary
                        )
                    };
                    let (_, queue, handler) = handlers.swap_remove(at);
                    consumers.push(Consumer {
                        queue,
                        handler,
                        batch_size: batch_size as usize,
                        visibility: Duration::from_secs(visibility_secs.into()),
                    });
                }
                Kind::Schedule { expression } => {
                    let at = scheduled.iter().position(|(binary, _)| *binary == function.binary);
                    let Some(at) = at else {
                        anyhow::bail!(
                            "group {} declares schedule {} but builds no handler for it",
                            group.name,
                            function.binary
                        )
                    };
                    let (_, handler) = scheduled.swap_remove(at);
                    let every = crate::scheduler::rate(expression)?;
                    schedules.push(Schedule { rule: function.binary.to_string(), every, handler });
                }
                Kind::Http | Kind::Authorizer => {}
            }
        }
        if let Some((binary, _, _)) = handlers.first() {
            anyhow::bail!("group {} builds a consumer for {binary}, which it does not declare", group.name);
        }
        if let Some((binary, _)) = scheduled.first() {
            anyhow::bail!("group {} builds a schedule for {binary}, which it does not declare", group.name);
        }
    }
    let Some(authorizer) = authorizer else { anyhow::bail!("no group built the authorizer") };
    let tenant_limits = Arc::new(context.api_rate.clone());
    let emulator = context.emulator.clone();
    let airtable_metrics = context.airtable_metrics.clone();
    Ok(Composition { router, unrouted, authorizer, tenant_limits, consumers, schedules, emulator, airtable_metrics })
}

/// `settings.groups` (default: all), with the authorizer always (it is API Gateway's part, not a choice).
fn selected(settings: &Settings) -> anyhow::Result<Vec<(&'static Group, Build)>> {
    let Some(names) = &settings.groups else { return Ok(GROUPS.to_vec()) };
    for name in names {
        if !GROUPS.iter().any(|(group, _)| group.name == name) {
            let known: Vec<_> = GROUPS.iter().map(|(g, _)| g.name).collect();
            anyhow::bail!("GROUPS names an unknown group {name} (known: {})", known.join(", "));
        }
    }
    let wanted = |group: &Group| group.name == authorizer::GROUP.name || names.iter().any(|n| n == group.name);
    Ok(GROUPS.iter().filter(|(group, _)| wanted(group)).copied().collect())
}

// ---------------------------------------------------------------- the builders, one per group

async fn build_health(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let readiness = health::Readiness::of(&resources, &context.served).await?;
    Ok(Parts { router: health::router(Arc::new(readiness)), ..Default::default() })
}

async fn build_auth(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let settings = &context.settings.auth;
    let plans = context.settings.tenants.plans.clone();
    let state =
        auth::AuthState::build(&resources, settings, context.tokens.clone(), resources.namespace(), plans).await?;
    if let Some(admin) = &settings.admin {
        auth::bootstrap::ensure_admin(&state, admin).await?;
    }
    Ok(Parts { router: auth::router(Arc::new(state)), ..Default::default() })
}

async fn build_authorizer(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let state = authorizer::State::build(&resources, context.tokens.clone()).await?;
    Ok(Parts { authorizer: Some(Arc::new(state)), ..Default::default() })
}

async fn build_users(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let auth = &context.settings.auth;
    let verify = auth.registration == auth::RegistrationMode::VerifyEmail;
    let settings = users::UsersSettings { confirm_email_changes: verify.then_some(auth.verification_ttl) };
    Ok(Parts {
        router: users::router(Arc::new(users::UsersState::build(&resources, settings).await?)),
        ..Default::default()
    })
}

/// Tenants: the API and the usage-plans consumer (`events-usage-plans`), which makes API Gateway keys with the
/// AWS adapters (moto) and nothing with embedded storage (the gateway here enforces the plans' rates itself).
async fn build_tenants(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let mut state = tenants::TenantsState::build(&resources, context.settings.tenants.clone()).await?;
    state.api_counts = Some(context.api_rate.clone());
    let mut settings = context.settings.usage_plans.clone();
    settings.plans = context.settings.tenants.plans.clone();
    let usage_plans = Arc::new(tenants::usage_plans::UsagePlansState::build(&resources, settings).await?);
    let queue = resources.queue(&events::routing::queue_spec(events::routing::USAGE_PLANS)).await?;
    let handler: SqsHandler = Arc::new(move |event| {
        let state = usage_plans.clone();
        Box::pin(async move { Ok(tenants::usage_plans::handle(&state, event).await) })
    });
    Ok(Parts {
        router: tenants::router(Arc::new(state)),
        consumers: vec![("usage-plans", queue, handler)],
        ..Default::default()
    })
}

async fn build_audit(resources: Resources, _: &Context<'_>) -> anyhow::Result<Parts> {
    let state = Arc::new(audit::AuditState::build(&resources).await?);
    let queue = resources.queue(&events::routing::queue_spec(events::routing::AUDIT)).await?;
    let consumer = state.clone();
    let handler: SqsHandler = Arc::new(move |event| {
        let state = consumer.clone();
        Box::pin(async move { Ok(audit::consumer::handle(&state, event).await) })
    });
    Ok(Parts {
        router: audit::router(state),
        consumers: vec![("audit-consumer", queue, handler)],
        ..Default::default()
    })
}

/// The outbox relay: one sweep now (anything in an outbox at start-up was left by a previous process, killed
/// between a commit and its publish), then the declared schedule.
async fn build_relay(resources: Resources, _: &Context<'_>) -> anyhow::Result<Parts> {
    let state = Arc::new(relay::RelayState::build(&resources).await?);
    if let Err(e) = state.sweep(Duration::ZERO).await {
        tracing::error!(error = ?e, "the start-up outbox sweep failed; the schedule retries");
    }
    let handler: crate::scheduler::ScheduledHandler = Arc::new(move |_event| {
        let state = state.clone();
        Box::pin(async move {
            state
                .sweep(relay::LEFT_BEHIND_AFTER)
                .await
                .map(drop)
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))
        })
    });
    Ok(Parts { router: OpenApiRouter::new(), schedules: vec![("event-relay", handler)], ..Default::default() })
}

/// Where Airtable is: `settings.airtable.endpoint_url`, or (`emulate_airtable`) an embedded emulator serving
/// the demo bases on its own loopback port, with its local-only route `/_local/airtable-emulator` (`{"url"}`:
/// tests stage outages and read its counters through its tokenless `/_emulator/…` routes; its tokens are not
/// served).
async fn airtable_endpoint(
    settings: &Settings,
) -> anyhow::Result<(airtable::AirtableSettings, Option<airtable_emulator::Emulator>, axum::Router)> {
    use secrecy::ExposeSecret;

    let mut airtable = settings.airtable.clone();
    if !settings.emulate_airtable {
        return Ok((airtable, None, axum::Router::new()));
    }
    // The emulator accepts the configured token or else a token made for this run and handed to the gateway
    // only (for bases a platform admin attaches to a tenant), never printed nor served.
    let token = airtable
        .api_key
        .get_or_insert_with(|| secrecy::SecretString::from(airtable_emulator::random_token()))
        .expose_secret()
        .to_string();
    let emulator =
        airtable_emulator::spawn(airtable_emulator::Emulator::demo(token), ([127, 0, 0, 1], 0).into()).await?;
    let url = emulator.url();
    tracing::info!(emulator_url = %url, "Airtable emulator with the demo bases (set AIRTABLE_ENDPOINT_URL to use another Airtable)");
    airtable.endpoint_url = url.clone();
    let where_it_is = move || std::future::ready(axum::Json(serde_json::json!({ "url": url })));
    let local = axum::Router::new().route("/_local/airtable-emulator", axum::routing::get(where_it_is));
    Ok((airtable, Some(emulator.emulator), local))
}

/// Where the workspaces service and the gateway's OAuth refreshes reach Airtable: the gateway's upstream, and
/// the emulator's OAuth endpoints when it is the emulator.
fn endpoints(context: &Context<'_>) -> tenancy::airtable::AirtableEndpoints {
    let mut endpoints = context.settings.workspaces.airtable.clone();
    endpoints.api_url = context.airtable.endpoint_url.clone();
    if context.emulator.is_some() {
        endpoints.oauth_url = context.airtable.endpoint_url.clone();
    }
    endpoints
}

async fn build_workspaces(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let mut settings = context.settings.workspaces.clone();
    settings.airtable = endpoints(context);
    let mut state = workspaces::WorkspacesState::build(&resources, settings).await?;
    state.demo = context.demo.clone();
    Ok(Parts { router: workspaces::router(Arc::new(state)), ..Default::default() })
}

/// Outgoing webhooks: the API, the bus consumer (`events-webhooks`) and the deliveries (`webhooks-deliveries`).
async fn build_webhooks(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let settings = context.settings.webhooks.clone();
    let api = Arc::new(webhooks::ApiState::build(&resources, settings.clone()).await?);
    let fanout = Arc::new(webhooks::fanout::FanoutState::build(&resources).await?);
    let delivery = Arc::new(webhooks::delivery::DeliveryState::build(&resources, settings).await?);
    let bus_queue = resources.queue(&events::routing::queue_spec(events::routing::WEBHOOKS)).await?;
    let jobs_queue = resources.queue(&webhooks::jobs::queue_spec()).await?;
    let fan_out: SqsHandler = Arc::new(move |event| {
        let state = fanout.clone();
        Box::pin(async move { Ok(webhooks::fanout::handle(&state, event).await) })
    });
    let deliver: SqsHandler = Arc::new(move |event| {
        let state = delivery.clone();
        Box::pin(async move { Ok(webhooks::delivery::handle(&state, event).await) })
    });
    Ok(Parts {
        router: webhooks::router(api),
        consumers: vec![("webhooks-fanout", bus_queue, fan_out), ("webhooks-delivery", jobs_queue, deliver)],
        ..Default::default()
    })
}

/// Notifications: the API and the bus consumer (`events-notifications`); emails, SMS and pushes land in the
/// embedded outbox with embedded storage, in SES and SNS (moto) with the AWS adapters.
async fn build_notifications(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let settings = context.settings.notifications.clone();
    let api = Arc::new(notifications::ApiState::build(&resources, &settings).await?);
    let consumer = Arc::new(notifications::consumer::ConsumerState::build(&resources, settings).await?);
    let queue = resources.queue(&events::routing::queue_spec(events::routing::NOTIFICATIONS)).await?;
    let handler: SqsHandler = Arc::new(move |event| {
        let state = consumer.clone();
        Box::pin(async move { Ok(notifications::consumer::handle(&state, event).await) })
    });
    Ok(Parts {
        router: notifications::router(api),
        consumers: vec![("notifications-consumer", queue, handler)],
        ..Default::default()
    })
}

/// The Airtable gateway, resolving every base through the caller's tenant (workspaces, permissions,
/// connections). Its counters are in the runner's `/metrics`.
async fn build_airtable(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let airtable = &context.airtable;
    let metrics = context.airtable_metrics.clone();
    let credentials =
        airtable::tenant_credentials(&resources, airtable, endpoints(context)).await?.with_demo(context.demo.clone());
    let cache = resources.cache().await?;
    let gateway =
        airtable::Gateway::new(airtable, cache, resources.namespace(), Arc::new(credentials), metrics.clone())?;
    // Change capture: on when Airtable can reach us (the emulator, or AIRTABLE_WEBHOOKS_PUBLIC_URL).
    let settings = context.settings;
    let public_url = settings
        .airtable_webhooks_public_url
        .clone()
        .or_else(|| context.emulator.is_some().then(|| context.public_url.to_string()))
        .filter(|_| settings.change_capture);
    let capture =
        Arc::new(airtable::capture(&resources, airtable, endpoints(context), metrics.clone(), public_url).await?);
    let notifier = Arc::new(airtable::changes::notify::Notifier::build(&resources).await?);
    let queue = resources.queue(&events::routing::queue_spec(airtable::changes::QUEUE)).await?;
    let consumer = capture.clone();
    let consume: SqsHandler = Arc::new(move |event| {
        let capture = consumer.clone();
        Box::pin(async move { Ok(airtable::changes::consumer::handle(&capture, event).await) })
    });
    let refresh: ScheduledHandler = Arc::new(move |_event| {
        let capture = capture.clone();
        Box::pin(async move {
            capture
                .refresh_due(airtable::changes::REFRESH_WITHIN_SECS)
                .await
                .map(drop)
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))
        })
    });
    let attach = airtable::routes::attach::Attach::build(&resources, gateway.clone(), context.public_url).await?;
    let attach = airtable::routes::attach::router(Arc::new(attach));
    Ok(Parts {
        router: airtable::router(gateway).merge(attach).merge(airtable::changes::notify::router(notifier)),
        consumers: vec![("airtable-changes", queue, consume)],
        schedules: vec![("airtable-webhooks-refresh", refresh)],
        ..Default::default()
    })
}

/// Automations: the API, the trigger consumer (`events-automations`) and the worker (`automations-runs`), whose
/// record actions go through a gateway built as the airtable group builds its own (the same cache, limiter
/// and credentials). With embedded storage the schedules fire into the runs queue from the runner's clock
/// (`start` spawns it; tests tick it).
async fn build_automations(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let settings = context.settings;
    let plans = settings.tenants.plans.clone();
    let api = Arc::new(automations::ApiState::build(&resources, plans.clone()).await?);
    let airtable = &context.airtable;
    let credentials =
        airtable::tenant_credentials(&resources, airtable, endpoints(context)).await?.with_demo(context.demo.clone());
    let gateway = airtable::Gateway::new(
        airtable,
        resources.cache().await?,
        resources.namespace(),
        Arc::new(credentials),
        context.airtable_metrics.clone(),
    )?;
    let parts = automations::engine::WorkerParts {
        gateway,
        plans,
        allowed: settings.webhooks.allowed.clone(),
        settings: settings.automations.clone(),
    };
    let worker = Arc::new(automations::engine::Worker::build(&resources, parts).await?);
    let bus_queue = resources.queue(&events::routing::queue_spec(events::routing::AUTOMATIONS)).await?;
    let runs_queue = resources.queue(&automations::jobs::queue_spec()).await?;
    let triggers = worker.clone();
    let on_event: SqsHandler = Arc::new(move |event| {
        let worker = triggers.clone();
        Box::pin(async move { Ok(automations::triggers::handle(&worker, event).await) })
    });
    let on_job: SqsHandler = Arc::new(move |event| {
        let worker = worker.clone();
        Box::pin(async move { Ok(automations::engine::handle(&worker, event).await) })
    });
    Ok(Parts {
        router: automations::router(api),
        consumers: vec![("automations-events", bus_queue, on_event), ("automations-worker", runs_queue, on_job)],
        ..Default::default()
    })
}

/// Files: the API and the processor (`files-uploads`). The bucket notifies the processor's queue of every
/// upload, as the stack configures S3 to on AWS; embedded presigned URLs point at the runner.
async fn build_files(resources: Resources, context: &Context<'_>) -> anyhow::Result<Parts> {
    let settings = context.settings;
    let plans = settings.tenants.plans.clone();
    let api = files::ApiState::build(&resources, context.public_url, plans, settings.files.clone()).await?;
    context.backend.notify_blob_puts(files::BUCKET, &files::jobs::queue_spec()).await?;
    let processor = api.files.clone();
    let queue = resources.queue(&files::jobs::queue_spec()).await?;
    let handle: SqsHandler = Arc::new(move |event| {
        let files = processor.clone();
        Box::pin(async move { Ok(files::lifecycle::handle(&files, event).await) })
    });
    Ok(Parts {
        router: files::router(Arc::new(api)),
        consumers: vec![("files-processor", queue, handle)],
        ..Default::default()
    })
}

/// Analytics: the API, the consumer metering every event (`events-analytics`) and the one metering every
/// tenant's requests (`analytics-requests`).
async fn build_analytics(resources: Resources, _context: &Context<'_>) -> anyhow::Result<Parts> {
    let api = Arc::new(analytics::ApiState::build(&resources).await?);
    let store = api.store.clone();
    let queue = resources.queue(&events::routing::queue_spec(events::routing::ANALYTICS)).await?;
    let handle: SqsHandler = Arc::new(move |event| {
        let store = store.clone();
        Box::pin(async move { Ok(analytics::consumer::handle(&store, event).await) })
    });
    let store = api.store.clone();
    let requests = resources.queue(&platform::usage::queue_spec()).await?;
    let handle_requests: SqsHandler = Arc::new(move |event| {
        let store = store.clone();
        Box::pin(async move { Ok(analytics::consumer::handle_usage(&store, event).await) })
    });
    Ok(Parts {
        router: analytics::router(api),
        consumers: vec![("analytics-events", queue, handle), ("analytics-requests", requests, handle_requests)],
        ..Default::default()
    })
}
