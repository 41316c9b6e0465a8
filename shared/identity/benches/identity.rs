//! Micro-benchmarks of what the authorizer does on every request: verify an access JWT (HS256, ES256,
//! EdDSA), or hash an API key and look it up in the identity table (the embedded redb adapter).
//! `cargo bench -p identity --bench identity`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use identity::tokens::{KeySet, Subject};
use identity::{ApiKey, IdentityStore, TokenService, TokenSettings, TokenUse};
use jsonwebtoken::Algorithm;
use secrecy::SecretString;

/// Test-only keys (never used anywhere else).
const HMAC_SECRET: &str = "bench-hmac-secret-0123456789abcdef0123456789abcdef";
const ES_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9k+NUewbyboG8Ts+\nxePyOP/TziwSxV1l18KdgRBDH3mhRANCAATd9Of+tmDXO+POcJLKO4lCdPlq8Btu\ntJXxxRzRB/jA0XvvwGBPMRKyAP7QQ6VQqlPP7ISplnY6fsg1x3EAR52+\n-----END PRIVATE KEY-----\n";
const ES_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3fTn/rZg1zvjznCSyjuJQnT5avAb\nbrSV8cUc0Qf4wNF778BgTzESsgD+0EOlUKpTz+yEqZZ2On7INcdxAEedvg==\n-----END PUBLIC KEY-----\n";
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEILG88Z6JggLgCeOrfoNN+V1C9UDpHu6E4bJE2wj4vixH\n-----END PRIVATE KEY-----\n";
const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAofudg21YFsPq9uGrBiniez+eF3vrUTCrllKcGkcifOY=\n-----END PUBLIC KEY-----\n";

fn service(algorithm: Algorithm) -> TokenService {
    let settings = TokenSettings { algorithm, ..TokenSettings::default() };
    let keys = match algorithm {
        Algorithm::HS256 => KeySet::hmac(algorithm, &SecretString::from(HMAC_SECRET), None),
        Algorithm::ES256 => KeySet::asymmetric(algorithm, &SecretString::from(ES_PRIVATE), ES_PUBLIC, None),
        _ => KeySet::asymmetric(algorithm, &SecretString::from(ED_PRIVATE), ED_PUBLIC, None),
    };
    TokenService::new(keys.unwrap(), settings)
}

fn subject() -> Subject {
    Subject {
        user_id: "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f60".into(),
        tenant_id: "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f61".into(),
        roles: vec!["tenant_admin".into()],
        session_id: "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f62".into(),
    }
}

fn jwt_verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt_verify");
    for (name, algorithm) in [("HS256", Algorithm::HS256), ("ES256", Algorithm::ES256), ("EdDSA", Algorithm::EdDSA)] {
        let tokens = service(algorithm);
        let token = tokens.issue_access(&subject()).unwrap().token;
        group.bench_function(name, |b| b.iter(|| tokens.verify(black_box(&token), TokenUse::Access).unwrap()));
    }
    group.finish();
}

fn api_key_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("identity-bench-{}", uuid::Uuid::new_v4().simple()));
    let env = storage::embedded::EmbeddedEnv::open(&dir).unwrap();
    let store = IdentityStore::new(env.table(identity::TABLE));
    // A table with some other keys in it, and the one presented.
    let mut presented = String::new();
    runtime.block_on(async {
        for i in 0..1000 {
            let material = identity::api_keys::generate().unwrap();
            let key = ApiKey {
                key_id: format!("key-{i}"),
                user_id: format!("user-{}", i % 100),
                tenant_id: format!("tenant-{}", i % 10),
                name: "bench".into(),
                shown_prefix: material.shown_prefix.clone(),
                hash: material.hash.clone(),
                created_at: identity::now_rfc3339(),
                expires_at: None,
                workspace_id: None,
                read_only: false,
            };
            store.create_api_key(&key).await.unwrap();
            presented = identity::api_keys::reveal(&material).to_string();
        }
    });
    let mut group = c.benchmark_group("api_key_lookup");
    group.bench_function("hash (SHA-256, hex)", |b| b.iter(|| identity::api_keys::hash(black_box(&presented))));
    group.bench_function("hash + embedded table read", |b| {
        b.to_async(&runtime).iter(|| async {
            let hash = identity::api_keys::hash(black_box(&presented));
            store.api_key_by_hash(&hash).await.unwrap().unwrap()
        })
    });
    group.finish();
    drop(store);
    drop(env);
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, jwt_verification, api_key_lookup);
criterion_main!(benches);
