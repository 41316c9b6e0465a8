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
    /// A strict per-base limit, as an upstream that counts a sliding window does: at most `base_rps`
    /// requests (rounded down, at least 1) in any 1-second window, counted as requests arrive, instead of the
    /// forgiving token bucket. The next one is refused (429) and the base penalised for `penalty_ms`.
    /// Off by default; `AIRTABLE_EMULATOR_SLIDING_WINDOW=true` turns it on for the emulator binary.
    pub sliding_window: bool,
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
            sliding_window: false,
        }
    }
}

/// A partial update: only the fields present change.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_rps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_burst: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_rps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub penalty_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<bool>,
}

impl EmulatorConfig {
    pub fn apply(&mut self, patch: ConfigPatch) {
        let ConfigPatch {
            base_rps,
            base_burst,
            token_rps,
            penalty_ms,
            latency_ms,
            write_latency_ms,
            outage,
            sliding_window,
        } = patch;
        self.base_rps = base_rps.unwrap_or(self.base_rps);
        self.base_burst = base_burst.unwrap_or(self.base_burst);
        self.token_rps = token_rps.unwrap_or(self.token_rps);
        self.penalty_ms = penalty_ms.unwrap_or(self.penalty_ms);
        self.latency_ms = latency_ms.unwrap_or(self.latency_ms);
        self.write_latency_ms = write_latency_ms.unwrap_or(self.write_latency_ms);
        self.outage = outage.unwrap_or(self.outage);
        self.sliding_window = sliding_window.unwrap_or(self.sliding_window);
    }

    /// The defaults, with what the environment changes: `AIRTABLE_EMULATOR_SLIDING_WINDOW` (`true`/`false`).
    pub fn from_env() -> Result<Self, platform::config::ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            sliding_window: platform::config::parse_or("AIRTABLE_EMULATOR_SLIDING_WINDOW", defaults.sliding_window)?,
            ..defaults
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_patch_turns_the_sliding_window_on_and_leaves_the_rest() {
        let mut config = EmulatorConfig::default();
        assert!(!config.sliding_window);
        let patch: ConfigPatch = serde_json::from_str(r#"{"sliding_window": true}"#).unwrap();
        config.apply(patch);
        assert!(config.sliding_window);
        assert_eq!(config.base_rps, 5.0);
        let echoed =
            serde_json::to_value(ConfigPatch { sliding_window: Some(false), ..ConfigPatch::default() }).unwrap();
        assert_eq!(echoed, serde_json::json!({"sliding_window": false}));
        assert!(serde_json::from_str::<ConfigPatch>(r#"{"slidingWindow": true}"#).is_err());
    }
}
