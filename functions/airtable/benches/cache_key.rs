//! Micro-benchmarks of a cached read's key: normalising the list query (parse, validate, canonical order)
//! and building the key (tenant + credential scope, table, query → SHA-256, plus the table's two cache
//! generations read from the in-process cache). `cargo bench -p airtable --bench cache_key`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use airtable::AirtableSettings;
use airtable::cache::{Kind, ReadCache, ReadKey};
use airtable::ids::{BaseId, TableRef};
use airtable::query::{ListQuery, QueryError, canonical, parse_pairs};
use criterion::{Criterion, criterion_group, criterion_main};

/// A typical list: page size, two fields, a sort and a formula, percent-encoded as clients send it.
const QUERY: &str = "pageSize=20&fields%5B%5D=Name&fields%5B%5D=Status&sort%5B0%5D%5Bfield%5D=Name\
                     &sort%5B0%5D%5Bdirection%5D=desc&filterByFormula=%7BStatus%7D%3D%27Active%27";

fn strict(key: &str, _: &str) -> Result<(), QueryError> {
    Err(QueryError(format!("unknown parameter {key}")))
}

fn normalise(raw: &str) -> String {
    let query = ListQuery::from_pairs(&parse_pairs(Some(raw)), strict).unwrap();
    canonical(&query.to_pairs())
}

fn cache_keys(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cache = ReadCache::new(
        Arc::new(storage::cache::embedded::MemoryCache::new()),
        "pyairtable-",
        &AirtableSettings::new("http://127.0.0.1:1", None),
    );
    let base = BaseId::parse("appDemoBase000001").unwrap();
    let table = TableRef::parse("tblProjects000001").unwrap();
    let scope = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f61\u{0}platform";
    let query = normalise(QUERY);
    let segments: Vec<String> = ["v0", "appDemoBase000001", "tblProjects000001"].map(String::from).to_vec();

    let mut group = c.benchmark_group("cache_key");
    group.bench_function("normalise the list query", |b| b.iter(|| normalise(black_box(QUERY))));
    group.bench_function("key from a normalised query (2 generation reads + SHA-256)", |b| {
        b.to_async(&runtime).iter(|| async {
            let read = ReadKey {
                kind: Kind::Records,
                scope,
                base: Some(&base),
                table: Some(&table),
                segments: &segments,
                query: black_box(&query),
            };
            cache.key(&read).await
        })
    });
    group.bench_function("both (what a read does before the cache lookup)", |b| {
        b.to_async(&runtime).iter(|| async {
            let query = normalise(black_box(QUERY));
            let read = ReadKey {
                kind: Kind::Records,
                scope,
                base: Some(&base),
                table: Some(&table),
                segments: &segments,
                query: &query,
            };
            cache.key(&read).await
        })
    });
    group.finish();
}

criterion_group!(benches, cache_keys);
criterion_main!(benches);
