use platform::config::{ConfigError, HttpSettings, parse_or, var};
use storage::backend::{StorageMode, StorageSettings};

/// The runner's settings: `BIND` (127.0.0.1), `PORT` (8080), `PUBLIC_URL` (how clients reach it, for
/// presigned blob URLs; default `http://BIND:PORT`), plus the storage, HTTP and auth settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub port: u16,
    pub public_url: Option<String>,
    pub storage: StorageSettings,
    pub http: HttpSettings,
    /// The auth function's settings (tokens, bcrypt cost, throttling, admin bootstrap); the authorizer uses
    /// the same token settings. Without `JWT_SIGNING_KEY` a key is generated once under the data dir.
    pub auth: auth::AuthSettings,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            bind: var("BIND").unwrap_or_else(|| "127.0.0.1".into()),
            port: parse_or::<u16>("PORT", 8080)?,
            public_url: var("PUBLIC_URL"),
            storage: StorageSettings::from_env(StorageMode::Embedded)?,
            http: HttpSettings::from_env().map_err(|e: ConfigError| anyhow::anyhow!(e))?,
            auth: auth::AuthSettings::from_env()?,
        })
    }
}
