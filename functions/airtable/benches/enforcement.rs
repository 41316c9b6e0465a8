//! What enforcement adds to every gateway request: `TenantCredentials::resolve` — the base's link, the
//! caller's access, the decision, the connection (its opened token remembered) — on the embedded store, as the
//! local runner runs it. Steady state the inputs are remembered (until the tenant's next write, 5 s at most);
//! `first after a change` reads all three again (one read, one partition query, one read). The budget:
//! ≤ 50 µs per decision. `cargo bench -p airtable --bench enforcement`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use airtable::credentials::{CredentialResolver, TenantCredentials};
use airtable::upstream::UpstreamRequest;
use axum::http::Method;
use criterion::{Criterion, criterion_group, criterion_main};
use platform::Caller;
use platform::caller::{AuthType, KeyScope};
use secrecy::SecretString;
use storage::backend::{Backend, StorageMode, StorageSettings};
use tenancy::{BaseLink, Connection, ConnectionKind, Membership, TenancyStore, Workspace};

const TENANT: &str = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f61";
const USER: &str = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f62";
const BASE: &str = "appDemoBase000001";

fn request(read: bool) -> UpstreamRequest {
    UpstreamRequest {
        method: if read { Method::GET } else { Method::POST },
        segments: ["v0", BASE, "tblProjects000001"].map(String::from).to_vec(),
        query: Vec::new(),
        body: None,
        base: None,
        read,
    }
}

fn enforcement(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("bench-enforcement-{}", uuid::Uuid::new_v4().simple()));
    let (credentials, editor, stranger) = runtime.block_on(async {
        let mut settings = StorageSettings::defaults(StorageMode::Embedded);
        settings.data_dir = dir.clone();
        let backend = Backend::open(&settings).await.unwrap();
        let store = TenancyStore::new(backend.table(tenancy::TABLE).await.unwrap());
        let secrets = tenancy::secrets::connection_secrets(backend.keys().await.unwrap());
        let workspace = Workspace::new(TENANT, "Sales".into(), None, USER);
        let member = Membership::new(&workspace.id, USER, access::WorkspaceRole::Editor, USER);
        store.create_workspace(&workspace, &member).await.unwrap();
        let mut connection = Connection::new(&workspace.id, ConnectionKind::Pat, "PAT".into(), USER);
        let token = SecretString::from("patBenchToken0000000000000000000000");
        connection.secret = Some(secrets.seal(TENANT, &connection.id, &token).await.unwrap());
        store.put_connection(TENANT, &connection).await.unwrap();
        store.link_base(TENANT, &BaseLink::new(BASE, "Demo".into(), &connection, USER)).await.unwrap();
        let client = tenancy::airtable::AirtableClient::new(&Default::default()).unwrap();
        let cache = backend.cache().await.unwrap();
        let credentials = TenantCredentials::new(store, secrets, None, client, cache, "bench-");
        let caller = |user: &str| Caller {
            user_id: user.into(),
            tenant_id: TENANT.into(),
            roles: Vec::new(),
            session_id: "s".into(),
            auth_type: AuthType::ApiKey,
            plan: None,
            key_scope: KeyScope::default(),
        };
        (credentials, caller(USER), caller("0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f63"))
    });
    let (read, write) = (request(true), request(false));
    runtime.block_on(async {
        assert!(credentials.resolve(&editor, &read).await.is_ok());
        assert!(credentials.resolve(&stranger, &read).await.is_err());
    });
    // Percentiles of single decisions (criterion reports means): 20,000 remembered, 2,000 after a change.
    runtime.block_on(async {
        let mut remembered = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let started = std::time::Instant::now();
            black_box(credentials.resolve(&editor, &read).await.is_ok());
            remembered.push(started.elapsed());
        }
        let mut changed = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            tenancy::store::changes::touch(TENANT);
            let started = std::time::Instant::now();
            black_box(credentials.resolve(&editor, &read).await.is_ok());
            changed.push(started.elapsed());
        }
        for (what, mut times) in [("remembered", remembered), ("first after a change", changed)] {
            times.sort();
            let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
            println!("enforcement/resolve/allowed read, {what}: p50 {:?}, p99 {:?}", at(0.50), at(0.99));
        }
    });
    let mut group = c.benchmark_group("enforcement");
    group.bench_function("resolve/allowed read", |b| {
        b.iter(|| runtime.block_on(async { black_box(credentials.resolve(&editor, &read).await.is_ok()) }))
    });
    group.bench_function("resolve/allowed write", |b| {
        b.iter(|| runtime.block_on(async { black_box(credentials.resolve(&editor, &write).await.is_ok()) }))
    });
    group.bench_function("resolve/allowed read, first after a change", |b| {
        b.iter(|| {
            tenancy::store::changes::touch(TENANT);
            runtime.block_on(async { black_box(credentials.resolve(&editor, &read).await.is_ok()) })
        })
    });
    group.bench_function("resolve/refused stranger", |b| {
        b.iter(|| runtime.block_on(async { black_box(credentials.resolve(&stranger, &read).await.is_err()) }))
    });
    group.finish();
    _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, enforcement);
criterion_main!(benches);
