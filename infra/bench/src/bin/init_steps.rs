//! Where a function's init goes beyond the bare hello's: the steps of a function's `main` (health's, plus each
//! AWS SDK client on its own), timed one by one in a fresh process and printed as one JSON object
//! (`{"steps": [[name, µs], …]}`). The cold-start benchmark runs it several times and reports the medians; the
//! process is otherwise what Lambda runs (same profile, same environment), minus the Runtime API connection.

use std::sync::Arc;
use std::time::Instant;

use storage::backend::{Backend, StorageMode, StorageSettings};

struct Laps {
    at: Instant,
    steps: Vec<(&'static str, u128)>,
}

impl Laps {
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.steps.push((name, now.duration_since(self.at).as_micros()));
        self.at = now;
    }
}

fn main() -> anyhow::Result<()> {
    let mut laps = Laps { at: Instant::now(), steps: Vec::new() };
    let mut certs = 0;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    laps.lap("tokio runtime");
    runtime.block_on(async {
        platform::telemetry::init("init-steps");
        laps.lap("telemetry::init (tracing subscriber, env filter)");
        let http = platform::config::HttpSettings::from_env()?;
        let storage = StorageSettings::from_env(StorageMode::Aws)?;
        laps.lap("settings from the environment");
        let loaded = rustls_native_certs::load_native_certs();
        certs = loaded.certs.len();
        laps.lap("the system trust store alone (rustls_native_certs::load_native_certs)");
        let config = storage::aws::sdk_config(&storage.aws).await;
        laps.lap("aws_config::load");
        std::hint::black_box(storage::aws::dynamodb(&config));
        laps.lap("DynamoDB client (validating it builds a TLS connector)");
        std::hint::black_box(storage::aws::sqs(&config));
        laps.lap("SQS client");
        std::hint::black_box(storage::aws::s3(&config, false));
        laps.lap("S3 client");
        let backend = Backend::open(&storage).await?;
        std::hint::black_box(backend.table("auth").await?);
        std::hint::black_box(backend.table("audit").await?);
        std::hint::black_box(
            backend.queue(&storage::queue::QueueSpec { name: "events".into(), dead_letter: None }).await?,
        );
        laps.lap("health's storage set-up (Backend::open, 2 tables, 1 queue: config + DynamoDB + SQS)");
        let (router, _) = platform::app::split(health::router(Arc::new(health::Readiness::default())));
        let _app = std::hint::black_box(platform::app::finish(router, &http));
        laps.lap("router (utoipa + platform shell)");
        anyhow::Ok(())
    })?;
    println!("{}", serde_json::json!({ "steps": laps.steps, "certs": certs }));
    Ok(())
}
