//! One attempt over HTTP: POST the body with the signature headers, follow at most [`MAX_REDIRECTS`]
//! redirects by hand (each hop's URL checked again by the SSRF guard), all within the timeout, and keep the
//! first kilobyte of the answer.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, USER_AGENT};
use reqwest::{Client, StatusCode, Url};

use crate::delivery::retry::parse_retry_after;
use crate::signing::Signed;
use crate::ssrf::{AllowList, GuardedResolver, check_host, refusal_in};

pub const MAX_REDIRECTS: usize = 3;
/// The most of a response body kept in the attempt log.
pub const EXCERPT_BYTES: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx.
    Delivered,
    /// 410 Gone: the receiver asks never to be called again.
    Gone,
    /// The SSRF guard refused the address (of the URL or of a redirect).
    Refused,
    /// Anything else: worth a retry.
    Failed,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    pub response: String,
    pub duration: Duration,
}

#[derive(Clone)]
pub struct Sender {
    client: Client,
    allowed: AllowList,
    timeout: Duration,
}

impl Sender {
    pub fn new(allowed: AllowList, timeout: Duration) -> anyhow::Result<Self> {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve (and reach) the address itself, past the guard.
            .no_proxy()
            .dns_resolver(GuardedResolver::new(allowed.clone()))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, allowed, timeout })
    }

    pub async fn send(&self, url: &str, signed: &Signed, body: &str) -> Outcome {
        let started = Instant::now();
        let attempt = tokio::time::timeout(self.timeout, self.follow(url, signed, body)).await;
        let mut outcome = attempt.unwrap_or_else(|_| Outcome {
            verdict: Verdict::Failed,
            status_code: None,
            error: Some(format!("timed out after {} ms", self.timeout.as_millis())),
            retry_after: None,
            response: String::new(),
            duration: Duration::ZERO,
        });
        outcome.duration = started.elapsed();
        outcome
    }

    async fn follow(&self, url: &str, signed: &Signed, body: &str) -> Outcome {
        let failed = |verdict, error: String| Outcome {
            verdict,
            status_code: None,
            error: Some(error),
            retry_after: None,
            response: String::new(),
            duration: Duration::ZERO,
        };
        let mut current = match Url::parse(url) {
            Ok(url) => url,
            Err(e) => return failed(Verdict::Failed, format!("invalid URL: {e}")),
        };
        for hop in 0..=MAX_REDIRECTS {
            if !matches!(current.scheme(), "http" | "https") {
                return failed(Verdict::Failed, format!("redirected to a {} URL", current.scheme()));
            }
            if let Err(refused) = check_host(&self.allowed, &current) {
                return failed(Verdict::Refused, refused.to_string());
            }
            let request = self
                .client
                .post(current.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(USER_AGENT, "PyAirtable-Webhooks/1")
                .header("webhook-id", &signed.id)
                .header("webhook-timestamp", signed.timestamp.to_string())
                .header("webhook-signature", &signed.signature)
                .body(body.to_string());
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    return match refusal_in(&e) {
                        Some(refused) => failed(Verdict::Refused, refused.to_string()),
                        None => failed(Verdict::Failed, describe(&e)),
                    };
                }
            };
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok())
            {
                if hop == MAX_REDIRECTS {
                    return failed(Verdict::Failed, format!("more than {MAX_REDIRECTS} redirects"));
                }
                current = match current.join(location) {
                    Ok(next) => next,
                    Err(e) => return failed(Verdict::Failed, format!("redirected to an invalid URL: {e}")),
                };
                continue;
            }
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, storage::now_secs()));
            let excerpt = excerpt(response).await;
            let verdict = match status {
                s if s.is_success() => Verdict::Delivered,
                StatusCode::GONE => Verdict::Gone,
                _ => Verdict::Failed,
            };
            return Outcome {
                verdict,
                status_code: Some(status.as_u16()),
                error: None,
                retry_after,
                response: excerpt,
                duration: Duration::ZERO,
            };
        }
        failed(Verdict::Failed, format!("more than {MAX_REDIRECTS} redirects"))
    }
}

/// An error's message with its causes (reqwest's own says little: "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(300).collect()
}

/// The first [`EXCERPT_BYTES`] of the body (as text, cut on a character boundary); the rest is not read.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    while text.len() > EXCERPT_BYTES {
        text.pop();
    }
    text
}
