//! The load tool: `wrk` (Debian's package), one thread, a fixed number of keep-alive connections, a fixed
//! duration; a Lua `done` hook prints its summary and latency percentiles as one JSON line.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

const REPORT_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"socket_errors":%d,"non_2xx":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#;

#[derive(Clone, Debug, Deserialize)]
pub struct Load {
    pub requests: u64,
    pub duration_us: u64,
    pub socket_errors: u64,
    pub non_2xx: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Load {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6).max(1e-9)
    }
}

/// `wrk -t1 -c<connections> -d<duration>` against `url` with `headers`.
pub async fn run(url: &str, connections: u32, duration: Duration, headers: &[String]) -> anyhow::Result<Load> {
    let script = crate::report::work_dir()?.join("report.lua");
    std::fs::write(&script, REPORT_LUA)?;
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(&script);
    for header in headers {
        command.arg("-H").arg(header);
    }
    let output =
        command.arg(url).output().await.context("Failed to run wrk: is it installed? (apt-get install wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {}{}", stdout, String::from_utf8_lossy(&output.stderr));
    }
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("no summary line from wrk")?;
    Ok(serde_json::from_str(line)?)
}

/// wrk's version line, for the results' machine description.
pub async fn version() -> String {
    let output = tokio::process::Command::new("wrk").arg("-v").output().await;
    output
        .ok()
        .map(|o| {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            text.lines().next().unwrap_or("wrk").split(" Copyright").next().unwrap_or("wrk").trim().to_string()
        })
        .unwrap_or_else(|| "wrk (not found)".into())
}
