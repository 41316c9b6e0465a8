//! `cargo run -p airtable-emulator`: the demo bases on http://127.0.0.1:8787 (`AIRTABLE_EMULATOR_BIND`),
//! accepting `AIRTABLE_API_KEY` (default: the emulator's dev token) as `Authorization: Bearer …`.
//! `AIRTABLE_EMULATOR_SLIDING_WINDOW=true` starts it with the strict sliding-window rate limit.

use std::net::SocketAddr;

use airtable_emulator::{DEV_TOKEN, Emulator, EmulatorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform::telemetry::init("airtable-emulator");
    let bind: SocketAddr =
        platform::config::parse_or("AIRTABLE_EMULATOR_BIND", SocketAddr::from(([127, 0, 0, 1], 8787)))?;
    // The token the emulator accepts guards nothing but demo data, so it is handled as plain text.
    let token = platform::config::var("AIRTABLE_API_KEY").unwrap_or_else(|| DEV_TOKEN.to_string());
    let config = EmulatorConfig::from_env()?;
    let emulator = Emulator::new(airtable_emulator::seed::demo_bases(), vec![token], config);
    let running = airtable_emulator::spawn(emulator, bind).await?;
    tracing::info!(url = %running.url(), "Airtable emulator listening with the demo bases");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
