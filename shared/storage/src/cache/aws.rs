//! The cache on AWS: ElastiCache (or any server speaking the Redis protocol).
//!
//! The limiter primitives run as Lua scripts so each is one atomic step on the server, shared by every
//! Lambda instance; the GCRA script reads the server's clock (`TIME`), so instance clocks never matter.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use super::{Cache, Reservation, WindowCount};
use crate::{StoreError, StoreResult};

/// INCR, starting the window on the first hit. A key somehow left without a TTL is given one rather than
/// counting forever.
const INCR_WINDOW: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// GCRA without burst, in microseconds of the server's clock. The key holds the theoretical arrival time
/// of the next slot and expires once the schedule is idle again.
const RESERVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return {0, wait - max_wait} end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.max(1, math.ceil((next_tat - now) / 1000)))
return {1, wait}
";

#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    incr_window: Script,
    reserve: Script,
}

impl RedisCache {
    /// Connects to `redis://host:port` or, with TLS, `rediss://host:port` (ElastiCache in-transit
    /// encryption). The URL is never logged: it may carry a password.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("Failed to parse the Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let conn = ConnectionManager::new_with_config(client, config).await.context("Failed to connect to Redis")?;
        Ok(Self { conn, prefix: String::new(), incr_window: Script::new(INCR_WINDOW), reserve: Script::new(RESERVE) })
    }

    /// Puts every key under `prefix`, so several environments (or test runs) can share one server.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd, what: &'static str) -> StoreResult<T> {
        cmd.query_async(&mut self.conn.clone()).await.map_err(|e| failed(e, what))
    }
}

fn failed(e: redis::RedisError, what: &'static str) -> StoreError {
    StoreError::Unexpected(anyhow::Error::new(e).context(what))
}

/// Redis expiries are whole milliseconds and must be positive: round up, never down to "no expiry".
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX).max(1)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn duration_from_micros(n: i64) -> Duration {
    Duration::from_micros(u64::try_from(n).unwrap_or(0))
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.query(redis::cmd("GET").arg(self.key(key)), "Failed to GET a cache key").await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let ttl = millis(ttl);
        self.query(redis::cmd("SET").arg(self.key(key)).arg(value).arg("PX").arg(ttl), "Failed to SET a cache key")
            .await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool> {
        let cmd = redis::cmd("SET").arg(self.key(key)).arg(value).arg("NX").arg("PX").arg(millis(ttl)).to_owned();
        let reply: Value = self.query(&cmd, "Failed to SET NX a cache key").await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.query(redis::cmd("DEL").arg(self.key(key)), "Failed to DEL a cache key").await
    }

    async fn generation(&self, group: &str) -> StoreResult<u64> {
        let cmd = redis::cmd("GET").arg(self.key(&format!("gen:{group}"))).clone();
        let generation: Option<u64> = self.query(&cmd, "Failed to GET a cache generation").await?;
        Ok(generation.unwrap_or(0))
    }

    async fn bump_generation(&self, group: &str) -> StoreResult<u64> {
        let cmd = redis::cmd("INCR").arg(self.key(&format!("gen:{group}"))).clone();
        self.query(&cmd, "Failed to INCR a cache generation").await
    }

    async fn incr_window(&self, key: &str, window: Duration) -> StoreResult<WindowCount> {
        let (count, ttl_ms): (u64, i64) = self
            .incr_window
            .key(self.key(key))
            .arg(millis(window))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| failed(e, "Failed to run the window counter script"))?;
        Ok(WindowCount { count, resets_in: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)) })
    }

    async fn window_count(&self, key: &str) -> StoreResult<u64> {
        let cmd = redis::cmd("GET").arg(self.key(key)).clone();
        let count: Option<u64> = self.query(&cmd, "Failed to GET a window counter").await?;
        Ok(count.unwrap_or(0))
    }

    async fn reserve(&self, key: &str, interval: Duration, max_wait: Duration) -> StoreResult<Reservation> {
        let (granted, micros_): (i64, i64) = self
            .reserve
            .key(self.key(key))
            .arg(micros(interval))
            .arg(micros(max_wait))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| failed(e, "Failed to run the reservation script"))?;
        let d = duration_from_micros(micros_);
        Ok(if granted == 1 { Reservation::Granted { wait: d } } else { Reservation::Denied { retry_after: d } })
    }

    async fn ready(&self) -> StoreResult<()> {
        self.query(&redis::cmd("PING"), "Failed to PING Redis").await
    }
}

pub use discovery::{ElastiCacheTarget, discover_url};

mod discovery {
    use anyhow::{Context, bail};
    use aws_sdk_elasticache::Client;
    use aws_sdk_elasticache::types::Endpoint;

    /// What names the cache in the deployment: a replication group (the usual Redis/Valkey set-up) or a
    /// single cache cluster.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum ElastiCacheTarget {
        ReplicationGroup(String),
        CacheCluster(String),
    }

    /// The URL to hand to [`super::RedisCache::connect`]: `rediss://` when in-transit encryption is on.
    ///
    /// For a cluster-mode group this is the configuration endpoint; [`super::RedisCache`] does not follow
    /// cluster redirects, so such a group must have a single shard.
    pub async fn discover_url(client: &Client, target: &ElastiCacheTarget) -> anyhow::Result<String> {
        match target {
            ElastiCacheTarget::ReplicationGroup(id) => replication_group_url(client, id).await,
            ElastiCacheTarget::CacheCluster(id) => cache_cluster_url(client, id).await,
        }
    }

    async fn replication_group_url(client: &Client, id: &str) -> anyhow::Result<String> {
        let out = client
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .with_context(|| format!("Failed to describe ElastiCache replication group {id}"))?;
        let group = out
            .replication_groups()
            .first()
            .with_context(|| format!("ElastiCache returned no replication group {id}"))?;
        let endpoint = group
            .node_groups()
            .iter()
            .find_map(|n| n.primary_endpoint())
            .or(group.configuration_endpoint())
            .with_context(|| {
                format!("replication group {id} has no primary or configuration endpoint (status {:?})", group.status())
            })?;
        url(endpoint, group.transit_encryption_enabled())
    }

    async fn cache_cluster_url(client: &Client, id: &str) -> anyhow::Result<String> {
        let out = client
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .show_cache_node_info(true)
            .send()
            .await
            .with_context(|| format!("Failed to describe ElastiCache cache cluster {id}"))?;
        let cluster =
            out.cache_clusters().first().with_context(|| format!("ElastiCache returned no cache cluster {id}"))?;
        // A member of a replication group may be a read replica: writes must go to the group's primary.
        if let Some(group) = cluster.replication_group_id() {
            return replication_group_url(client, group).await;
        }
        if cluster.engine() == Some("memcached") {
            bail!("cache cluster {id} runs memcached, which does not speak the Redis protocol");
        }
        let endpoint = cluster.cache_nodes().iter().find_map(|n| n.endpoint()).with_context(|| {
            format!("cache cluster {id} reports no node endpoint (status {:?})", cluster.cache_cluster_status())
        })?;
        url(endpoint, cluster.transit_encryption_enabled())
    }

    fn url(endpoint: &Endpoint, tls: Option<bool>) -> anyhow::Result<String> {
        let host = endpoint.address().context("ElastiCache reported an endpoint without an address")?;
        let port = endpoint.port().unwrap_or(6379);
        let scheme = if tls.unwrap_or(false) { "rediss" } else { "redis" };
        Ok(format!("{scheme}://{host}:{port}"))
    }
}
