//! The tenant service's settings: `TENANT_PLANS` (see [`identity::plans`]) and `INVITATION_TTL_SECS`
//! (default 7 days, at most 30).

use std::time::Duration;

use identity::plans::Plans;
use platform::config::{ConfigError, parse_or};

pub const DEFAULT_INVITATION_TTL: Duration = Duration::from_secs(7 * 86_400);
const MAX_INVITATION_TTL_SECS: u64 = 30 * 86_400;

#[derive(Clone, Debug)]
pub struct TenantSettings {
    pub plans: Plans,
    pub invitation_ttl: Duration,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self { plans: Plans::default(), invitation_ttl: DEFAULT_INVITATION_TTL }
    }
}

impl TenantSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let ttl = parse_or("INVITATION_TTL_SECS", DEFAULT_INVITATION_TTL.as_secs())?;
        if ttl == 0 || ttl > MAX_INVITATION_TTL_SECS {
            return Err(ConfigError::Invalid {
                name: "INVITATION_TTL_SECS".into(),
                reason: format!("must be 1 to {MAX_INVITATION_TTL_SECS} seconds"),
            });
        }
        Ok(Self { plans: Plans::from_env()?, invitation_ttl: Duration::from_secs(ttl) })
    }
}
