//! Typed settings read once from the environment at cold start, failing fast with the variable's name.
//! Secret values never appear in an error or a log line.

use std::str::FromStr;

use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: String },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
}

/// A variable's value; unset and empty are the same.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn required(name: &str) -> Result<String, ConfigError> {
    var(name).ok_or_else(|| ConfigError::Missing { name: name.into() })
}

/// Parses a variable, or returns `default` when unset. The error names the variable, not the value.
pub fn parse_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => {
            raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { name: name.into(), reason: e.to_string() })
        }
    }
}

/// A comma-separated list; empty when unset.
pub fn list(name: &str) -> Vec<String> {
    var(name)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

pub fn secret(name: &str) -> Option<SecretString> {
    var(name).map(SecretString::from)
}

/// Settings of the HTTP shell every group shares.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// `CORS_ALLOWED_ORIGINS`: exact origins, or `*` (then credentials are never allowed).
    pub cors_allowed_origins: Vec<String>,
    /// `CORS_ALLOW_CREDENTIALS` (default false). Refused together with `*`.
    pub cors_allow_credentials: bool,
    /// `MAX_BODY_BYTES` (default 1 MiB; API Gateway's own limit is 10 MB).
    pub max_body_bytes: usize,
    /// `MAX_HEADER_BYTES` (default 16 KiB): every header field's name and value (`name: value\r\n`). API
    /// Gateway refuses more than 10,240 bytes of request line and header values before a function runs.
    pub max_header_bytes: usize,
    /// `MAX_HEADER_COUNT` (default 100, hyper's own default): header fields per request.
    pub max_header_count: usize,
}

impl HttpSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self {
            cors_allowed_origins: list("CORS_ALLOWED_ORIGINS"),
            cors_allow_credentials: parse_or("CORS_ALLOW_CREDENTIALS", false)?,
            max_body_bytes: parse_or("MAX_BODY_BYTES", 1024 * 1024)?,
            max_header_bytes: parse_or("MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES)?,
            max_header_count: parse_or("MAX_HEADER_COUNT", DEFAULT_MAX_HEADER_COUNT)?,
        }
        .validate()
    }

    /// Refuses combinations browsers would reject or that would leak credentials.
    pub fn validate(self) -> Result<Self, ConfigError> {
        let settings = self;
        if settings.cors_allow_credentials && settings.cors_allowed_origins.iter().any(|o| o == "*") {
            return Err(ConfigError::Invalid {
                name: "CORS_ALLOWED_ORIGINS".into(),
                reason: "a wildcard origin cannot be combined with CORS_ALLOW_CREDENTIALS=true".into(),
            });
        }
        if !(1024..=MAX_HEADER_BYTES_CEILING).contains(&settings.max_header_bytes) {
            return Err(ConfigError::Invalid {
                name: "MAX_HEADER_BYTES".into(),
                reason: format!("must be between 1024 and {MAX_HEADER_BYTES_CEILING}"),
            });
        }
        if !(16..=MAX_HEADER_COUNT_CEILING).contains(&settings.max_header_count) {
            return Err(ConfigError::Invalid {
                name: "MAX_HEADER_COUNT".into(),
                reason: format!("must be between 16 and {MAX_HEADER_COUNT_CEILING}"),
            });
        }
        Ok(settings)
    }
}

pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
pub const DEFAULT_MAX_HEADER_COUNT: usize = 100;
/// The most a server may be asked to accept: the local runner's HTTP parser reads heads up to these bounds
/// (so anything over the configured limits still reaches the shell, which answers a JSON 431).
pub const MAX_HEADER_BYTES_CEILING: usize = 256 * 1024;
pub const MAX_HEADER_COUNT_CEILING: usize = 1000;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            cors_allowed_origins: Vec::new(),
            cors_allow_credentials: false,
            max_body_bytes: 1024 * 1024,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_header_count: DEFAULT_MAX_HEADER_COUNT,
        }
    }
}
