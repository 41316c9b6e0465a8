//! What the platform asks Airtable about a connection, outside the gateway's request path: who a token
//! belongs to and which bases it reaches (validated on connect), and Airtable's OAuth token endpoint
//! (authorization code with PKCE, refresh with rotation). Tokens go out only in the `Authorization` header or
//! the token request's form body; nothing here logs them.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Where Airtable is, and the platform's OAuth client.
#[derive(Clone, Debug)]
pub struct AirtableEndpoints {
    /// The API (`https://api.airtable.com`).
    pub api_url: String,
    /// The OAuth host (`https://airtable.com`: `/oauth2/v1/authorize`, `/oauth2/v1/token`).
    pub oauth_url: String,
    pub oauth: Option<OAuthClient>,
    pub timeout: Duration,
}

impl Default for AirtableEndpoints {
    fn default() -> Self {
        Self {
            api_url: "https://api.airtable.com".into(),
            oauth_url: "https://airtable.com".into(),
            oauth: None,
            timeout: Duration::from_secs(8),
        }
    }
}

impl AirtableEndpoints {
    /// `AIRTABLE_ENDPOINT_URL`, `AIRTABLE_OAUTH_URL`, `AIRTABLE_TIMEOUT_MS` and the OAuth client
    /// (`AIRTABLE_OAUTH_CLIENT_ID`, `AIRTABLE_OAUTH_CLIENT_SECRET`, `AIRTABLE_OAUTH_REDIRECT_URI`; without a client
    /// id OAuth connections answer 503 and personal access tokens still work).
    pub fn from_env() -> Result<Self, platform::config::ConfigError> {
        use platform::config::{ConfigError, parse_or, secret, var};
        let defaults = Self::default();
        let oauth = match var("AIRTABLE_OAUTH_CLIENT_ID") {
            None => None,
            Some(client_id) => Some(OAuthClient {
                client_id,
                client_secret: secret("AIRTABLE_OAUTH_CLIENT_SECRET"),
                redirect_uri: var("AIRTABLE_OAUTH_REDIRECT_URI").ok_or_else(|| ConfigError::Invalid {
                    name: "AIRTABLE_OAUTH_REDIRECT_URI".into(),
                    reason: "is required with AIRTABLE_OAUTH_CLIENT_ID".into(),
                })?,
            }),
        };
        Ok(Self {
            api_url: var("AIRTABLE_ENDPOINT_URL").unwrap_or(defaults.api_url),
            oauth_url: var("AIRTABLE_OAUTH_URL").unwrap_or(defaults.oauth_url),
            oauth,
            timeout: Duration::from_millis(parse_or("AIRTABLE_TIMEOUT_MS", 8_000)?),
        })
    }
}

/// The settings [`AirtableEndpoints::from_env`] reads.
pub const SETTINGS: &[platform::group::Setting] = &[
    platform::group::Setting::optional("AIRTABLE_ENDPOINT_URL"),
    platform::group::Setting::optional("AIRTABLE_OAUTH_URL"),
    platform::group::Setting::optional("AIRTABLE_OAUTH_CLIENT_ID"),
    platform::group::Setting::optional("AIRTABLE_OAUTH_CLIENT_SECRET"),
    platform::group::Setting::optional("AIRTABLE_OAUTH_REDIRECT_URI"),
    platform::group::Setting::optional("AIRTABLE_TIMEOUT_MS"),
];

/// The platform's registered Airtable OAuth integration.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    pub client_id: String,
    /// Confidential clients authenticate with HTTP Basic; public ones send only `client_id`.
    pub client_secret: Option<SecretString>,
    /// This API's `/api/v1/oauth/airtable/callback`, exactly as registered with Airtable.
    pub redirect_uri: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AirtableCallError {
    /// Airtable refused the token (401/403): it is invalid, revoked or lacks the scopes.
    #[error("Airtable refused the token")]
    Refused,
    /// The refresh token or code was not accepted (`invalid_grant`: used, expired, revoked).
    #[error("Airtable refused the grant: {0}")]
    InvalidGrant(String),
    #[error("no Airtable OAuth client is configured")]
    NoOAuthClient,
    #[error("Airtable could not be reached or failed: {0}")]
    Unavailable(String),
}

#[derive(Clone, Debug, Deserialize)]
pub struct WhoAmI {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BaseInfo {
    pub id: String,
    pub name: String,
    #[serde(default, rename = "permissionLevel")]
    pub permission_level: Option<String>,
}

/// Airtable's token response.
#[derive(Clone, Deserialize)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    #[serde(default)]
    pub scope: Option<String>,
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet").field("scope", &self.scope).field("expires_in", &self.expires_in).finish()
    }
}

/// The most bases one connection's listing reads (10 pages of Airtable's 1,000).
const MAX_BASE_PAGES: usize = 10;

#[derive(Clone)]
pub struct AirtableClient {
    http: reqwest::Client,
    endpoints: AirtableEndpoints,
}

impl AirtableClient {
    pub fn new(endpoints: &AirtableEndpoints) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(endpoints.timeout)
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, endpoints: endpoints.clone() })
    }

    pub fn endpoints(&self) -> &AirtableEndpoints {
        &self.endpoints
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        token: &SecretString,
        path: &str,
    ) -> Result<T, AirtableCallError> {
        let url = format!("{}{path}", self.endpoints.api_url.trim_end_matches('/'));
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| AirtableCallError::Unavailable(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => response.json().await.map_err(|e| AirtableCallError::Unavailable(e.without_url().to_string())),
            401 | 403 => Err(AirtableCallError::Refused),
            status => Err(AirtableCallError::Unavailable(format!("Airtable answered {status}"))),
        }
    }

    pub async fn whoami(&self, token: &SecretString) -> Result<WhoAmI, AirtableCallError> {
        self.get(token, "/v0/meta/whoami").await
    }

    /// Every base the token reaches (at most 10,000).
    pub async fn bases(&self, token: &SecretString) -> Result<Vec<BaseInfo>, AirtableCallError> {
        #[derive(Deserialize)]
        struct Page {
            bases: Vec<BaseInfo>,
            #[serde(default)]
            offset: Option<String>,
        }
        let mut bases = Vec::new();
        let mut offset: Option<String> = None;
        for _ in 0..MAX_BASE_PAGES {
            let path = match &offset {
                None => "/v0/meta/bases".to_string(),
                Some(o) => format!(
                    "/v0/meta/bases?{}",
                    form_urlencoded::Serializer::new(String::new()).append_pair("offset", o).finish()
                ),
            };
            let page: Page = self.get(token, &path).await?;
            bases.extend(page.bases);
            match page.offset {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(bases)
    }

    fn oauth(&self) -> Result<&OAuthClient, AirtableCallError> {
        self.endpoints.oauth.as_ref().ok_or(AirtableCallError::NoOAuthClient)
    }

    /// Airtable's authorize URL for the platform's client, with PKCE S256.
    pub fn authorize_url(&self, state: &str, code_challenge: &str, scopes: &str) -> Result<String, AirtableCallError> {
        let client = self.oauth()?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &client.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scopes)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        Ok(format!("{}/oauth2/v1/authorize?{query}", self.endpoints.oauth_url.trim_end_matches('/')))
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<TokenSet, AirtableCallError> {
        let client = self.oauth()?;
        let url = format!("{}/oauth2/v1/token", self.endpoints.oauth_url.trim_end_matches('/'));
        // The serializer is not Send: the body is finished before anything is awaited.
        let encoded = {
            let mut body = form_urlencoded::Serializer::new(String::new());
            for (name, value) in form {
                body.append_pair(name, value);
            }
            if client.client_secret.is_none() {
                body.append_pair("client_id", &client.client_id);
            }
            body.finish()
        };
        let mut request = self.http.post(url).header("content-type", "application/x-www-form-urlencoded");
        if let Some(secret) = &client.client_secret {
            request = request.basic_auth(&client.client_id, Some(secret.expose_secret()));
        }
        let response = request
            .body(encoded)
            .send()
            .await
            .map_err(|e| AirtableCallError::Unavailable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if status == 200 {
            return response.json().await.map_err(|e| AirtableCallError::Unavailable(e.without_url().to_string()));
        }
        #[derive(Deserialize)]
        struct OAuthError {
            error: String,
            #[serde(default)]
            error_description: Option<String>,
        }
        match response.json::<OAuthError>().await {
            Ok(e) if status == 400 || status == 401 => Err(AirtableCallError::InvalidGrant(format!(
                "{}: {}",
                e.error,
                e.error_description.unwrap_or_default()
            ))),
            _ => Err(AirtableCallError::Unavailable(format!("Airtable's token endpoint answered {status}"))),
        }
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(&self, code: &str, code_verifier: &str) -> Result<TokenSet, AirtableCallError> {
        let redirect_uri = self.oauth()?.redirect_uri.clone();
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", code_verifier),
            ("redirect_uri", &redirect_uri),
        ])
        .await
    }

    /// A new access token and a new refresh token; the old refresh token stops working (rotation).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, AirtableCallError> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())]).await
    }
}
