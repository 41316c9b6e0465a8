//! The webhooks settings, read once at cold start (the runner builds them from its own settings).
//!
//! | variable | read by | default | meaning |
//! |---|---|---|---|
//! | `WEBHOOK_ALLOWED_CIDRS` | API, deliveries | none | comma-separated CIDRs deliveries may reach although [`crate::ssrf`] refuses them (e.g. `127.0.0.0/8,::1/128` for local receivers) |
//! | `WEBHOOK_SECRET_OVERLAP_SECS` | API | 86400 | how long a rotated-out secret still signs (both signatures are sent) |
//! | `WEBHOOK_RETRY_SCHEDULE` | deliveries | `5s,5m,30m,2h,5h,10h,10h` | the delay before each retry (`ms`, `s`, `m`, `h`, `d`) |
//! | `WEBHOOK_TIMEOUT_MS` | deliveries | 15000 | one attempt, redirects included |
//! | `WEBHOOK_DISABLE_AFTER_DAYS` | deliveries | 5 | an endpoint failing without a success for this long is disabled (0: never) |

use std::time::Duration;

use platform::config::{ConfigError, parse_or, var};
use platform::group::Setting;

use crate::delivery::retry::RetrySchedule;
use crate::ssrf::AllowList;

pub const API_SETTINGS: &[Setting] =
    &[Setting::optional("WEBHOOK_ALLOWED_CIDRS"), Setting::optional("WEBHOOK_SECRET_OVERLAP_SECS")];

pub const DELIVERY_SETTINGS: &[Setting] = &[
    Setting::optional("WEBHOOK_ALLOWED_CIDRS"),
    Setting::optional("WEBHOOK_RETRY_SCHEDULE"),
    Setting::optional("WEBHOOK_TIMEOUT_MS"),
    Setting::optional("WEBHOOK_DISABLE_AFTER_DAYS"),
];

/// The longest attempt allowed: the delivery function's 30 s timeout must hold one, with room to record it.
const MAX_TIMEOUT: Duration = Duration::from_secs(25);
/// The longest rotation overlap.
const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub allowed: AllowList,
    pub secret_overlap: Duration,
    pub retry_schedule: RetrySchedule,
    pub timeout: Duration,
    /// `None`: never disable for failing.
    pub disable_after: Option<Duration>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allowed: AllowList::default(),
            secret_overlap: Duration::from_secs(24 * 3600),
            retry_schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(15),
            disable_after: Some(Duration::from_secs(5 * 86_400)),
        }
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name: name.into(), reason: reason.into() }
}

impl WebhookSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let allowed = match var("WEBHOOK_ALLOWED_CIDRS") {
            Some(raw) => raw.parse().map_err(|e: String| invalid("WEBHOOK_ALLOWED_CIDRS", e))?,
            None => defaults.allowed,
        };
        let retry_schedule = match var("WEBHOOK_RETRY_SCHEDULE") {
            Some(raw) => raw.parse().map_err(|e: String| invalid("WEBHOOK_RETRY_SCHEDULE", e))?,
            None => defaults.retry_schedule,
        };
        let overlap = Duration::from_secs(parse_or("WEBHOOK_SECRET_OVERLAP_SECS", defaults.secret_overlap.as_secs())?);
        if overlap > MAX_OVERLAP {
            return Err(invalid("WEBHOOK_SECRET_OVERLAP_SECS", format!("at most {}", MAX_OVERLAP.as_secs())));
        }
        let timeout = Duration::from_millis(parse_or("WEBHOOK_TIMEOUT_MS", 15_000u64)?);
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(invalid("WEBHOOK_TIMEOUT_MS", format!("1 to {}", MAX_TIMEOUT.as_millis())));
        }
        let days: u64 = parse_or("WEBHOOK_DISABLE_AFTER_DAYS", 5)?;
        Ok(Self {
            allowed,
            secret_overlap: overlap,
            retry_schedule,
            timeout,
            disable_after: (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400))),
        })
    }
}
