//! The local runner: every endpoint group's Router in one axum server, with API Gateway's part played by
//! [`platform::gateway`] (the authorizer function's own code before every protected route, then the tenant's
//! API rate by plan, [`identity::api_rate`], as API Gateway's usage plans would), SQS's by the
//! queue pollers, EventBridge's by the scheduler. Storage is embedded by default; `STORAGE=aws` uses the AWS
//! adapters (against `AWS_ENDPOINT_URL`, e.g. moto) so the same runner drives end-to-end tests of both.

mod contract;
mod demo;
mod docs;
mod groups;
mod poller;
mod scheduler;
mod server;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use platform::gateway::{Gateway, RouteTable};
use storage::backend::Backend;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use airtable::AirtableSettings;
pub use groups::{GROUPS, declarations};
pub use settings::Settings;

pub struct Running {
    pub addr: SocketAddr,
    pub routes: RouteTable,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The embedded Airtable emulator (tests issue it tokens and read its state in-process).
    pub emulator: Option<airtable_emulator::Emulator>,
    /// The embedded schedules (automations' schedule triggers), ticking every second; tests tick them with
    /// any clock. `None` with the AWS adapters (EventBridge Scheduler fires; moto never does).
    pub schedules: Option<Arc<storage::schedules::embedded::EmbeddedSchedules>>,
    /// The storage the groups opened (tests reach its queues: a redelivered message, say).
    pub backend: Arc<Backend>,
    /// Each tenant's metered requests, waiting for their flush.
    pub usage: Arc<platform::usage::Meter>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests and queue batches finish, then returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await.context("a runner task panicked")?;
        }
        // After the last request: what waits is in the queue for analytics (at the next start if it stopped too).
        self.usage.flush().await;
        Ok(())
    }
}

/// Sends each tenant's metered usage every flush interval, and whenever too many rows wait, until stopped
/// ([`Running::shutdown`] sends the rest).
async fn flush_usage(meter: Arc<platform::usage::Meter>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(meter.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                meter.flush().await;
            }
            () = meter.filled() => {
                meter.flush().await;
            }
            _ = stop.changed() => break,
        }
    }
}

pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind((settings.bind.as_str(), settings.port))
        .await
        .with_context(|| format!("Failed to listen on {}:{}", settings.bind, settings.port))?;
    let addr = listener.local_addr()?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));

    let backend = Arc::new(Backend::open(&settings.storage).await.context("Failed to open storage")?);
    let composition = groups::compose(backend.clone(), &settings, &public_url).await?;
    let (router, api) = platform::app::split(composition.router);
    let routes = RouteTable::from_openapi(&api)?;
    // The API's contract at /openapi.json and /docs: the runner's own routes, outside the gateway.
    let contract = contract::router(&contract::document(&api, &public_url)?)?;
    let gateway = Arc::new(Gateway {
        routes: routes.clone(),
        authorizer: composition.authorizer,
        tenant_limits: Some(composition.tenant_limits),
    });
    let router = router.layer(axum::middleware::from_fn_with_state(gateway, platform::gateway::gate));
    // Prometheus text at /metrics: every group's requests and business counters, the gateway's counters.
    // Each tenant's requests, metered into analytics' `analytics-requests` queue (flushed below).
    let meter = platform::usage::Meter::new(backend.queue(&platform::usage::queue_spec()).await?, settings.usage_flush);
    let metrics = platform::metrics::Registry::metering(meter.clone());
    let gateway_metrics = composition.airtable_metrics.clone();
    let serve_metrics = {
        let metrics = metrics.clone();
        move || {
            let text = platform::metrics::prometheus(&metrics) + &gateway_metrics.prometheus();
            std::future::ready(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
        }
    };
    let metrics_route = axum::Router::new().route("/metrics", axum::routing::get(serve_metrics));
    let app = platform::app::finish_with(
        router.merge(composition.unrouted).merge(backend.local_routes()).merge(contract).merge(metrics_route),
        &settings.http,
        metrics,
    );

    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(server::serve(listener, app, stopped.clone())));
    for mut consumer in composition.consumers {
        // What a consumer counts with `usage::count` goes into the runner's one meter.
        let (handler, meter) = (consumer.handler.clone(), meter.clone());
        consumer.handler = Arc::new(move |event| {
            let (handler, meter) = (handler.clone(), meter.clone());
            Box::pin(platform::usage::metering(meter, async move { handler(event).await }))
        });
        tasks.push(tokio::spawn(poller::run(consumer, stopped.clone())));
    }
    tasks.push(tokio::spawn(flush_usage(meter.clone(), stopped.clone())));
    for schedule in composition.schedules {
        tasks.push(tokio::spawn(scheduler::run(schedule, stopped.clone())));
    }
    let schedules = match settings.groups.as_ref().is_none_or(|g| g.iter().any(|n| n == automations::GROUP.name)) {
        true => backend.embedded_schedules(&automations::jobs::queue_spec())?,
        false => None,
    };
    if let Some(clock) = schedules.clone() {
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                () = clock.run() => {}
                _ = stopped.changed() => {}
            }
        }));
    }

    tracing::info!(url = %public_url, storage = %backend.describe(), routes = routes.routes().len(), "PyAirtable local runner listening");
    for route in routes.routes() {
        tracing::debug!(method = %route.method, path = %route.path, public = route.public, "route");
    }
    Ok(Running { addr, routes, stop, tasks, emulator: composition.emulator, schedules, backend, usage: meter })
}
