//! The Airtable client: one reqwest client built at cold start, every request paced by the limiter.
//!
//! Retries (with jittered exponential backoff, each retry taking a new limiter slot) only where they are
//! safe: reads, on 5xx and timeouts; any request, when the connection was never made (nothing reached
//! Airtable). A 429 is never retried: it penalises the base instead.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use rand::Rng;
use reqwest::Url;
use secrecy::ExposeSecret;

use crate::credentials::Credential;
use crate::error::GatewayError;
use crate::ids::BaseId;
use crate::limiter::Limiter;
use crate::metrics::Metrics;
use crate::settings::AirtableSettings;

/// One request to Airtable, described independently of any HTTP client.
#[derive(Clone, Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    /// Path segments under the endpoint, unencoded: `["v0", base, table]`.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// The base it counts against (the limiter's per-base schedule and penalty).
    pub base: Option<BaseId>,
    /// A read: safe to retry after a 5xx or a timeout.
    pub read: bool,
}

pub struct Upstream {
    http: reqwest::Client,
    endpoint: Url,
    /// Where uploadAttachment goes (`AIRTABLE_CONTENT_URL`).
    content: Url,
    timeout: Duration,
    max_retries: u32,
    limiter: Limiter,
    metrics: Arc<Metrics>,
}

impl Upstream {
    pub fn new(settings: &AirtableSettings, limiter: Limiter, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let endpoint = Url::parse(&settings.endpoint_url).context("AIRTABLE_ENDPOINT_URL is not a valid URL")?;
        let content = Url::parse(&settings.content_url()).context("AIRTABLE_CONTENT_URL is not a valid URL")?;
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("pyairtable-serverless-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("Failed to build the Airtable HTTP client")?;
        Ok(Self {
            http,
            endpoint,
            content,
            timeout: settings.timeout,
            max_retries: settings.max_retries,
            limiter,
            metrics,
        })
    }

    fn url(&self, request: &UpstreamRequest) -> anyhow::Result<Url> {
        // Airtable serves uploadAttachment on its content host, everything else on the API host.
        let uploads = request.segments.last().is_some_and(|s| s == "uploadAttachment");
        let mut url = if uploads { self.content.clone() } else { self.endpoint.clone() };
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("AIRTABLE_ENDPOINT_URL cannot carry a path"))?
            .pop_if_empty()
            .extend(&request.segments);
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        Ok(url)
    }

    /// Sends the request (after its limiter slot); the body of a 2xx answer, or why not.
    pub async fn send(&self, credential: &Credential, request: &UpstreamRequest) -> Result<Bytes, GatewayError> {
        let url = self.url(request)?;
        let mut attempt = 0;
        loop {
            let waited = self.limiter.acquire(request.base.as_ref(), credential.identity()).await?;
            self.metrics.upstream_call(request.base.as_ref(), waited);
            let outcome = self.attempt(credential, request, url.clone()).await;
            let retryable = match &outcome {
                Ok(_) => false,
                Err(GatewayError::Upstream { status, .. }) => request.read && status.is_server_error(),
                Err(GatewayError::Unavailable { source, timed_out }) => {
                    let never_connected =
                        source.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_connect);
                    never_connected || (request.read && *timed_out)
                }
                Err(_) => false,
            };
            if let Err(e) = &outcome {
                self.note_failure(e, request).await;
            }
            if !retryable || attempt >= self.max_retries {
                return outcome;
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    async fn attempt(
        &self,
        credential: &Credential,
        request: &UpstreamRequest,
        url: Url,
    ) -> Result<Bytes, GatewayError> {
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .bearer_auth(credential.token().expose_secret())
            .timeout(self.timeout);
        if let Some(body) = &request.body {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone());
        }
        let unavailable = |e: reqwest::Error| GatewayError::Unavailable {
            timed_out: e.is_timeout(),
            source: anyhow::Error::new(e).context("Airtable request failed"),
        };
        let response = builder.send().await.map_err(unavailable)?;
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = response.bytes().await.map_err(unavailable)?;
        if status.is_success() {
            return Ok(body);
        }
        // After a 429 the base is penalised: the gateway sends nothing to it until the penalty ends.
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS).then(|| self.limiter.penalty());
        Err(GatewayError::Upstream { status, body, retry_after })
    }

    async fn note_failure(&self, error: &GatewayError, request: &UpstreamRequest) {
        match error {
            GatewayError::Upstream { status: StatusCode::TOO_MANY_REQUESTS, .. } => {
                self.metrics.upstream_429();
                tracing::warn!(base = ?request.base, "Airtable answered 429; penalising the base");
                if let Some(base) = &request.base {
                    self.limiter.penalise(base).await;
                }
            }
            GatewayError::Upstream { status, .. } if status.is_server_error() => {
                self.metrics.upstream_error();
                tracing::warn!(%status, method = %request.method, "Airtable failed");
            }
            GatewayError::Unavailable { source, .. } => {
                self.metrics.upstream_error();
                tracing::warn!(error = ?source, method = %request.method, "Airtable unreachable");
            }
            _ => {}
        }
    }
}

/// 100 ms, 200 ms, 400 ms … (capped at 2 s), each with up to 50% jitter so retries do not align.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100 * 2u64.pow(attempt.saturating_sub(1).min(4))).min(Duration::from_secs(2));
    base + base.mul_f64(rand::rng().random_range(0.0..0.5))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use storage::cache::embedded::MemoryCache;

    use super::*;

    #[test]
    fn upload_attachment_goes_to_the_content_host_and_the_rest_to_the_api() {
        let settings = AirtableSettings::new("https://api.airtable.com", None);
        let metrics = Metrics::local();
        let limiter = Limiter::new(Arc::new(MemoryCache::new()), "t-", &settings, metrics.clone());
        let upstream = Upstream::new(&settings, limiter, metrics).unwrap();
        let request = |segments: &[&str]| UpstreamRequest {
            method: Method::POST,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            base: None,
            read: false,
        };
        let upload = upstream.url(&request(&["v0", "appA", "recB", "Files", "uploadAttachment"])).unwrap();
        assert_eq!(upload.as_str(), "https://content.airtable.com/v0/appA/recB/Files/uploadAttachment");
        let create = upstream.url(&request(&["v0", "appA", "My Table"])).unwrap();
        assert_eq!(create.as_str(), "https://api.airtable.com/v0/appA/My%20Table");
    }
}
