//! Airtable's OAuth (authorization code + PKCE S256, rotating refresh tokens), driven through the router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::tests::{call_as, emulator};
use crate::auth::EmulatorUser;
use crate::oauth::{CODE_LIFETIME, s256_challenge};
use crate::seed::{DEMO_BASE, OPS_BASE, PROJECTS};
use crate::state::{Emulator, USER_ID};

const CLIENT: &str = "cliConfidential01";
const SECRET: &str = "s3cret-of-the-integration";
const REDIRECT: &str = "https://app.example.com/airtable/callback";
const PUBLIC: &str = "cliPublic0000001";
const PUBLIC_REDIRECT: &str = "http://localhost:8080/cb?from=airtable";
const VERIFIER: &str = "verifier-of-the-emulator-tests-0123456789-abcdefghijklmnop";
const STATE: &str = "st4te-0123456789";
const SCOPES: &str = "data.records:read data.records:write user.email:read";

fn setup() -> Emulator {
    let emulator = emulator();
    emulator.register_oauth_client(CLIENT, Some(SECRET), vec![REDIRECT.into()]);
    emulator.register_oauth_client(PUBLIC, None, vec![PUBLIC_REDIRECT.into()]);
    emulator.register_user(EmulatorUser::new("usrTenantA0000001", "a@tenant.example", "Tenant A"));
    emulator
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    query.finish()
}

fn query_of(uri: &str) -> BTreeMap<String, String> {
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// The standard authorization request of [`CLIENT`], with `extra` pairs added (or, with an empty value,
/// taking a standard one out).
fn authorize_query(extra: &[(&str, &str)]) -> String {
    let challenge = s256_challenge(VERIFIER);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", SCOPES),
        ("state", STATE),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    for (key, value) in extra {
        pairs.retain(|(k, _)| k != key);
        if !value.is_empty() {
            pairs.push((key, value));
        }
    }
    encode(&pairs)
}

async fn send(emulator: &Emulator, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = super::router(emulator.clone()).oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// `GET /oauth2/v1/authorize?{query}`: the status, the redirect's query (if redirected) and the body.
async fn authorize(emulator: &Emulator, query: &str) -> (StatusCode, Option<String>, Value) {
    let request = Request::get(format!("/oauth2/v1/authorize?{query}")).body(Body::empty()).unwrap();
    let (status, headers, body) = send(emulator, request).await;
    let location = headers.get(header::LOCATION).map(|l| l.to_str().unwrap().to_string());
    (status, location, body)
}

/// A code for [`CLIENT`] (the user consenting with the emulator-only `extra` parameters).
async fn code(emulator: &Emulator, extra: &[(&str, &str)]) -> String {
    let (status, location, body) = authorize(emulator, &authorize_query(extra)).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    query_of(&location.unwrap())["code"].clone()
}

/// `POST /oauth2/v1/token` with `form`, as `client` (HTTP Basic with that secret) or a public client.
async fn token(
    emulator: &Emulator,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::post("/oauth2/v1/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        request = request.header("authorization", format!("Basic {credentials}"));
    }
    send(emulator, request.body(Body::from(encode(form))).unwrap()).await
}

async fn exchange(emulator: &Emulator, code: &str, verifier: &str) -> (StatusCode, HeaderMap, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("code_challenge_method", "S256"),
    ];
    token(emulator, Some((CLIENT, SECRET)), &form).await
}

async fn refresh(emulator: &Emulator, refresh_token: &str) -> (StatusCode, Value) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    let (status, _, body) = token(emulator, Some((CLIENT, SECRET)), &form).await;
    (status, body)
}

fn text<'v>(body: &'v Value, key: &str) -> &'v str {
    body[key].as_str().unwrap_or_else(|| panic!("{key} in {body}"))
}

fn assert_oauth_error(answer: (StatusCode, &Value), status: StatusCode, error: &str) {
    assert_eq!((answer.0, answer.1["error"].as_str()), (status, Some(error)), "{}", answer.1);
    assert!(answer.1["error_description"].is_string(), "{}", answer.1);
}

#[tokio::test]
async fn the_code_flow_with_pkce_answers_tokens_reaching_only_the_consented_bases_and_refresh_rotates() {
    let emulator = setup();
    let query = authorize_query(&[("bases", DEMO_BASE), ("user", "usrTenantA0000001")]);
    let (status, location, _) = authorize(&emulator, &query).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let answer = query_of(&location);
    assert_eq!(answer["state"], STATE);
    assert_eq!(answer["code_challenge"], s256_challenge(VERIFIER));
    assert_eq!(answer["code_challenge_method"], "S256");

    let (status, headers, tokens) = exchange(&emulator, &answer["code"], VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], SCOPES);
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["refresh_expires_in"], 60 * 24 * 3600);
    let (access, refresh_token) = (text(&tokens, "access_token"), text(&tokens, "refresh_token"));
    assert!(access.starts_with("oaa") && refresh_token.starts_with("oar"), "{tokens}");

    // The access token reaches the consented base only, as the consenting user.
    let demo = format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1");
    assert_eq!(call_as(&emulator, access, "GET", &demo, None).await.0, StatusCode::OK);
    let (status, body) = call_as(&emulator, access, "GET", &format!("/v0/{OPS_BASE}/Incidents"), None).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"))
    );
    let (_, bases) = call_as(&emulator, access, "GET", "/v0/meta/bases", None).await;
    assert_eq!(bases["bases"].as_array().unwrap().iter().map(|b| b["id"].clone()).collect::<Vec<_>>(), [DEMO_BASE]);
    let (_, me) = call_as(&emulator, access, "GET", "/v0/meta/whoami", None).await;
    assert_eq!(
        me,
        json!({"id": "usrTenantA0000001", "email": "a@tenant.example", "scopes": SCOPES.split(' ').collect::<Vec<_>>()})
    );

    // Each refresh answers a new pair; the old pair stops working.
    let (status, rotated) = refresh(&emulator, refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let (new_access, new_refresh) = (text(&rotated, "access_token"), text(&rotated, "refresh_token"));
    assert!(new_access != access && new_refresh != refresh_token);
    assert_eq!(rotated["scope"], SCOPES);
    let (status, stale) = refresh(&emulator, refresh_token).await;
    assert_oauth_error((status, &stale), StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(call_as(&emulator, access, "GET", &demo, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call_as(&emulator, new_access, "GET", &demo, None).await.0, StatusCode::OK);
    let (status, again) = refresh(&emulator, new_refresh).await;
    assert_eq!(status, StatusCode::OK, "the new refresh token rotates in turn: {again}");
    // A refresh may narrow the scopes, never widen them.
    let narrow = [
        ("grant_type", "refresh_token"),
        ("refresh_token", text(&again, "refresh_token")),
        ("scope", "data.records:read"),
    ];
    let (status, _, narrowed) = token(&emulator, Some((CLIENT, SECRET)), &narrow).await;
    assert_eq!((status, narrowed["scope"].as_str()), (StatusCode::OK, Some("data.records:read")));
    let wide = [
        ("grant_type", "refresh_token"),
        ("refresh_token", text(&narrowed, "refresh_token")),
        ("scope", "schema.bases:write"),
    ];
    let (status, _, widened) = token(&emulator, Some((CLIENT, SECRET)), &wide).await;
    assert_oauth_error((status, &widened), StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn a_public_client_names_itself_in_the_body_and_every_base_is_reached_by_default() {
    let emulator = setup();
    let challenge = s256_challenge(VERIFIER);
    let query = encode(&[
        ("client_id", PUBLIC),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("response_type", "code"),
        ("scope", "data.records:read"),
        ("state", STATE),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let (status, location, _) = authorize(&emulator, &query).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.unwrap();
    assert!(location.starts_with(&format!("{PUBLIC_REDIRECT}&code=")), "the registered query is kept: {location}");
    let code = query_of(&location)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", PUBLIC),
        ("code", &code),
        ("redirect_uri", PUBLIC_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // A public client has no secret to present.
    let (status, _, refused) = token(&emulator, Some((PUBLIC, "guessed")), &form).await;
    assert_oauth_error((status, &refused), StatusCode::UNAUTHORIZED, "invalid_client");
    let (status, _, tokens) = token(&emulator, None, &form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = text(&tokens, "access_token");
    let (_, bases) = call_as(&emulator, access, "GET", "/v0/meta/bases", None).await;
    assert_eq!(bases["bases"].as_array().unwrap().len(), 2);
    let (_, me) = call_as(&emulator, access, "GET", "/v0/meta/whoami", None).await;
    assert_eq!(me, json!({"id": USER_ID, "scopes": ["data.records:read"]}), "no email without user.email:read");
    // The confidential client cannot use the public client's refresh token.
    let (status, stolen) = refresh(&emulator, text(&tokens, "refresh_token")).await;
    assert_oauth_error((status, &stolen), StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_wrong_verifier_a_reused_code_and_an_expired_code_are_invalid_grants() {
    let emulator = setup();
    // A wrong verifier spends the code.
    let spent = code(&emulator, &[]).await;
    let (status, _, wrong) = exchange(&emulator, &spent, &"x".repeat(43)).await;
    assert_oauth_error((status, &wrong), StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _, after) = exchange(&emulator, &spent, VERIFIER).await;
    assert_oauth_error((status, &after), StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _, malformed) = exchange(&emulator, &code(&emulator, &[]).await, "too-short").await;
    assert_oauth_error((status, &malformed), StatusCode::BAD_REQUEST, "invalid_request");

    // A code used twice: refused, and what it answered the first time is revoked.
    let once = code(&emulator, &[]).await;
    let (status, _, tokens) = exchange(&emulator, &once, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, reused) = exchange(&emulator, &once, VERIFIER).await;
    assert_oauth_error((status, &reused), StatusCode::BAD_REQUEST, "invalid_grant");
    let access = text(&tokens, "access_token");
    assert_eq!(call_as(&emulator, access, "GET", "/v0/meta/whoami", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, revoked) = refresh(&emulator, text(&tokens, "refresh_token")).await;
    assert_oauth_error((status, &revoked), StatusCode::BAD_REQUEST, "invalid_grant");

    // A code lives 10 minutes.
    let late = code(&emulator, &[]).await;
    emulator.advance_clock(CODE_LIFETIME + Duration::from_secs(1));
    let (status, _, expired) = exchange(&emulator, &late, VERIFIER).await;
    assert_oauth_error((status, &expired), StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, _, unknown) = exchange(&emulator, "no-such-code", VERIFIER).await;
    assert_oauth_error((status, &unknown), StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_wrong_redirect_uri_client_secret_or_request_shape_is_refused() {
    let emulator = setup();
    let code = code(&emulator, &[]).await;
    let with = |secret: &'static str| Some((CLIENT, secret));
    let form = |redirect_uri: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", VERIFIER),
        ]
    };
    // Client authentication fails first, and leaves the code alone.
    let (status, headers, wrong) = token(&emulator, with("wrong secret"), &form(REDIRECT)).await;
    assert_oauth_error((status, &wrong), StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    let mut no_secret = form(REDIRECT);
    no_secret.push(("client_id", CLIENT));
    let (status, _, missing) = token(&emulator, None, &no_secret).await;
    assert_oauth_error((status, &missing), StatusCode::UNAUTHORIZED, "invalid_client");
    let (status, _, stranger) = token(&emulator, Some(("cliNobody", SECRET)), &form(REDIRECT)).await;
    assert_oauth_error((status, &stranger), StatusCode::UNAUTHORIZED, "invalid_client");
    let (status, _, no_verifier) = token(&emulator, with(SECRET), &form(REDIRECT)[..3]).await;
    assert_oauth_error((status, &no_verifier), StatusCode::BAD_REQUEST, "invalid_request");
    let (status, _, unsupported) = token(&emulator, with(SECRET), &[("grant_type", "client_credentials")]).await;
    assert_oauth_error((status, &unsupported), StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let request = Request::post("/oauth2/v1/token")
        .header("content-type", "application/json")
        .body(Body::from(json!({"grant_type": "authorization_code"}).to_string()))
        .unwrap();
    let (status, _, json_body) = send(&emulator, request).await;
    assert_oauth_error((status, &json_body), StatusCode::BAD_REQUEST, "invalid_request");

    // The code is bound to its redirect URI.
    let (status, _, elsewhere) = token(&emulator, with(SECRET), &form("https://app.example.com/other")).await;
    assert_oauth_error((status, &elsewhere), StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn the_authorize_endpoint_refuses_as_airtable_does() {
    let emulator = setup();
    // No redirect to a client or URI that is not registered: an error answer instead.
    for query in [
        authorize_query(&[("client_id", "cliNobody")]),
        authorize_query(&[("client_id", "")]),
        authorize_query(&[("redirect_uri", "https://app.example.com/airtable/callback/")]),
        authorize_query(&[("redirect_uri", "")]),
        authorize_query(&[("bases", "appNope0000000001")]),
        authorize_query(&[("user", "usrNobody00000001")]),
    ] {
        let (status, location, body) = authorize(&emulator, &query).await;
        assert_eq!((status, location), (StatusCode::BAD_REQUEST, None), "{query}");
        assert_eq!(body["error"], "invalid_request", "{query}");
    }
    // Anything else goes back to the client with `error` (and the state).
    for (extra, error, with_state) in [
        (vec![("code_challenge", "")], "invalid_request", true),
        (vec![("code_challenge_method", "plain")], "invalid_request", true),
        (vec![("code_challenge_method", "")], "invalid_request", true),
        (vec![("code_challenge", "not-a-challenge")], "invalid_request", true),
        (vec![("state", "")], "invalid_request", false),
        (vec![("response_type", "token")], "unsupported_response_type", true),
        (vec![("scope", "")], "invalid_scope", true),
        (vec![("scope", "data.records:read data.everything:write")], "invalid_scope", true),
        (vec![("scope", "data.records:read data.records:read")], "invalid_scope", true),
        (vec![("consent", "deny")], "access_denied", true),
    ] {
        let (status, location, _) = authorize(&emulator, &authorize_query(&extra)).await;
        assert_eq!(status, StatusCode::FOUND, "{extra:?}");
        let location = location.unwrap();
        assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
        let answer = query_of(&location);
        assert_eq!(answer.get("error").map(String::as_str), Some(error), "{extra:?}");
        assert!(answer.contains_key("error_description") && !answer.contains_key("code"), "{extra:?}");
        assert_eq!(answer.contains_key("state"), with_state, "{extra:?}");
    }
    let twice = format!("{}&scope=data.records%3Aread", authorize_query(&[]));
    let (_, location, _) = authorize(&emulator, &twice).await;
    assert_eq!(query_of(&location.unwrap())["error"], "invalid_request", "a repeated parameter");
}

#[tokio::test]
async fn an_expired_access_token_is_refused_as_an_unknown_one_and_refresh_tokens_last_sixty_days() {
    let emulator = setup();
    let (_, _, tokens) = exchange(&emulator, &code(&emulator, &[]).await, VERIFIER).await;
    let access = text(&tokens, "access_token");
    let whoami = |token: String| {
        let emulator = emulator.clone();
        async move { call_as(&emulator, &token, "GET", "/v0/meta/whoami", None).await }
    };
    assert_eq!(whoami(access.into()).await.0, StatusCode::OK);
    emulator.advance_clock(Duration::from_secs(3599));
    assert_eq!(whoami(access.into()).await.0, StatusCode::OK);
    emulator.advance_clock(Duration::from_secs(1));
    let expired = whoami(access.into()).await;
    assert_eq!(expired, whoami("oaaUnknown".into()).await);
    assert_eq!(expired.0, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.1["error"]["type"], "AUTHENTICATION_REQUIRED");
    assert!(!emulator.accepts(access));

    // The refresh token still works; after 60 days it does not.
    let (status, rotated) = refresh(&emulator, text(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(whoami(text(&rotated, "access_token").into()).await.0, StatusCode::OK);
    emulator.advance_clock(Duration::from_secs(60 * 24 * 3600));
    let (status, late) = refresh(&emulator, text(&rotated, "refresh_token")).await;
    assert_oauth_error((status, &late), StatusCode::BAD_REQUEST, "invalid_grant");

    // Revoking a refresh token revokes its grant.
    let (_, _, tokens) = exchange(&emulator, &code(&emulator, &[]).await, VERIFIER).await;
    emulator.revoke_token(text(&tokens, "refresh_token"));
    assert_eq!(whoami(text(&tokens, "access_token").into()).await.0, StatusCode::UNAUTHORIZED);
}
