#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;

use super::*;

const SECRET: &str = "an-hmac-secret-of-at-least-32-bytes!!";
/// A throwaway Ed25519 key pair, for the asymmetric path only.
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEILG88Z6JggLgCeOrfoNN+V1C9UDpHu6E4bJE2wj4vixH\n-----END PRIVATE KEY-----\n";
const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAofudg21YFsPq9uGrBiniez+eF3vrUTCrllKcGkcifOY=\n-----END PUBLIC KEY-----\n";

fn service_with(secret: &str, settings: TokenSettings) -> TokenService {
    let keys = KeySet::hmac(settings.algorithm, &SecretString::from(secret), Some("k1".into())).unwrap();
    TokenService::new(keys, settings)
}

fn service() -> TokenService {
    service_with(SECRET, TokenSettings::default())
}

fn subject() -> Subject {
    Subject { user_id: "u1".into(), tenant_id: "t1".into(), roles: vec!["member".into()], session_id: "s1".into() }
}

/// Signs arbitrary claims with an arbitrary header, to forge what an attacker could.
fn forge(header: &Header, claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn valid_claims(token_use: &str) -> serde_json::Value {
    let now = now();
    serde_json::json!({
        "iss": "pyairtable", "aud": "pyairtable-api", "sub": "u1", "tenant": "t1", "roles": [], "sid": "s1",
        "jti": "j1", "iat": now, "nbf": now, "exp": now + 600, "token_use": token_use,
    })
}

fn header(alg: Algorithm, typ: &str) -> Header {
    let mut header = Header::new(alg);
    header.kid = Some("k1".into());
    header.typ = Some(typ.into());
    header
}

#[test]
fn an_issued_access_token_verifies_with_its_claims() {
    let tokens = service();
    let issued = tokens.issue_access(&subject()).unwrap();
    let claims = tokens.verify(&issued.token, TokenUse::Access).unwrap();
    assert_eq!((claims.sub.as_str(), claims.tenant.as_str(), claims.sid.as_str()), ("u1", "t1", "s1"));
    assert_eq!((claims.iss.as_str(), claims.aud.as_str()), ("pyairtable", "pyairtable-api"));
    assert_eq!(claims.token_use, TokenUse::Access);
    assert_eq!(claims.jti, issued.jti);
    assert!(claims.exp - claims.iat <= 900);
}

#[test]
fn a_forged_token_with_valid_claims_verifies_only_with_our_key() {
    let token = forge(&header(Algorithm::HS256, "at+jwt"), &valid_claims("access"), SECRET);
    assert!(service().verify(&token, TokenUse::Access).is_ok());
    let other =
        forge(&header(Algorithm::HS256, "at+jwt"), &valid_claims("access"), "another-secret-of-at-least-32-bytes!!");
    assert_eq!(service().verify(&other, TokenUse::Access), Err(TokenError("bad signature")));
}

#[test]
fn a_token_with_alg_none_is_refused() {
    let encode = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        encode(serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k1"})),
        encode(valid_claims("access"))
    );
    assert!(service().verify(&unsigned, TokenUse::Access).is_err());
}

#[test]
fn a_token_whose_algorithm_differs_from_the_keys_is_refused() {
    // HS512 with the right secret: a valid MAC, but not the algorithm the key is bound to.
    let token = forge(&header(Algorithm::HS512, "at+jwt"), &valid_claims("access"), SECRET);
    assert_eq!(service().verify(&token, TokenUse::Access), Err(TokenError("algorithm does not match the key")));
}

#[test]
fn a_token_with_an_algorithm_off_the_allow_list_is_refused() {
    let encode = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.{}",
        encode(serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"})),
        encode(valid_claims("access")),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    );
    assert!(service().verify(&token, TokenUse::Access).is_err());
}

#[test]
fn an_expired_token_is_refused_beyond_the_leeway() {
    let mut claims = valid_claims("access");
    claims["exp"] = (now() - 31).into();
    claims["iat"] = (now() - 600).into();
    claims["nbf"] = (now() - 600).into();
    let token = forge(&header(Algorithm::HS256, "at+jwt"), &claims, SECRET);
    assert_eq!(service().verify(&token, TokenUse::Access), Err(TokenError("expired")));
    // Within the 30 s leeway it still passes.
    claims["exp"] = (now() - 5).into();
    let token = forge(&header(Algorithm::HS256, "at+jwt"), &claims, SECRET);
    assert!(service().verify(&token, TokenUse::Access).is_ok());
}

#[test]
fn a_wrong_issuer_or_audience_is_refused() {
    for (field, value, reason) in [("iss", "someone-else", "wrong issuer"), ("aud", "another-api", "wrong audience")] {
        let mut claims = valid_claims("access");
        claims[field] = value.into();
        let token = forge(&header(Algorithm::HS256, "at+jwt"), &claims, SECRET);
        assert_eq!(service().verify(&token, TokenUse::Access), Err(TokenError(reason)));
    }
}

#[test]
fn a_refresh_token_never_passes_as_an_access_token_or_the_reverse() {
    let tokens = service();
    let refresh = tokens.issue_refresh(&subject(), now() + 3600).unwrap();
    let access = tokens.issue_access(&subject()).unwrap();
    assert!(tokens.verify(&refresh.token, TokenUse::Access).is_err());
    assert!(tokens.verify(&access.token, TokenUse::Refresh).is_err());
    assert!(tokens.verify(&refresh.token, TokenUse::Refresh).is_ok());
    // Even with the typ header forged to match, the claim gives it away.
    let forged = forge(&header(Algorithm::HS256, "at+jwt"), &valid_claims("refresh"), SECRET);
    assert_eq!(tokens.verify(&forged, TokenUse::Access), Err(TokenError("wrong token_use")));
}

#[test]
fn a_token_without_a_kid_or_with_an_unknown_kid_is_refused() {
    let mut no_kid = header(Algorithm::HS256, "at+jwt");
    no_kid.kid = None;
    let token = forge(&no_kid, &valid_claims("access"), SECRET);
    assert_eq!(service().verify(&token, TokenUse::Access), Err(TokenError("no kid")));
    let mut other_kid = header(Algorithm::HS256, "at+jwt");
    other_kid.kid = Some("k2".into());
    let token = forge(&other_kid, &valid_claims("access"), SECRET);
    assert_eq!(service().verify(&token, TokenUse::Access), Err(TokenError("unknown kid")));
}

#[test]
fn a_token_issued_in_the_future_is_refused() {
    let mut claims = valid_claims("access");
    claims["iat"] = (now() + 300).into();
    let token = forge(&header(Algorithm::HS256, "at+jwt"), &claims, SECRET);
    assert!(service().verify(&token, TokenUse::Access).is_err());
}

#[test]
fn a_refresh_token_never_outlives_its_session() {
    let tokens = service();
    let session_end = now() + 60;
    let issued = tokens.issue_refresh(&subject(), session_end).unwrap();
    assert_eq!(issued.expires_at, session_end);
}

#[test]
fn an_eddsa_key_set_signs_and_verifies() {
    let settings = TokenSettings { algorithm: Algorithm::EdDSA, ..TokenSettings::default() };
    let keys = KeySet::asymmetric(Algorithm::EdDSA, &SecretString::from(ED_PRIVATE), ED_PUBLIC, None).unwrap();
    let tokens = TokenService::new(keys, settings);
    let issued = tokens.issue_access(&subject()).unwrap();
    assert!(tokens.verify(&issued.token, TokenUse::Access).is_ok());
    // An HMAC token made with the public key as the secret (the classic confusion attack) is refused.
    let mut confused = header(Algorithm::HS256, "at+jwt");
    confused.kid = jsonwebtoken::decode_header(&issued.token).unwrap().kid;
    let token = forge(&confused, &valid_claims("access"), ED_PUBLIC);
    assert!(tokens.verify(&token, TokenUse::Access).is_err());
}

#[test]
fn a_retired_key_still_verifies_after_rotation() {
    let old = service();
    let token = old.issue_access(&subject()).unwrap().token;
    let keys = KeySet::hmac(
        Algorithm::HS256,
        &SecretString::from("a-brand-new-secret-of-32-bytes-or-more"),
        Some("k2".into()),
    )
    .unwrap()
    .also_verify("k1".into(), Algorithm::HS256, jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()))
    .unwrap();
    let rotated = TokenService::new(keys, TokenSettings::default());
    assert!(rotated.verify(&token, TokenUse::Access).is_ok());
    assert_eq!(
        jsonwebtoken::decode_header(rotated.issue_access(&subject()).unwrap().token).unwrap().kid.as_deref(),
        Some("k2")
    );
}
