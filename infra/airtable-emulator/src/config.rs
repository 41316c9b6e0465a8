//! How the emulator behaves, changeable while it runs (`PATCH /_emulator/config`) so one test can stage an
//! outage or slow writes without restarting it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Requests per second per base (Airtable: 5); 0 disables the limit.
    pub base_rps: f64,
    /// How many requests a base may take at once before the per-second rate applies (a token bucket).
    pub base_burst: f64,
    /// Requests per second per token (Airtable: 50); 0 disables the limit.
    pub token_rps: f64,
    /// After a 429, every request to that base is refused for this long (Airtable: 30 s).
    pub penalty_ms: u64,
    /// Added to every API request, after admission.
    pub latency_ms: u64,
    /// Added to every write on top of `latency_ms` (Airtable's writes take 0.5–1 s).
    pub write_latency_ms: u64,
    /// Answer every API request with 503 (an upstream outage).
    pub outage: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            base_rps: 5.0,
            base_burst: 5.0,
            token_rps: 50.0,
            penalty_ms: 30_000,
            latency_ms: 0,
            write_latency_ms: 0,
            outage: false,
        }
    }
}

/// A partial update: only the fields present change.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    pub base_rps: Option<f64>,
    pub base_burst: Option<f64>,
    pub token_rps: Option<f64>,
    pub penalty_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub write_latency_ms: Option<u64>,
    pub outage: Option<bool>,
}

impl EmulatorConfig {
    pub fn apply(&mut self, patch: ConfigPatch) {
        let ConfigPatch { base_rps, base_burst, token_rps, penalty_ms, latency_ms, write_latency_ms, outage } = patch;
        self.base_rps = base_rps.unwrap_or(self.base_rps);
        self.base_burst = base_burst.unwrap_or(self.base_burst);
        self.token_rps = token_rps.unwrap_or(self.token_rps);
        self.penalty_ms = penalty_ms.unwrap_or(self.penalty_ms);
        self.latency_ms = latency_ms.unwrap_or(self.latency_ms);
        self.write_latency_ms = write_latency_ms.unwrap_or(self.write_latency_ms);
        self.outage = outage.unwrap_or(self.outage);
    }
}
