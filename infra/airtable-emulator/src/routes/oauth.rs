//! Airtable's OAuth endpoints (`https://airtable.com/oauth2/v1/…`), served on the emulator's own address:
//!
//! - `GET /oauth2/v1/authorize?client_id&redirect_uri&response_type=code&scope&state&code_challenge&
//!   code_challenge_method=S256`: checked as Airtable checks it, then the user consents at once: `302` to
//!   `redirect_uri?code=…&state=…&code_challenge=…&code_challenge_method=S256`. An unknown `client_id` or a
//!   `redirect_uri` that is not one of the client's (exactly) cannot be redirected to: `400` with an OAuth
//!   error body. Any other invalid request is redirected with `error` (`invalid_request`,
//!   `unsupported_response_type`, `invalid_scope`), `error_description` and `state`.
//!   Emulator-only parameters stand for what the user does on Airtable's consent screen: `bases=appA,appB`
//!   (the bases the user ticks; absent: every base, now and later; empty: none), `user=usr…` (a registered
//!   user; default the emulator's user), `consent=deny` (the user cancels: `error=access_denied`). An
//!   unknown base or user is a `400`.
//! - `POST /oauth2/v1/token` (`application/x-www-form-urlencoded`): `grant_type=authorization_code`
//!   (`code`, `redirect_uri`, `code_verifier`) or `grant_type=refresh_token` (`refresh_token`, optional
//!   `scope`). A client with a secret authenticates with HTTP Basic; a public one sends `client_id` in the
//!   body. Errors are `{"error", "error_description"}`: `400` `invalid_request`, `invalid_grant`,
//!   `invalid_scope`, `unsupported_grant_type`; `401` `invalid_client`.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;

use crate::auth::{BaseReach, EmulatorUser, KNOWN_SCOPES};
use crate::oauth::{Consent, Issued, OAuthError, is_code_verifier, is_s256_challenge};
use crate::state::{Emulator, USER_ID};

/// Query or form parameters, each at most once (RFC 6749 §3.1: a repeated parameter is an invalid request).
struct Params {
    values: BTreeMap<String, String>,
    repeated: BTreeSet<String>,
}

impl Params {
    fn parse(raw: &[u8]) -> Self {
        let mut values = BTreeMap::new();
        let mut repeated = BTreeSet::new();
        for (key, value) in form_urlencoded::parse(raw).into_owned() {
            if values.insert(key.clone(), value).is_some() {
                repeated.insert(key);
            }
        }
        Self { values, repeated }
    }

    /// A parameter given once (a repeated one counts as absent: callers check `repeated` first).
    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).filter(|_| !self.repeated.contains(key)).map(String::as_str)
    }

    fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// How an authorization request fails: where it may not redirect, an error page; else back to the client.
enum Refusal {
    Page(OAuthError),
    Redirect { error: &'static str, description: String },
}

fn redirect_error(error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal::Redirect { error, description: description.into() }
}

fn page(description: impl Into<String>) -> Refusal {
    Refusal::Page(OAuthError::invalid_request(description))
}

/// `uri` with `params` appended to its query.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        query.append_pair(key, value);
    }
    let separator = match uri.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some(_) => "&",
    };
    format!("{uri}{separator}{}", query.finish())
}

fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn authorize(State(emulator): State<Emulator>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    // Until the client and its redirect URI are known good, nothing may be redirected.
    let client = {
        let auth = emulator.auth();
        let Some(client) = params.get("client_id").and_then(|id| auth.oauth.client(id)).cloned() else {
            return OAuthError::invalid_request("client_id is missing or is not a registered integration")
                .into_response();
        };
        client
    };
    let Some(redirect_uri) = params.get("redirect_uri").filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
    else {
        return OAuthError::invalid_request("redirect_uri is missing or is not registered for this integration")
            .into_response();
    };
    let state = params.get("state").filter(|s| !s.is_empty());
    match consent(&emulator, &params, &client.id, redirect_uri) {
        Ok(consent) => {
            let challenge = consent.code_challenge.clone();
            let now = emulator.now();
            let code = emulator.auth().oauth.issue_code(consent, now);
            let mut answer = vec![("code", code.as_str())];
            answer.extend(state.map(|s| ("state", s)));
            answer.extend([("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]);
            found(&with_query(redirect_uri, &answer))
        }
        Err(Refusal::Page(error)) => error.into_response(),
        Err(Refusal::Redirect { error, description }) => {
            let mut answer = vec![("error", error), ("error_description", description.as_str())];
            answer.extend(state.map(|s| ("state", s)));
            found(&with_query(redirect_uri, &answer))
        }
    }
}

/// The rest of an authorization request's checks, then what the user consents to.
fn consent(emulator: &Emulator, params: &Params, client_id: &str, redirect_uri: &str) -> Result<Consent, Refusal> {
    if let Some(repeated) = params.repeated.iter().next() {
        return Err(redirect_error("invalid_request", format!("{repeated} is given more than once")));
    }
    match params.get("response_type") {
        None | Some("") => return Err(redirect_error("invalid_request", "response_type is required")),
        Some("code") => {}
        Some(_) => return Err(redirect_error("unsupported_response_type", "response_type must be \"code\"")),
    }
    if params.non_empty("state").is_none() {
        return Err(redirect_error("invalid_request", "state is required"));
    }
    let challenge = params
        .non_empty("code_challenge")
        .ok_or_else(|| redirect_error("invalid_request", "code_challenge is required"))?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(redirect_error("invalid_request", "code_challenge_method must be \"S256\""));
    }
    if !is_s256_challenge(challenge) {
        return Err(redirect_error("invalid_request", "code_challenge must be the base64url SHA-256 of a verifier"));
    }
    let scopes = scopes(params.get("scope")).map_err(|e| redirect_error("invalid_scope", e))?;
    // What the user does on the consent screen (emulator-only parameters).
    let user = match params.get("user") {
        None => USER_ID,
        Some(id) => id,
    };
    let user: EmulatorUser =
        emulator.auth().users.get(user).cloned().ok_or_else(|| page(format!("user {user} is not registered")))?;
    let bases = match params.get("bases") {
        None => BaseReach::All,
        Some(list) => {
            let ids: BTreeSet<String> = list.split(',').filter(|s| !s.is_empty()).map(String::from).collect();
            let world = emulator.world();
            if let Some(unknown) = ids.iter().find(|id| world.bases.iter().all(|b| b.id != **id)) {
                return Err(page(format!("base {unknown} does not exist")));
            }
            BaseReach::Only(ids)
        }
    };
    match params.get("consent") {
        None | Some("allow") => {}
        Some("deny") => return Err(redirect_error("access_denied", "The user denied the authorization request")),
        Some(other) => return Err(page(format!("consent must be allow or deny, not {other}"))),
    }
    Ok(Consent {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        code_challenge: challenge.to_string(),
        user,
        scopes,
        bases,
    })
}

/// A `scope` parameter: a space-delimited list of unique, known scopes, at least one.
fn scopes(raw: Option<&str>) -> Result<Vec<String>, String> {
    let raw = raw.filter(|s| !s.trim().is_empty()).ok_or("At least one scope must be requested")?;
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.split(' ') {
        if !KNOWN_SCOPES.contains(&scope) {
            return Err(format!("Unknown scope {scope:?}"));
        }
        if scopes.iter().any(|s| s == scope) {
            return Err(format!("Scope {scope} is requested more than once"));
        }
        scopes.push(scope.to_string());
    }
    Ok(scopes)
}

/// The client a token request authenticates as: HTTP Basic (`client_id:client_secret`), or a public
/// client's `client_id` in the body (both may be given if they agree).
fn client_of(headers: &HeaderMap, params: &Params) -> Result<(String, Option<String>), OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| OAuthError::invalid_client())?;
            let (scheme, encoded) = value.split_once(' ').ok_or_else(OAuthError::invalid_client)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client());
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            Some((id.to_string(), secret.to_string()))
        }
    };
    match (basic, params.get("client_id")) {
        (Some((id, secret)), None) => Ok((id, Some(secret))),
        (Some((id, secret)), Some(body_id)) if body_id == id => Ok((id, Some(secret))),
        (Some(_), Some(_)) => Err(OAuthError::invalid_client()),
        (None, Some(id)) => Ok((id.to_string(), None)),
        (None, None) => Err(OAuthError::invalid_client()),
    }
}

pub async fn token(State(emulator): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    match exchange(&emulator, &headers, &body) {
        Ok(issued) => {
            let mut response = axum::Json(issued.body()).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => error.into_response(),
    }
}

fn exchange(emulator: &Emulator, headers: &HeaderMap, body: &[u8]) -> Result<Issued, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form {
        return Err(OAuthError::invalid_request("The body must be application/x-www-form-urlencoded"));
    }
    let params = Params::parse(body);
    if let Some(repeated) = params.repeated.iter().next() {
        return Err(OAuthError::invalid_request(format!("{repeated} is given more than once")));
    }
    let (client_id, secret) = client_of(headers, &params)?;
    let required =
        |key: &str| params.non_empty(key).ok_or_else(|| OAuthError::invalid_request(format!("{key} is required")));
    let grant_type = required("grant_type")?;
    let now = emulator.now();
    let mut auth = emulator.auth();
    let auth = &mut *auth;
    auth.oauth.authenticate(&client_id, secret.as_deref())?;
    match grant_type {
        "authorization_code" => {
            let code = required("code")?;
            let redirect_uri = required("redirect_uri")?;
            let verifier = required("code_verifier")?;
            if !is_code_verifier(verifier) {
                return Err(OAuthError::invalid_request("code_verifier must be 43 to 128 of [A-Za-z0-9-._~]"));
            }
            if params.get("code_challenge_method").is_some_and(|m| m != "S256") {
                return Err(OAuthError::invalid_request("code_challenge_method must be \"S256\""));
            }
            auth.oauth.exchange_code(&mut auth.tokens, &client_id, code, redirect_uri, verifier, now)
        }
        "refresh_token" => {
            let refresh_token = required("refresh_token")?;
            let scope = match params.get("scope") {
                None => None,
                Some(raw) => Some(scopes(Some(raw)).map_err(OAuthError::invalid_scope)?),
            };
            auth.oauth.refresh(&mut auth.tokens, &client_id, refresh_token, scope, now)
        }
        other => Err(OAuthError::unsupported_grant_type(other)),
    }
}
