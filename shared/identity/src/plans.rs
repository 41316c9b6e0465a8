//! Plans and their limits. Built in: `free`, `pro`, `enterprise`; `TENANT_PLANS` (a JSON object of plan name →
//! limits) replaces or adds plans. A request that would cross a limit is refused when it is made
//! (`403 plan_limit_reached`, naming the limit), before anything is written. The API rate
//! (`api_requests_per_second`, `api_burst`) is a gateway's to enforce per tenant: see [`crate::api_rate`].

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
    /// Automation runs started per calendar month (UTC); absent in `TENANT_PLANS`: 100 per automation allowed.
    #[serde(default)]
    pub automation_runs_per_month: Option<u64>,
    pub file_storage_bytes: u64,
    /// Sustained API requests per second per tenant (every protected route; at least 1).
    pub api_requests_per_second: u64,
    /// Requests a tenant may send at once above the sustained rate allows (a token bucket's size; at least 1).
    pub api_burst: u64,
}

/// One limit by name, for errors and usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Members,
    Workspaces,
    AirtableConnections,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Workspaces => "workspaces",
            Self::AirtableConnections => "airtable_connections",
        }
    }

    /// The refusal of a request that would cross this limit: `403 plan_limit_reached`, naming it.
    pub fn reached(self, allowed: u64) -> platform::ApiError {
        platform::ApiError::new(
            http::StatusCode::FORBIDDEN,
            "plan_limit_reached",
            format!("The plan allows {allowed} {}: remove some, or ask for a larger plan", self.name()),
        )
    }

    pub fn of(self, limits: &Limits) -> u64 {
        match self {
            Self::Members => limits.members,
            Self::Workspaces => limits.workspaces,
            Self::AirtableConnections => limits.airtable_connections,
        }
    }
}

impl Limits {
    /// Automation runs a month: as configured, else 100 per automation the plan allows.
    pub fn automation_runs(&self) -> u64 {
        self.automation_runs_per_month.unwrap_or(self.automations.saturating_mul(100))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans(BTreeMap<String, Limits>);

impl Default for Plans {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        let plan = |members, workspaces, connections, requests, automations, storage, (rps, burst)| Limits {
            members,
            workspaces,
            airtable_connections: connections,
            airtable_requests_per_month: requests,
            automations,
            automation_runs_per_month: Some(automations * 200),
            file_storage_bytes: storage,
            api_requests_per_second: rps,
            api_burst: burst,
        };
        Self(BTreeMap::from([
            ("free".into(), plan(5, 3, 2, 100_000, 5, GIB, (5, 10))),
            ("pro".into(), plan(50, 50, 20, 2_000_000, 100, 100 * GIB, (25, 50))),
            ("enterprise".into(), plan(1_000, 1_000, 200, 50_000_000, 2_000, 2_048 * GIB, (100, 200))),
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
        if let Some((name, _)) = plans.0.iter().find(|(_, l)| l.api_requests_per_second == 0 || l.api_burst == 0) {
            return Err(ConfigError::Invalid {
                name: "TENANT_PLANS".into(),
                reason: format!("plan {name}: api_requests_per_second and api_burst must be at least 1"),
            });
        }
        Ok(plans)
    }

    /// Every plan with this API rate (tests and benchmarks that must not be throttled, or must be soon).
    pub fn with_api_rate(mut self, requests_per_second: u64, burst: u64) -> Self {
        for limits in self.0.values_mut() {
            limits.api_requests_per_second = requests_per_second.max(1);
            limits.api_burst = burst.max(1);
        }
        self
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
    automation_runs_per_month: Some(0),
    file_storage_bytes: 0,
    api_requests_per_second: 1,
    api_burst: 1,
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
        let rate = |plan: &str| (plans.limits(plan).api_requests_per_second, plans.limits(plan).api_burst);
        assert_eq!([rate("free"), rate("pro"), rate("enterprise")], [(5, 10), (25, 50), (100, 200)]);
    }

    #[test]
    fn with_api_rate_sets_every_plan_and_never_zero() {
        let plans = Plans::default().with_api_rate(1, 2);
        assert!(plans.names().all(|p| (plans.limits(p).api_requests_per_second, plans.limits(p).api_burst) == (1, 2)));
        let floored = Plans::default().with_api_rate(0, 0);
        assert_eq!((floored.limits("pro").api_requests_per_second, floored.limits("pro").api_burst), (1, 1));
    }
}
