//! The table port's suite: each case is written once against `&dyn Table` and run on the embedded adapter
//! (redb in a temporary directory) and on the DynamoDB adapter (a fresh table in moto).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use storage::StoreError;
use storage::table::aws::DynamoTable;
use storage::table::{Attributes, Condition, Item, Key, Query, Table, WriteOp};

use crate::support;

struct Fixture {
    table: Arc<dyn Table>,
    _dir: Option<support::TempDir>,
}

async fn embedded() -> Fixture {
    let dir = support::TempDir::new();
    let env = storage::embedded::EmbeddedEnv::open(&dir.0).unwrap();
    Fixture { table: env.table("conformance"), _dir: Some(dir) }
}

async fn aws() -> Fixture {
    let client = storage::aws::dynamodb(&support::moto_config().await);
    let name = support::unique("table");
    storage::table::aws::create_table(&client, &name).await.unwrap();
    Fixture { table: Arc::new(DynamoTable::new(client, name)), _dir: None }
}

macro_rules! suite {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture = super::embedded().await;
                super::$case(&*fixture.table).await;
            })+
        }
        mod aws {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture = super::aws().await;
                super::$case(&*fixture.table).await;
            })+
        }
    };
}

suite!(
    get_returns_what_put_stored_including_nested_json,
    put_must_not_exist_twice_fails_the_second_time,
    optimistic_update_rejects_a_stale_version_and_increments_it,
    delete_honours_its_condition,
    query_by_prefix_and_between_in_both_orders,
    index_query_by_prefix_and_between_in_both_orders,
    pagination_returns_each_item_exactly_once,
    a_garbage_or_foreign_cursor_is_invalid,
    expired_items_are_invisible_and_do_not_block_must_not_exist,
    transact_is_all_or_nothing,
    transact_rejects_duplicate_keys_and_too_many_ops,
    reserved_attribute_names_and_bad_keys_are_invalid,
    two_conditional_writers_exactly_one_wins,
    ten_conditional_writers_exactly_one_wins,
    concurrent_optimistic_updaters_lose_no_update,
    ready_succeeds,
);

fn attrs(value: serde_json::Value) -> Attributes {
    value.as_object().cloned().expect("an object")
}

fn item(pk: &str, sk: &str, value: serde_json::Value) -> Item {
    Item::new(Key::new(pk, sk), attrs(value))
}

fn indexed(pk: &str, sk: &str, ipk: &str, isk: &str) -> Item {
    Item { index: Some(Key::new(ipk, isk)), ..item(pk, sk, json!({ "n": sk })) }
}

fn sort_keys(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

async fn get_returns_what_put_stored_including_nested_json(t: &dyn Table) {
    let key = Key::new("tenant-1#user", "profile");
    assert_eq!(t.get(&key).await.unwrap(), None);
    let value = json!({
        "name": "Zoë", "age": 42, "ratio": 1.5, "active": true, "nothing": null, "empty": "",
        "tags": ["a", "b"], "nested": { "deep": { "list": [1, { "x": "y" }], "map": {} } },
    });
    let mut written = item(&key.pk, &key.sk, value.clone());
    written.index = Some(Key::new("tenant-1#by-name", "Zoë"));
    written.expires_at = Some(storage::now_secs() + 3600);

    let stored = t.put(written.clone(), Condition::Always).await.unwrap();

    assert_eq!(stored, Item { version: 1, ..written.clone() });
    assert_eq!(t.get(&key).await.unwrap(), Some(stored));
}

async fn put_must_not_exist_twice_fails_the_second_time(t: &dyn Table) {
    let first = item("p", "s", json!({ "who": "first" }));
    t.put(first, Condition::MustNotExist).await.unwrap();

    let second = t.put(item("p", "s", json!({ "who": "second" })), Condition::MustNotExist).await;

    assert!(matches!(second, Err(StoreError::ConditionFailed)), "{second:?}");
    assert_eq!(t.get(&Key::new("p", "s")).await.unwrap().unwrap().attrs["who"], "first");
}

async fn optimistic_update_rejects_a_stale_version_and_increments_it(t: &dyn Table) {
    let v1 = t.update(item("p", "s", json!({ "n": 1 }))).await.unwrap();
    assert_eq!(v1.version, 1);
    let v2 = t.update(Item { attrs: attrs(json!({ "n": 2 })), ..v1.clone() }).await.unwrap();
    assert_eq!(v2.version, 2);

    let stale = t.update(Item { attrs: attrs(json!({ "n": 3 })), ..v1 }).await;
    let again_new = t.update(item("p", "s", json!({ "n": 4 }))).await;

    assert!(matches!(stale, Err(StoreError::ConditionFailed)), "{stale:?}");
    assert!(matches!(again_new, Err(StoreError::ConditionFailed)), "{again_new:?}");
    assert_eq!(t.get(&Key::new("p", "s")).await.unwrap(), Some(v2));
}

async fn delete_honours_its_condition(t: &dyn Table) {
    let key = Key::new("p", "s");
    let absent = t.delete(&key, Condition::MustExist).await;
    assert!(matches!(absent, Err(StoreError::ConditionFailed)), "{absent:?}");
    t.delete(&key, Condition::Always).await.unwrap();
    t.put(item("p", "s", json!({})), Condition::MustNotExist).await.unwrap();

    let wrong_version = t.delete(&key, Condition::VersionIs(7)).await;
    let must_not_exist = t.delete(&key, Condition::MustNotExist).await;
    assert!(matches!(wrong_version, Err(StoreError::ConditionFailed)), "{wrong_version:?}");
    assert!(matches!(must_not_exist, Err(StoreError::ConditionFailed)), "{must_not_exist:?}");
    assert!(t.get(&key).await.unwrap().is_some());

    t.delete(&key, Condition::VersionIs(1)).await.unwrap();
    assert_eq!(t.get(&key).await.unwrap(), None);
}

async fn query_by_prefix_and_between_in_both_orders(t: &dyn Table) {
    for (pk, sk) in [("P", "a#1"), ("P", "a#3"), ("P", "a#2"), ("P", "b#1"), ("P", "a"), ("PX", "a#0"), ("O", "a#9")] {
        t.put(item(pk, sk, json!({})), Condition::Always).await.unwrap();
    }
    let q = |q: Query| async move { t.query(q).await.unwrap().items };

    assert_eq!(sort_keys(&q(Query::partition("P")).await), ["a", "a#1", "a#2", "a#3", "b#1"]);
    assert_eq!(sort_keys(&q(Query::partition("P").prefix("a#")).await), ["a#1", "a#2", "a#3"]);
    assert_eq!(sort_keys(&q(Query::partition("P").prefix("a#").descending()).await), ["a#3", "a#2", "a#1"]);
    assert_eq!(sort_keys(&q(Query::partition("P").between("a#2", "b#1")).await), ["a#2", "a#3", "b#1"]);
    assert_eq!(sort_keys(&q(Query::partition("P").between("a#2", "b#1").descending()).await), ["b#1", "a#3", "a#2"]);
    assert_eq!(sort_keys(&q(Query::partition("P").prefix("c")).await), Vec::<&str>::new());
    assert_eq!(sort_keys(&q(Query::partition("nobody")).await), Vec::<&str>::new());
}

async fn index_query_by_prefix_and_between_in_both_orders(t: &dyn Table) {
    t.put(indexed("u#1", "profile", "T#by-date", "2024-03-01"), Condition::Always).await.unwrap();
    t.put(indexed("u#2", "profile", "T#by-date", "2024-01-15"), Condition::Always).await.unwrap();
    t.put(indexed("u#3", "profile", "T#by-date", "2024-02-10"), Condition::Always).await.unwrap();
    t.put(indexed("u#4", "profile", "T#by-date", "2025-01-01"), Condition::Always).await.unwrap();
    t.put(indexed("u#5", "profile", "U#by-date", "2024-01-01"), Condition::Always).await.unwrap();
    t.put(item("u#6", "profile", json!({})), Condition::Always).await.unwrap();
    // Moving an item in the index leaves no trace at its old place.
    t.put(indexed("u#4", "profile", "T#by-date", "2023-12-31"), Condition::Always).await.unwrap();
    let pks = |items: Vec<Item>| items.into_iter().map(|i| i.key.pk).collect::<Vec<_>>();
    let q = |q: Query| async move { pks(t.query(q.on_index()).await.unwrap().items) };

    assert_eq!(q(Query::partition("T#by-date")).await, ["u#4", "u#2", "u#3", "u#1"]);
    assert_eq!(q(Query::partition("T#by-date").prefix("2024-")).await, ["u#2", "u#3", "u#1"]);
    assert_eq!(q(Query::partition("T#by-date").prefix("2024-").descending()).await, ["u#1", "u#3", "u#2"]);
    assert_eq!(q(Query::partition("T#by-date").between("2024-01-15", "2024-02-10")).await, ["u#2", "u#3"]);
    assert_eq!(q(Query::partition("T#by-date").between("2023", "2024-02").descending()).await, ["u#2", "u#4"]);
    assert_eq!(t.query(Query::partition("u#1")).await.unwrap().items.len(), 1, "the table itself still answers");
}

/// Walks every page of `query`; checks page sizes and that only the last page lacks a cursor.
async fn walk(t: &dyn Table, query: Query) -> Vec<Item> {
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let page = t.query(query.clone().cursor(cursor)).await.unwrap();
        assert!(!page.items.is_empty() || all.is_empty(), "a cursor led to an empty page");
        assert!(page.items.len() <= query.limit);
        if page.next_cursor.is_some() {
            assert_eq!(page.items.len(), query.limit, "a page before the last one is full");
        }
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

async fn pagination_returns_each_item_exactly_once(t: &dyn Table) {
    for i in 0..7 {
        // Two items share each index sort key, so the index pages must also break ties.
        t.put(indexed(&format!("u#{i}"), &format!("s{i}"), "I", &format!("d{}", i / 2)), Condition::Always)
            .await
            .unwrap();
        t.put(item("P", &format!("s{i}"), json!({ "i": i })), Condition::Always).await.unwrap();
    }
    t.put(item("P", "t0", json!({})), Condition::Always).await.unwrap();
    let expected: Vec<String> = (0..7).map(|i| format!("s{i}")).collect();
    for limit in [1, 2, 3, 7, 8] {
        let asc = walk(t, Query::partition("P").prefix("s").limit(limit)).await;
        assert_eq!(sort_keys(&asc), expected, "limit {limit}");
        let desc = walk(t, Query::partition("P").prefix("s").limit(limit).descending()).await;
        assert_eq!(sort_keys(&desc), expected.iter().rev().collect::<Vec<_>>(), "limit {limit}");
        for query in [Query::partition("I").on_index(), Query::partition("I").on_index().descending()] {
            let items = walk(t, query.limit(limit)).await;
            let keys: HashSet<_> = items.iter().map(|i| i.key.pk.clone()).collect();
            assert_eq!((items.len(), keys.len()), (7, 7), "limit {limit}: each item once");
        }
    }
}

async fn a_garbage_or_foreign_cursor_is_invalid(t: &dyn Table) {
    for i in 0..3 {
        t.put(item("P", &format!("s{i}"), json!({})), Condition::Always).await.unwrap();
        t.put(item("Q", &format!("s{i}"), json!({})), Condition::Always).await.unwrap();
    }
    let foreign = t.query(Query::partition("Q").limit(1)).await.unwrap().next_cursor.unwrap();

    for cursor in ["garbage!", "", "eyJ4IjoxfQ", &foreign] {
        let page = t.query(Query::partition("P").limit(1).cursor(Some(cursor.to_owned()))).await;
        assert!(matches!(page, Err(StoreError::InvalidCursor)), "{cursor:?}: {page:?}");
    }
    let on_index = t.query(Query::partition("Q").on_index().cursor(Some(foreign))).await;
    assert!(matches!(on_index, Err(StoreError::InvalidCursor)), "{on_index:?}");
}

async fn expired_items_are_invisible_and_do_not_block_must_not_exist(t: &dyn Table) {
    let now = storage::now_secs();
    for i in 0..6 {
        let mut it = indexed("P", &format!("s{i}"), "I", &format!("s{i}"));
        it.expires_at = Some(if i % 2 == 0 { now - 10 } else { now + 3600 });
        t.put(it, Condition::Always).await.unwrap();
    }
    let expired = Key::new("P", "s0");

    assert_eq!(t.get(&expired).await.unwrap(), None);
    assert_eq!(sort_keys(&walk(t, Query::partition("P").limit(1)).await), ["s1", "s3", "s5"]);
    assert_eq!(sort_keys(&walk(t, Query::partition("I").on_index().limit(2)).await), ["s1", "s3", "s5"]);
    let must_exist = t.put(item("P", "s0", json!({})), Condition::MustExist).await;
    assert!(matches!(must_exist, Err(StoreError::ConditionFailed)), "{must_exist:?}");
    let stale_version = t.put(item("P", "s0", json!({})), Condition::VersionIs(1)).await;
    assert!(matches!(stale_version, Err(StoreError::ConditionFailed)), "{stale_version:?}");

    let reborn = t.update(item("P", "s0", json!({ "again": true }))).await.unwrap();

    assert_eq!((reborn.version, reborn.expires_at), (1, None));
    assert_eq!(t.get(&expired).await.unwrap(), Some(reborn));
    let live = t.put(item("P", "s1", json!({})), Condition::MustNotExist).await;
    assert!(matches!(live, Err(StoreError::ConditionFailed)), "an unexpired item still blocks: {live:?}");
}

async fn transact_is_all_or_nothing(t: &dyn Table) {
    let a = t.put(item("P", "a", json!({ "v": "a" })), Condition::Always).await.unwrap();
    let put_b = WriteOp::Put { item: item("P", "b", json!({ "v": "b" })), condition: Condition::MustNotExist };

    for failing in [
        WriteOp::Put { item: item("P", "a", json!({})), condition: Condition::MustNotExist },
        WriteOp::Delete { key: a.key.clone(), condition: Condition::VersionIs(9) },
        WriteOp::Check { key: Key::new("P", "c"), condition: Condition::MustExist },
    ] {
        let result = t.transact(vec![put_b.clone(), failing.clone()]).await;
        assert!(matches!(result, Err(StoreError::ConditionFailed)), "{failing:?}: {result:?}");
        assert_eq!(t.get(&Key::new("P", "b")).await.unwrap(), None, "{failing:?} left a partial write");
        assert_eq!(t.get(&a.key).await.unwrap().as_ref(), Some(&a));
    }

    t.transact(vec![
        put_b,
        WriteOp::Delete { key: a.key.clone(), condition: Condition::VersionIs(1) },
        WriteOp::Check { key: Key::new("P", "c"), condition: Condition::MustNotExist },
        WriteOp::Check { key: Key::new("P", "d"), condition: Condition::Always },
    ])
    .await
    .unwrap();

    assert_eq!(t.get(&a.key).await.unwrap(), None);
    assert_eq!(t.get(&Key::new("P", "b")).await.unwrap().unwrap().version, 1);
    assert_eq!(t.get(&Key::new("P", "c")).await.unwrap(), None);
}

async fn transact_rejects_duplicate_keys_and_too_many_ops(t: &dyn Table) {
    let put = |sk: String| WriteOp::Put { item: item("P", &sk, json!({})), condition: Condition::Always };
    let duplicate = vec![put("a".into()), WriteOp::Check { key: Key::new("P", "a"), condition: Condition::Always }];
    let too_many = (0..=100).map(|i| put(format!("s{i}"))).collect();

    for (what, ops) in [("duplicate", duplicate), ("101 ops", too_many), ("empty", vec![])] {
        let result = t.transact(ops).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{what}: {result:?}");
    }
    assert!(t.query(Query::partition("P")).await.unwrap().items.is_empty());
    t.transact((0..100).map(|i| put(format!("s{i}"))).collect()).await.unwrap();
}

async fn reserved_attribute_names_and_bad_keys_are_invalid(t: &dyn Table) {
    for name in storage::table::RESERVED_ATTRIBUTES {
        let result = t.put(item("P", "s", json!({ name: "x" })), Condition::Always).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{name}: {result:?}");
    }
    for key in [Key::new("", "s"), Key::new("P", ""), Key::new("P", "s".repeat(1025))] {
        let result = t.put(Item::new(key.clone(), Attributes::new()), Condition::Always).await;
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{key:?}: {result:?}");
    }
    assert!(t.query(Query::partition("P")).await.unwrap().items.is_empty());
}

async fn conditional_writers_race(t: &dyn Table, writers: usize) {
    let attempts = (0..writers).map(|w| t.put(item("P", "lock", json!({ "owner": w })), Condition::MustNotExist));

    let results = futures::future::join_all(attempts).await;

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::ConditionFailed))), "{results:?}");
    assert_eq!(t.get(&Key::new("P", "lock")).await.unwrap().as_ref(), Some(winners[0]));
}

async fn two_conditional_writers_exactly_one_wins(t: &dyn Table) {
    conditional_writers_race(t, 2).await;
}

async fn ten_conditional_writers_exactly_one_wins(t: &dyn Table) {
    conditional_writers_race(t, 10).await;
}

async fn concurrent_optimistic_updaters_lose_no_update(t: &dyn Table) {
    let key = Key::new("P", "counter");
    t.put(item("P", "counter", json!({ "n": 0 })), Condition::MustNotExist).await.unwrap();
    let (updaters, increments) = (5, 4);
    let updater = || async {
        for _ in 0..increments {
            loop {
                let current = t.get(&key).await.unwrap().unwrap();
                let n = current.attrs["n"].as_i64().unwrap();
                match t.update(Item { attrs: attrs(json!({ "n": n + 1 })), ..current }).await {
                    Ok(_) => break,
                    Err(StoreError::ConditionFailed) => continue,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    };

    futures::future::join_all((0..updaters).map(|_| updater())).await;

    let last = t.get(&key).await.unwrap().unwrap();
    assert_eq!(last.attrs["n"], updaters * increments);
    assert_eq!(last.version, 1 + (updaters * increments) as u64);
}

async fn ready_succeeds(t: &dyn Table) {
    t.ready().await.unwrap();
}
