//! The gateway's settings, read once at cold start. The Airtable token is a secret: it lives in a
//! `SecretString`, and nothing here prints it.

use std::time::Duration;

use platform::config::{ConfigError, parse_or, secret, var};
use platform::group::Setting;
use secrecy::SecretString;

#[derive(Clone, Debug)]
pub struct AirtableSettings {
    /// `AIRTABLE_ENDPOINT_URL` (default `https://api.airtable.com`).
    pub endpoint_url: String,
    /// `AIRTABLE_CONTENT_URL`: where uploadAttachment goes (Airtable serves it on
    /// `https://content.airtable.com`). Unset: that host when the endpoint is Airtable's, else the endpoint
    /// itself (an emulator serves both) — see [`AirtableSettings::content_url`].
    pub content_url: Option<String>,
    /// `AIRTABLE_API_KEY`: the platform's Airtable token (on AWS, resolved from Secrets Manager).
    pub api_key: Option<SecretString>,
    /// `AIRTABLE_TIMEOUT_MS` (8000): one upstream attempt, connection included.
    pub timeout: Duration,
    /// `AIRTABLE_CONNECT_TIMEOUT_MS` (2000).
    pub connect_timeout: Duration,
    /// `AIRTABLE_MAX_RETRIES` (2): extra attempts for reads (5xx, timeouts) and for any request that
    /// never reached Airtable (connection refused). Writes that may have reached it are never retried.
    pub max_retries: u32,
    /// `AIRTABLE_BASE_RPS` (5) and `AIRTABLE_TOKEN_RPS` (50): upstream requests per second, across every
    /// instance sharing the cache.
    pub base_rps: f64,
    pub token_rps: f64,
    /// `AIRTABLE_LIMITER_MARGIN_MS` (80): the limiter guarantees at most `base_rps` requests in any
    /// sliding window of 1 s + this margin, which absorbs jitter between a slot and the request's arrival
    /// at Airtable (see `limiter.rs`). Half of it bounds the lateness a request may have against its slot.
    pub limiter_margin: Duration,
    /// `AIRTABLE_LIMITER_MAX_WAIT_MS` (15000): how long a request may queue for its upstream slot before
    /// the client gets 429 + Retry-After instead.
    pub max_wait: Duration,
    /// `AIRTABLE_PENALTY_SECS` (30): after Airtable answers 429, nothing is sent to that base for this long.
    pub penalty: Duration,
    pub ttl: Ttls,
    /// `AIRTABLE_CACHE_MAX_STALE_SECS` (600): how far past its TTL a cached read may still be served when
    /// Airtable fails.
    pub max_stale: Duration,
}

/// The gateway's settings, then `$extra` (also for the automations' functions, which write through the gateway).
#[macro_export]
macro_rules! gateway_settings {
    ($($extra:literal),*) => {
        &[
            ::platform::group::Setting::optional("AIRTABLE_ENDPOINT_URL"),
            ::platform::group::Setting::optional("AIRTABLE_CONTENT_URL"),
            ::platform::group::Setting::optional("AIRTABLE_API_KEY"),
            ::platform::group::Setting::optional("AIRTABLE_TIMEOUT_MS"),
            ::platform::group::Setting::optional("AIRTABLE_CONNECT_TIMEOUT_MS"),
            ::platform::group::Setting::optional("AIRTABLE_MAX_RETRIES"),
            ::platform::group::Setting::optional("AIRTABLE_BASE_RPS"),
            ::platform::group::Setting::optional("AIRTABLE_TOKEN_RPS"),
            ::platform::group::Setting::optional("AIRTABLE_LIMITER_MARGIN_MS"),
            ::platform::group::Setting::optional("AIRTABLE_LIMITER_MAX_WAIT_MS"),
            ::platform::group::Setting::optional("AIRTABLE_PENALTY_SECS"),
            ::platform::group::Setting::optional("AIRTABLE_CACHE_TTL_BASES_SECS"),
            ::platform::group::Setting::optional("AIRTABLE_CACHE_TTL_SCHEMA_SECS"),
            ::platform::group::Setting::optional("AIRTABLE_CACHE_TTL_RECORDS_SECS"),
            ::platform::group::Setting::optional("AIRTABLE_CACHE_TTL_RECORD_SECS"),
            ::platform::group::Setting::optional("AIRTABLE_CACHE_MAX_STALE_SECS"),
            // OAuth connections' refreshes (tenancy::airtable::AirtableEndpoints).
            ::platform::group::Setting::optional("AIRTABLE_OAUTH_URL"),
            ::platform::group::Setting::optional("AIRTABLE_OAUTH_CLIENT_ID"),
            ::platform::group::Setting::optional("AIRTABLE_OAUTH_CLIENT_SECRET"),
            ::platform::group::Setting::optional("AIRTABLE_OAUTH_REDIRECT_URI"),
            $(::platform::group::Setting::optional($extra),)*
        ]
    };
}

/// The environment variables [`AirtableSettings::from_env`] reads.
pub const SETTINGS: &[Setting] = gateway_settings!();

/// What change capture's functions read: the gateway's settings and `AIRTABLE_WEBHOOKS_PUBLIC_URL` (the API's
/// root URL as Airtable reaches it; unset, no webhook is registered).
pub const CAPTURE_SETTINGS: &[Setting] = gateway_settings!("AIRTABLE_WEBHOOKS_PUBLIC_URL");

/// Cache TTLs per kind of read: `AIRTABLE_CACHE_TTL_{BASES,SCHEMA,RECORDS,RECORD}_SECS`.
#[derive(Clone, Copy, Debug)]
pub struct Ttls {
    pub bases: Duration,
    pub schema: Duration,
    pub records: Duration,
    pub record: Duration,
}

fn millis(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(parse_or(name, u64::try_from(default.as_millis()).unwrap_or(u64::MAX))?))
}

fn secs(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(parse_or(name, default.as_secs())?))
}

fn rate(name: &str, default: f64) -> Result<f64, ConfigError> {
    let value: f64 = parse_or(name, default)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ConfigError::Invalid { name: name.into(), reason: "must be a positive number".into() })
    }
}

impl AirtableSettings {
    /// The defaults, against `endpoint_url` (tests and the local runner start from here).
    pub fn new(endpoint_url: impl Into<String>, api_key: Option<SecretString>) -> Self {
        Self {
            endpoint_url: endpoint_url.into(),
            content_url: None,
            api_key,
            timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(2),
            max_retries: 2,
            base_rps: 5.0,
            token_rps: 50.0,
            limiter_margin: Duration::from_millis(80),
            max_wait: Duration::from_secs(15),
            penalty: Duration::from_secs(30),
            ttl: Ttls {
                bases: Duration::from_secs(300),
                schema: Duration::from_secs(300),
                records: Duration::from_secs(30),
                record: Duration::from_secs(30),
            },
            max_stale: Duration::from_secs(600),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::new("https://api.airtable.com", None);
        Ok(Self {
            endpoint_url: var("AIRTABLE_ENDPOINT_URL").unwrap_or(d.endpoint_url),
            content_url: var("AIRTABLE_CONTENT_URL"),
            api_key: secret("AIRTABLE_API_KEY"),
            timeout: millis("AIRTABLE_TIMEOUT_MS", d.timeout)?,
            connect_timeout: millis("AIRTABLE_CONNECT_TIMEOUT_MS", d.connect_timeout)?,
            max_retries: parse_or("AIRTABLE_MAX_RETRIES", d.max_retries)?,
            base_rps: rate("AIRTABLE_BASE_RPS", d.base_rps)?,
            token_rps: rate("AIRTABLE_TOKEN_RPS", d.token_rps)?,
            limiter_margin: millis("AIRTABLE_LIMITER_MARGIN_MS", d.limiter_margin)?,
            max_wait: millis("AIRTABLE_LIMITER_MAX_WAIT_MS", d.max_wait)?,
            penalty: secs("AIRTABLE_PENALTY_SECS", d.penalty)?,
            ttl: Ttls {
                bases: secs("AIRTABLE_CACHE_TTL_BASES_SECS", d.ttl.bases)?,
                schema: secs("AIRTABLE_CACHE_TTL_SCHEMA_SECS", d.ttl.schema)?,
                records: secs("AIRTABLE_CACHE_TTL_RECORDS_SECS", d.ttl.records)?,
                record: secs("AIRTABLE_CACHE_TTL_RECORD_SECS", d.ttl.record)?,
            },
            max_stale: secs("AIRTABLE_CACHE_MAX_STALE_SECS", d.max_stale)?,
        })
    }

    /// Where uploadAttachment goes: `AIRTABLE_CONTENT_URL`, else Airtable's content host for Airtable's API
    /// host, else the endpoint itself (an emulator or a proxy serves both).
    pub fn content_url(&self) -> String {
        if let Some(url) = &self.content_url {
            return url.clone();
        }
        match self.endpoint_url.trim_end_matches('/') {
            "https://api.airtable.com" => "https://content.airtable.com".into(),
            other => other.into(),
        }
    }

    /// The token, or the error that names the missing variable.
    pub fn require_api_key(&self) -> Result<SecretString, ConfigError> {
        self.api_key.clone().ok_or_else(|| ConfigError::Missing { name: "AIRTABLE_API_KEY".into() })
    }

    /// The longest a read may hold the cross-instance fill lock: queueing, then every attempt.
    pub fn fill_budget(&self) -> Duration {
        self.max_wait + self.timeout * (self.max_retries + 1) + Duration::from_secs(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_go_to_airtables_content_host_or_to_the_emulator_itself() {
        let airtable = "https://content.airtable.com";
        assert_eq!(AirtableSettings::new("https://api.airtable.com", None).content_url(), airtable);
        assert_eq!(AirtableSettings::new("https://api.airtable.com/", None).content_url(), airtable);
        // The local runner points the endpoint at its emulator after reading the environment.
        let mut settings = AirtableSettings::new("https://api.airtable.com", None);
        settings.endpoint_url = "http://127.0.0.1:9".into();
        assert_eq!(settings.content_url(), "http://127.0.0.1:9");
        settings.content_url = Some("https://uploads.example".into());
        assert_eq!(settings.content_url(), "https://uploads.example");
    }
}
