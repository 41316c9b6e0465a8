//! `cargo run`: the whole API on http://127.0.0.1:8080 with embedded storage. See the crate docs.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("local");
    let settings = local_runner::Settings::from_env()?;
    let running = local_runner::start(settings).await?;
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutting down: finishing in-flight requests and queue batches");
    running.shutdown().await
}
