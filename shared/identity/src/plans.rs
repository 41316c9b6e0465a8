//! Plans and their limits. Built in: `free`, `pro`, `enterprise`; `TENANT_PLANS` (a JSON object of plan name →
//! limits) replaces or adds plans. A request that would cross a limit is refused when it is made
//! (`403 plan_limit_reached`, naming the limit), before anything is written.

use std::collections::BTreeMap;

use platform::config::ConfigError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The default plan of a new tenant.
pub const DEFAULT_PLAN: &str = "free";

/// What a plan allows. Counts are inclusive maxima.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Members (users) of the tenant, pending invitations included.
    pub members: u64,
    pub workspaces: u64,
    pub airtable_connections: u64,
    pub airtable_requests_per_month: u64,
    pub automations: u64,
    pub file_storage_bytes: u64,
}

/// One limit by name, for errors and usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Members,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
        }
    }

    pub fn of(self, limits: &Limits) -> u64 {
        match self {
            Self::Members => limits.members,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans(BTreeMap<String, Limits>);

impl Default for Plans {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        let plan = |members, workspaces, connections, requests, automations, storage| Limits {
            members,
            workspaces,
            airtable_connections: connections,
            airtable_requests_per_month: requests,
            automations,
            file_storage_bytes: storage,
        };
        Self(BTreeMap::from([
            ("free".into(), plan(5, 3, 2, 100_000, 5, GIB)),
            ("pro".into(), plan(50, 50, 20, 2_000_000, 100, 100 * GIB)),
            ("enterprise".into(), plan(1_000, 1_000, 200, 50_000_000, 2_000, 2_048 * GIB)),
        ]))
    }
}

impl Plans {
    /// The built-in plans, with `TENANT_PLANS` applied.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut plans = Self::default();
        if let Some(raw) = platform::config::var("TENANT_PLANS") {
            let extra: BTreeMap<String, Limits> = serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid {
                name: "TENANT_PLANS".into(),
                reason: format!("expected {{\"plan\": {{\"members\": …, …}}}}: {e}"),
            })?;
            plans.0.extend(extra);
        }
        if !plans.0.contains_key(DEFAULT_PLAN) {
            return Err(ConfigError::Invalid {
                name: "TENANT_PLANS".into(),
                reason: "the free plan cannot be removed".into(),
            });
        }
        Ok(plans)
    }

    /// A plan's limits; an unknown plan (removed from the configuration) falls back to the default plan's.
    pub fn limits(&self, plan: &str) -> &Limits {
        self.0.get(plan).or_else(|| self.0.get(DEFAULT_PLAN)).unwrap_or(&FALLBACK)
    }

    pub fn contains(&self, plan: &str) -> bool {
        self.0.contains_key(plan)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Only reachable if a caller built `Plans` without the default plan (from_env refuses that).
static FALLBACK: Limits = Limits {
    members: 1,
    workspaces: 0,
    airtable_connections: 0,
    airtable_requests_per_month: 0,
    automations: 0,
    file_storage_bytes: 0,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_plans_grow_and_unknown_plans_get_the_free_limits() {
        let plans = Plans::default();
        assert!(plans.limits("free").members < plans.limits("pro").members);
        assert!(plans.limits("pro").members < plans.limits("enterprise").members);
        assert_eq!(plans.limits("gone"), plans.limits("free"));
        assert_eq!(Limit::Members.of(plans.limits("free")), 5);
    }
}
