//! The cache port's suite: every shared case runs against the in-process cache and against a real
//! redis-server (its keys under a prefix unique to the test). Cases take an `Arc` because the concurrency
//! cases spawn real tasks, on a multi-threaded runtime. Remaining times (waits, TTLs) can only shrink while a
//! test runs, so timing checks allow 50 ms below the ideal and next to nothing above it.
//!
//! ElastiCache discovery runs against moto, which reports no node endpoints for a standalone cache cluster
//! (real ElastiCache does, once the cluster is available): that case checks discovery fails clearly there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use storage::cache::aws::RedisCache;
use storage::cache::embedded::MemoryCache;
use storage::cache::{Cache, Reservation};

use crate::support;

macro_rules! conformance {
    (both: [$($case:ident),* $(,)?], redis: [$($only:ident),* $(,)?] $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(super::memory()).await;
            })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                super::$case(super::redis(&crate::support::unique("cache")).await).await;
            })*
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $only() {
                super::$only().await;
            })*
        }
    };
}

conformance! {
    both: [
        set_then_get_returns_the_value_and_delete_removes_it,
        get_of_a_missing_key_returns_none,
        a_value_expires_after_its_ttl,
        set_if_absent_lets_exactly_one_of_ten_concurrent_tasks_win,
        set_if_absent_succeeds_again_once_the_key_expired,
        bumping_a_generation_makes_keys_built_on_the_old_one_unreachable,
        incr_window_counts_hits_and_resets_after_the_window,
        incr_window_counts_every_concurrent_hit_once,
        window_count_reads_the_count_without_counting_and_zero_after_the_window,
        ten_concurrent_reservations_get_distinct_slots_one_interval_apart,
        a_reservation_beyond_max_wait_is_denied_and_reserves_nothing,
        schedules_of_different_keys_are_independent,
        ready_succeeds,
    ],
    redis: [reservations_from_two_clients_share_one_schedule],
}

fn memory() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new())
}

async fn redis(prefix: &str) -> Arc<dyn Cache> {
    Arc::new(connect(prefix).await)
}

async fn connect(prefix: &str) -> RedisCache {
    RedisCache::connect(&support::redis_url()).await.unwrap().with_prefix(format!("{prefix}:"))
}

const MS: Duration = Duration::from_millis(1);
const SLACK: Duration = Duration::from_millis(50);

/// `expected`, less whatever time passed while the test ran.
fn about(actual: Duration, expected: Duration) -> bool {
    actual <= expected + 2 * MS && actual + SLACK >= expected
}

async fn set_then_get_returns_the_value_and_delete_removes_it(cache: Arc<dyn Cache>) {
    cache.set("k", b"\x00value\xff", Duration::from_secs(60)).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"\x00value\xff"[..]));

    cache.set("k", b"replaced", Duration::from_secs(60)).await.unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"replaced"[..]));

    cache.delete("k").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), None);
    cache.delete("k").await.unwrap();
}

async fn get_of_a_missing_key_returns_none(cache: Arc<dyn Cache>) {
    assert_eq!(cache.get("never-set").await.unwrap(), None);
}

async fn a_value_expires_after_its_ttl(cache: Arc<dyn Cache>) {
    cache.set("short", b"v", 150 * MS).await.unwrap();
    cache.set("long", b"v", Duration::from_secs(60)).await.unwrap();
    assert!(cache.get("short").await.unwrap().is_some());

    tokio::time::sleep(300 * MS).await;

    assert_eq!(cache.get("short").await.unwrap(), None);
    assert!(cache.get("long").await.unwrap().is_some());
}

async fn set_if_absent_lets_exactly_one_of_ten_concurrent_tasks_win(cache: Arc<dyn Cache>) {
    let tasks: Vec<_> = (0..10u8)
        .map(|i| {
            let cache = cache.clone();
            tokio::spawn(async move { (i, cache.set_if_absent("lock", &[i], Duration::from_secs(60)).await.unwrap()) })
        })
        .collect();

    let winners: Vec<u8> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter_map(|(i, won)| won.then_some(i))
        .collect();

    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(cache.get("lock").await.unwrap(), Some(winners));
}

async fn set_if_absent_succeeds_again_once_the_key_expired(cache: Arc<dyn Cache>) {
    assert!(cache.set_if_absent("marker", b"1", 100 * MS).await.unwrap());
    assert!(!cache.set_if_absent("marker", b"2", 100 * MS).await.unwrap());

    tokio::time::sleep(250 * MS).await;

    assert!(cache.set_if_absent("marker", b"3", 100 * MS).await.unwrap());
    assert_eq!(cache.get("marker").await.unwrap().as_deref(), Some(&b"3"[..]));
}

async fn bumping_a_generation_makes_keys_built_on_the_old_one_unreachable(cache: Arc<dyn Cache>) {
    let key = |generation: u64| format!("table:{generation}:query");
    let before = cache.generation("table").await.unwrap();
    assert_eq!(before, 0);
    cache.set(&key(before), b"cached rows", Duration::from_secs(60)).await.unwrap();

    let after = cache.bump_generation("table").await.unwrap();

    assert_eq!(after, 1);
    assert_eq!(cache.generation("table").await.unwrap(), after);
    assert_eq!(cache.get(&key(after)).await.unwrap(), None);
    assert_eq!(cache.bump_generation("table").await.unwrap(), 2);
    assert_eq!(cache.generation("another-table").await.unwrap(), 0);
}

async fn incr_window_counts_hits_and_resets_after_the_window(cache: Arc<dyn Cache>) {
    let window = 300 * MS;
    for expected in 1..=3 {
        let hit = cache.incr_window("hits", window).await.unwrap();
        assert_eq!(hit.count, expected);
        assert!(hit.resets_in <= window && hit.resets_in + 100 * MS > window, "{hit:?}");
    }

    tokio::time::sleep(window + 100 * MS).await;

    let hit = cache.incr_window("hits", window).await.unwrap();
    assert_eq!(hit.count, 1);
    assert!(about(hit.resets_in, window), "{hit:?}");
}

async fn window_count_reads_the_count_without_counting_and_zero_after_the_window(cache: Arc<dyn Cache>) {
    let window = 300 * MS;
    assert_eq!(cache.window_count("seen").await.unwrap(), 0);
    cache.incr_window("seen", window).await.unwrap();
    cache.incr_window("seen", window).await.unwrap();
    assert_eq!(cache.window_count("seen").await.unwrap(), 2);
    assert_eq!(cache.window_count("seen").await.unwrap(), 2, "reading counts nothing");
    assert_eq!(cache.incr_window("seen", window).await.unwrap().count, 3);
    assert_eq!(cache.window_count("another").await.unwrap(), 0);

    tokio::time::sleep(window + 100 * MS).await;

    assert_eq!(cache.window_count("seen").await.unwrap(), 0);
}

async fn incr_window_counts_every_concurrent_hit_once(cache: Arc<dyn Cache>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.incr_window("burst", Duration::from_secs(60)).await.unwrap().count })
        })
        .collect();

    let counts: BTreeSet<u64> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();

    assert_eq!(counts, (1..=20).collect());
}

async fn reserve_concurrently(cache: &Arc<dyn Cache>, key: &str, n: usize, max_wait: Duration) -> Vec<Duration> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (cache, key) = (cache.clone(), key.to_owned());
            tokio::spawn(async move { cache.reserve(&key, 100 * MS, max_wait).await.unwrap() })
        })
        .collect();
    let mut waits: Vec<Duration> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| match r.unwrap() {
            Reservation::Granted { wait } => wait,
            denied => panic!("expected a slot, got {denied:?}"),
        })
        .collect();
    waits.sort();
    waits
}

async fn ten_concurrent_reservations_get_distinct_slots_one_interval_apart(cache: Arc<dyn Cache>) {
    let waits = reserve_concurrently(&cache, "base", 10, Duration::from_secs(1)).await;

    assert!(waits[0] <= SLACK, "{waits:?}");
    for (i, wait) in waits.iter().enumerate() {
        assert!(about(*wait, 100 * MS * i as u32), "slot {i}: {waits:?}");
    }
    for pair in waits.windows(2) {
        assert!(about(pair[1] - pair[0], 100 * MS), "{waits:?}");
    }
}

async fn a_reservation_beyond_max_wait_is_denied_and_reserves_nothing(cache: Arc<dyn Cache>) {
    reserve_concurrently(&cache, "busy", 10, Duration::from_secs(1)).await;

    let denied = cache.reserve("busy", 100 * MS, 500 * MS).await.unwrap();
    let Reservation::Denied { retry_after } = denied else { panic!("expected a denial, got {denied:?}") };
    // The next slot starts ~1000 ms from now: it is within 500 ms of now in ~500 ms.
    assert!(about(retry_after, 500 * MS), "{retry_after:?}");

    let granted = cache.reserve("busy", 100 * MS, Duration::from_secs(2)).await.unwrap();
    let Reservation::Granted { wait } = granted else { panic!("expected a slot, got {granted:?}") };
    assert!(about(wait, 1000 * MS), "the denial took a slot: {wait:?}");
}

async fn schedules_of_different_keys_are_independent(cache: Arc<dyn Cache>) {
    reserve_concurrently(&cache, "base-a", 5, Duration::from_secs(1)).await;

    let other = cache.reserve("base-b", 100 * MS, Duration::ZERO).await.unwrap();

    assert_eq!(other, Reservation::Granted { wait: Duration::ZERO });
}

async fn ready_succeeds(cache: Arc<dyn Cache>) {
    cache.ready().await.unwrap();
}

/// Two Lambda instances are two clients: the schedule lives in Redis, not in either of them.
async fn reservations_from_two_clients_share_one_schedule() {
    let prefix = support::unique("cache");
    let (a, b) = (connect(&prefix).await, connect(&prefix).await);

    let first = a.reserve("shared", 100 * MS, Duration::from_secs(1)).await.unwrap();
    let second = b.reserve("shared", 100 * MS, Duration::from_secs(1)).await.unwrap();

    assert!(matches!(first, Reservation::Granted { wait } if wait <= SLACK), "{first:?}");
    assert!(matches!(second, Reservation::Granted { wait } if about(wait, 100 * MS)), "{second:?}");
}

mod elasticache {
    use aws_sdk_elasticache::Client;
    use storage::cache::aws::{ElastiCacheTarget, discover_url};

    use crate::support;

    async fn client() -> Client {
        storage::aws::elasticache(&support::moto_config().await)
    }

    async fn create_group(client: &Client, id: &str, tls: bool, cluster_mode: bool) {
        let mut create = client
            .create_replication_group()
            .replication_group_id(id)
            .replication_group_description("conformance")
            .engine("redis")
            .cache_node_type("cache.t4g.micro")
            .transit_encryption_enabled(tls);
        if cluster_mode {
            create = create.cluster_mode(aws_sdk_elasticache::types::ClusterMode::Enabled).num_node_groups(1);
        }
        create.send().await.unwrap();
    }

    /// What moto itself reports as the group's primary endpoint.
    async fn reported_primary(client: &Client, id: &str) -> String {
        let out = client.describe_replication_groups().replication_group_id(id).send().await.unwrap();
        let endpoint = out.replication_groups()[0].node_groups()[0].primary_endpoint().unwrap().clone();
        format!("{}:{}", endpoint.address().unwrap(), endpoint.port().unwrap())
    }

    #[tokio::test]
    async fn discovers_a_replication_groups_primary_endpoint_with_the_tls_scheme() {
        let client = client().await;
        let (tls, plain) = (support::unique("rg-tls"), support::unique("rg-plain"));
        create_group(&client, &tls, true, false).await;
        create_group(&client, &plain, false, false).await;

        let tls_url = discover_url(&client, &ElastiCacheTarget::ReplicationGroup(tls.clone())).await.unwrap();
        let plain_url = discover_url(&client, &ElastiCacheTarget::ReplicationGroup(plain.clone())).await.unwrap();

        assert_eq!(tls_url, format!("rediss://{}", reported_primary(&client, &tls).await));
        assert_eq!(plain_url, format!("redis://{}", reported_primary(&client, &plain).await));
    }

    #[tokio::test]
    async fn discovers_the_configuration_endpoint_of_a_cluster_mode_group() {
        let client = client().await;
        let id = support::unique("rg-cluster");
        create_group(&client, &id, true, true).await;
        let out = client.describe_replication_groups().replication_group_id(&id).send().await.unwrap();
        let endpoint = out.replication_groups()[0].configuration_endpoint().unwrap().clone();

        let url = discover_url(&client, &ElastiCacheTarget::ReplicationGroup(id)).await.unwrap();

        assert_eq!(url, format!("rediss://{}:{}", endpoint.address().unwrap(), endpoint.port().unwrap()));
    }

    #[tokio::test]
    async fn a_cache_cluster_in_a_replication_group_resolves_to_the_groups_primary() {
        let client = client().await;
        let (group, member) = (support::unique("rg"), support::unique("cc-member"));
        create_group(&client, &group, false, false).await;
        client
            .create_cache_cluster()
            .cache_cluster_id(&member)
            .replication_group_id(&group)
            .engine("redis")
            .cache_node_type("cache.t4g.micro")
            .send()
            .await
            .unwrap();

        let url = discover_url(&client, &ElastiCacheTarget::CacheCluster(member)).await.unwrap();

        assert_eq!(url, format!("redis://{}", reported_primary(&client, &group).await));
    }

    #[tokio::test]
    async fn a_standalone_cache_cluster_without_a_node_endpoint_is_an_error() {
        let client = client().await;
        let id = support::unique("cc");
        client
            .create_cache_cluster()
            .cache_cluster_id(&id)
            .engine("redis")
            .cache_node_type("cache.t4g.micro")
            .num_cache_nodes(1)
            .send()
            .await
            .unwrap();

        let err = discover_url(&client, &ElastiCacheTarget::CacheCluster(id.clone())).await.unwrap_err();

        assert!(format!("{err:#}").contains("no node endpoint"), "{err:#}");
    }

    #[tokio::test]
    async fn an_unknown_target_is_an_error_naming_it() {
        let client = client().await;
        for target in
            [ElastiCacheTarget::ReplicationGroup("absent".into()), ElastiCacheTarget::CacheCluster("absent".into())]
        {
            let err = discover_url(&client, &target).await.unwrap_err();
            assert!(format!("{err:#}").contains("absent"), "{err:#}");
        }
    }
}
