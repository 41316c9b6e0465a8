//! The workspaces service's settings: plans (`TENANT_PLANS`, see [`identity::plans`]) and where Airtable is,
//! with the platform's OAuth client ([`tenancy::airtable::AirtableEndpoints::from_env`]).

use identity::plans::Plans;
use platform::config::ConfigError;
use platform::group::Setting;

pub const SETTINGS: &[Setting] = &[
    Setting::optional("TENANT_PLANS"),
    Setting::optional("AIRTABLE_ENDPOINT_URL"),
    Setting::optional("AIRTABLE_OAUTH_URL"),
    Setting::optional("AIRTABLE_OAUTH_CLIENT_ID"),
    Setting::optional("AIRTABLE_OAUTH_CLIENT_SECRET"),
    Setting::optional("AIRTABLE_OAUTH_REDIRECT_URI"),
    Setting::optional("AIRTABLE_TIMEOUT_MS"),
];

#[derive(Clone, Debug, Default)]
pub struct WorkspaceSettings {
    pub plans: Plans,
    pub airtable: tenancy::airtable::AirtableEndpoints,
}

impl WorkspaceSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self { plans: Plans::from_env()?, airtable: tenancy::airtable::AirtableEndpoints::from_env()? })
    }
}
