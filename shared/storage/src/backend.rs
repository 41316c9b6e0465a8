//! Opens the ports from settings, once at cold start. `STORAGE` picks the table, queue, bus, blob, key and
//! schedules adapters: the AWS ones (on Lambda, or any runtime pointed at AWS or an emulator) or the embedded ones
//! (the local runner's default, only in builds with the `embedded` feature). The cache is chosen apart from them,
//! by `CACHE_URL` or ElastiCache discovery, in either mode.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use tokio::sync::OnceCell;

use crate::blobs::Blobs;
use crate::bus::{Bus, BusSpec};
use crate::cache::Cache;
use crate::keys::Keys;
use crate::queue::{Queue, QueueSpec};
use crate::schedules::Schedules;
use crate::table::Table;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageMode {
    Aws,
    Embedded,
}

/// Storage settings, read once from the environment.
#[derive(Clone, Debug)]
pub struct StorageSettings {
    /// `STORAGE`: `aws` or `embedded`.
    pub mode: StorageMode,
    /// `DATA_DIR` (embedded; default `./.data`).
    pub data_dir: PathBuf,
    /// `AWS_ENDPOINT_URL`, `AWS_REGION`.
    pub aws: crate::aws::AwsSettings,
    /// `TABLE_PREFIX` (default `pyairtable-`): table `auth` is `pyairtable-auth` unless `TABLE_AUTH` names it.
    pub table_prefix: String,
    /// `STORAGE_PROVISION`: create missing tables, queues and buckets (emulators and tests; never on Lambda).
    pub provision: bool,
    /// `CACHE_URL` (`redis://` or `rediss://`); else `ELASTICACHE_REPLICATION_GROUP_ID` or
    /// `ELASTICACHE_CLUSTER_ID` is resolved through the ElastiCache API; else the in-process cache.
    pub cache_url: Option<String>,
    pub elasticache: Option<crate::cache::aws::ElastiCacheTarget>,
    /// `KMS_KEY_ID`: the KMS key (id, ARN or `alias/…`) that wraps the data keys of secrets at rest; default
    /// `alias/{table_prefix}secrets`, created with its key when provisioning. (Embedded mode keeps a master
    /// key file under the data dir instead.)
    pub kms_key: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl StorageSettings {
    /// Every default, no environment (tests build from here and inherit nothing): `mode`, `./.data`, prefix
    /// `pyairtable-`, no endpoint, no provisioning, the in-process cache.
    pub fn defaults(mode: StorageMode) -> Self {
        Self {
            mode,
            data_dir: PathBuf::from(".data"),
            aws: crate::aws::AwsSettings { endpoint_url: None, region: None },
            table_prefix: "pyairtable-".into(),
            provision: false,
            cache_url: None,
            elasticache: None,
            kms_key: "alias/pyairtable-secrets".into(),
        }
    }

    /// `default_mode`: what applies when `STORAGE` is unset (Lambda: aws; the local runner: embedded).
    pub fn from_env(default_mode: StorageMode) -> anyhow::Result<Self> {
        let mode = match env("STORAGE").as_deref() {
            None => default_mode,
            Some("aws") => StorageMode::Aws,
            Some("embedded") => StorageMode::Embedded,
            Some(_) => anyhow::bail!("environment variable STORAGE is invalid: expected `aws` or `embedded`"),
        };
        let elasticache = match (env("ELASTICACHE_REPLICATION_GROUP_ID"), env("ELASTICACHE_CLUSTER_ID")) {
            (Some(id), _) => Some(crate::cache::aws::ElastiCacheTarget::ReplicationGroup(id)),
            (None, Some(id)) => Some(crate::cache::aws::ElastiCacheTarget::CacheCluster(id)),
            (None, None) => None,
        };
        let table_prefix = env("TABLE_PREFIX").unwrap_or_else(|| "pyairtable-".into());
        Ok(Self {
            mode,
            data_dir: env("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".data")),
            aws: crate::aws::AwsSettings { endpoint_url: env("AWS_ENDPOINT_URL"), region: env("AWS_REGION") },
            kms_key: env("KMS_KEY_ID").unwrap_or_else(|| format!("alias/{table_prefix}secrets")),
            table_prefix,
            provision: env("STORAGE_PROVISION").is_some_and(|v| v == "true" || v == "1"),
            cache_url: env("CACHE_URL"),
            elasticache,
        })
    }

    pub fn table_name(&self, logical: &str) -> String {
        env(&format!("TABLE_{}", logical.to_uppercase())).unwrap_or_else(|| format!("{}{logical}", self.table_prefix))
    }

    pub fn queue_name(&self, logical: &str) -> String {
        format!("{}{logical}", self.table_prefix)
    }
}

/// The opened storage: the table, queue and blob adapters `STORAGE` chose, and the cache `CACHE_URL` (or
/// ElastiCache discovery) chose, whatever `STORAGE` says — so several runner processes pointed at one Redis
/// share one cache, limiter and login counter.
pub struct Backend {
    settings: StorageSettings,
    adapters: Adapters,
    aws: AwsClients,
    cache: OnceCell<Arc<dyn Cache>>,
    keys: OnceCell<Arc<dyn Keys>>,
}

enum Adapters {
    Aws,
    #[cfg(feature = "embedded")]
    Embedded(crate::embedded::EmbeddedEnv),
}

/// The SDK configuration and each client are built on first use, once per instance: a function pays at cold
/// start only for the clients it uses (building one parses the system's TLS trust store; infra/bench/RESULTS.md).
/// In embedded mode only ElastiCache discovery may use them.
#[derive(Default)]
struct AwsClients {
    config: OnceCell<aws_config::SdkConfig>,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    kms: OnceLock<aws_sdk_kms::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    scheduler: OnceLock<aws_sdk_scheduler::Client>,
}

impl AwsClients {
    async fn config(&self, settings: &StorageSettings) -> &aws_config::SdkConfig {
        self.config.get_or_init(|| crate::aws::sdk_config(&settings.aws)).await
    }

    async fn dynamodb(&self, settings: &StorageSettings) -> &aws_sdk_dynamodb::Client {
        let config = self.config(settings).await;
        self.dynamodb.get_or_init(|| crate::aws::dynamodb(config))
    }

    async fn sqs(&self, settings: &StorageSettings) -> &aws_sdk_sqs::Client {
        let config = self.config(settings).await;
        self.sqs.get_or_init(|| crate::aws::sqs(config))
    }

    async fn s3(&self, settings: &StorageSettings) -> &aws_sdk_s3::Client {
        let config = self.config(settings).await;
        self.s3.get_or_init(|| crate::aws::s3(config, settings.aws.endpoint_url.is_some()))
    }

    async fn sns(&self, settings: &StorageSettings) -> &aws_sdk_sns::Client {
        let config = self.config(settings).await;
        self.sns.get_or_init(|| crate::aws::sns(config))
    }

    async fn scheduler(&self, settings: &StorageSettings) -> &aws_sdk_scheduler::Client {
        let config = self.config(settings).await;
        self.scheduler.get_or_init(|| crate::aws::scheduler(config))
    }

    async fn kms(&self, settings: &StorageSettings) -> &aws_sdk_kms::Client {
        let config = self.config(settings).await;
        self.kms.get_or_init(|| crate::aws::kms(config))
    }
}

impl Backend {
    /// Opens the adapters `settings.mode` names. Only the embedded store is touched here (its file is
    /// opened, or the call fails); AWS clients and the cache connect on first use.
    pub async fn open(settings: &StorageSettings) -> anyhow::Result<Self> {
        let adapters = match settings.mode {
            StorageMode::Aws => Adapters::Aws,
            #[cfg(feature = "embedded")]
            StorageMode::Embedded => Adapters::Embedded(crate::embedded::EmbeddedEnv::open(&settings.data_dir)?),
            #[cfg(not(feature = "embedded"))]
            StorageMode::Embedded => anyhow::bail!(
                "STORAGE=embedded is not available in this binary: it was built without the embedded adapters \
                 (the storage crate's `embedded` feature), as every Lambda bootstrap is; set STORAGE=aws, or run \
                 the local runner (`cargo run`) for embedded storage"
            ),
        };
        Ok(Self {
            settings: settings.clone(),
            adapters,
            aws: AwsClients::default(),
            cache: OnceCell::new(),
            keys: OnceCell::new(),
        })
    }

    pub fn settings(&self) -> &StorageSettings {
        &self.settings
    }

    /// What was opened, for the start-up log line (never a URL: a cache URL may carry a password).
    pub fn describe(&self) -> String {
        let adapters = match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => format!("embedded storage under {}", env.dir().display()),
            Adapters::Aws => match &self.settings.aws.endpoint_url {
                Some(url) => format!("AWS adapters against {url}"),
                None => "AWS adapters".into(),
            },
        };
        let cache = match (&self.settings.cache_url, &self.settings.elasticache) {
            (Some(_), _) => "the Redis cache at CACHE_URL",
            (None, Some(_)) => "the ElastiCache cache",
            (None, None) => "the in-process cache",
        };
        format!("{adapters}, {cache}")
    }

    /// Routes the runtime itself must serve besides the API: the embedded blob store's presigned URLs.
    #[cfg(feature = "embedded")]
    pub fn local_routes(&self) -> axum::Router {
        match &self.adapters {
            Adapters::Embedded(env) => env.blob_router(),
            Adapters::Aws => axum::Router::new(),
        }
    }

    /// A service's table, by logical name (`auth`, `users`, …).
    pub async fn table(&self, logical: &str) -> anyhow::Result<Arc<dyn Table>> {
        match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => Ok(env.table(logical)),
            Adapters::Aws => {
                let name = self.settings.table_name(logical);
                let client = self.aws.dynamodb(&self.settings).await;
                if self.settings.provision {
                    crate::table::aws::create_table(client, &name).await?;
                }
                Ok(Arc::new(crate::table::aws::DynamoTable::new(client.clone(), name)))
            }
        }
    }

    /// A queue by logical name. On AWS its URL comes from `QUEUE_URL_<NAME>`, or is created when provisioning.
    pub async fn queue(&self, spec: &QueueSpec) -> anyhow::Result<Arc<dyn Queue>> {
        match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => Ok(env.queue(spec.clone())),
            Adapters::Aws => {
                let settings = &self.settings;
                let var = format!("QUEUE_URL_{}", spec.name.to_uppercase().replace('-', "_"));
                let url = match env(&var) {
                    Some(url) => url,
                    // Provisioned under the deployment's prefix, like tables: runners sharing one
                    // emulator (parallel tests) must not consume each other's messages.
                    None if settings.provision => {
                        let mut physical = spec.clone();
                        physical.name = settings.queue_name(&spec.name);
                        if let Some(dead_letter) = &mut physical.dead_letter {
                            dead_letter.queue = settings.queue_name(&dead_letter.queue);
                        }
                        crate::queue::aws::ensure_queue(self.aws.sqs(settings).await, &physical).await?
                    }
                    None => anyhow::bail!("environment variable {var} is required but not set"),
                };
                let client = self.aws.sqs(settings).await.clone();
                Ok(Arc::new(crate::queue::aws::SqsQueue::new(client, spec.name.clone(), url)))
            }
        }
    }

    /// A bus by logical name. On AWS its topic comes from `TOPIC_ARN_<NAME>` (template.yaml holds the topic,
    /// the routes' queues and their subscriptions), or is created with them when provisioning.
    pub async fn bus(&self, spec: &BusSpec) -> anyhow::Result<Arc<dyn Bus>> {
        match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => {
                let routes = spec.routes.iter().map(|route| (route.clone(), env.queue(route.queue.clone()))).collect();
                Ok(Arc::new(crate::bus::embedded::EmbeddedBus::new(spec.attribute.clone(), routes)))
            }
            Adapters::Aws => {
                let settings = &self.settings;
                let var = format!("TOPIC_ARN_{}", spec.name.to_uppercase().replace('-', "_"));
                let arn = match env(&var) {
                    Some(arn) => arn,
                    None if settings.provision => {
                        let mut physical = spec.clone();
                        physical.name = settings.queue_name(&spec.name);
                        for route in &mut physical.routes {
                            route.queue.name = settings.queue_name(&route.queue.name);
                            if let Some(dead_letter) = &mut route.queue.dead_letter {
                                dead_letter.queue = settings.queue_name(&dead_letter.queue);
                            }
                        }
                        let sqs = self.aws.sqs(settings).await;
                        crate::bus::aws::ensure_topic(self.aws.sns(settings).await, sqs, &physical).await?
                    }
                    None => anyhow::bail!("environment variable {var} is required but not set"),
                };
                Ok(Arc::new(crate::bus::aws::SnsBus::new(self.aws.sns(settings).await.clone(), arn)))
            }
        }
    }

    /// The schedules (workflow triggers), each firing its input into the `target` queue. On AWS, EventBridge
    /// Scheduler sends to the queue `SCHEDULER_TARGET_ARN` names, assuming the role `SCHEDULER_ROLE_ARN`; when
    /// provisioning, the queue is created under the deployment's prefix and the role defaults to
    /// `{prefix}scheduler` in the queue's account (emulators do not check it). Embedded, the schedules live
    /// in the store and fire into the embedded queue once the runner spawns [`Backend::embedded_schedules`]'
    /// loop.
    pub async fn schedules(&self, target: &QueueSpec) -> anyhow::Result<Arc<dyn Schedules>> {
        match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => Ok(env.schedules(target.clone())?),
            Adapters::Aws => {
                let settings = &self.settings;
                let target_arn = match env("SCHEDULER_TARGET_ARN") {
                    Some(arn) => arn,
                    None if settings.provision => {
                        let mut physical = target.clone();
                        physical.name = settings.queue_name(&target.name);
                        if let Some(dead_letter) = &mut physical.dead_letter {
                            dead_letter.queue = settings.queue_name(&dead_letter.queue);
                        }
                        let sqs = self.aws.sqs(settings).await;
                        let url = crate::queue::aws::ensure_queue(sqs, &physical).await?;
                        crate::queue::aws::queue_arn(sqs, &url).await?
                    }
                    None => anyhow::bail!("environment variable SCHEDULER_TARGET_ARN is required but not set"),
                };
                let role_arn = match env("SCHEDULER_ROLE_ARN") {
                    Some(arn) => arn,
                    None if settings.provision => {
                        // arn:{partition}:sqs:{region}:{account}:{queue}
                        let parts: Vec<&str> = target_arn.split(':').collect();
                        let (Some(partition), Some(account)) = (parts.get(1), parts.get(4)) else {
                            anyhow::bail!("SCHEDULER_TARGET_ARN {target_arn:?} is not an ARN");
                        };
                        format!("arn:{partition}:iam::{account}:role/{}scheduler", settings.table_prefix)
                    }
                    None => anyhow::bail!("environment variable SCHEDULER_ROLE_ARN is required but not set"),
                };
                let client = self.aws.scheduler(settings).await.clone();
                Ok(Arc::new(crate::schedules::aws::EventBridgeSchedules::new(client, target_arn, role_arn)))
            }
        }
    }

    /// The embedded schedules firing into `target` (the handle [`Backend::schedules`] returns), for the local
    /// runner to spawn its loop (`tokio::spawn(handle.run())`, once) and for test controls to `tick`;
    /// `None` on AWS, where EventBridge Scheduler fires.
    #[cfg(feature = "embedded")]
    pub fn embedded_schedules(
        &self,
        target: &QueueSpec,
    ) -> anyhow::Result<Option<Arc<crate::schedules::embedded::EmbeddedSchedules>>> {
        match &self.adapters {
            Adapters::Embedded(env) => Ok(Some(env.schedules(target.clone())?)),
            Adapters::Aws => Ok(None),
        }
    }

    /// Sends an S3 event notification (`ObjectCreated:Put`) to `queue` for every blob written to bucket
    /// `logical`: S3's bucket notification configuration. Embedded, the bucket sends them itself; on AWS the
    /// stack configures them (template.yaml), so this only configures them when provisioning (emulators, tests).
    pub async fn notify_blob_puts(&self, logical: &str, queue: &QueueSpec) -> anyhow::Result<()> {
        match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => env.notify_blob_puts(logical, env.queue(queue.clone())),
            Adapters::Aws if !self.settings.provision => Ok(()),
            Adapters::Aws => {
                let settings = &self.settings;
                let bucket = env(&format!("BUCKET_{}", logical.to_uppercase()))
                    .unwrap_or_else(|| format!("{}{logical}", settings.table_prefix));
                let mut physical = queue.clone();
                physical.name = settings.queue_name(&queue.name);
                if let Some(dead_letter) = &mut physical.dead_letter {
                    dead_letter.queue = settings.queue_name(&dead_letter.queue);
                }
                let sqs = self.aws.sqs(settings).await;
                let url = crate::queue::aws::ensure_queue(sqs, &physical).await?;
                let arn = crate::queue::aws::queue_arn(sqs, &url).await?;
                let s3 = self.aws.s3(settings).await;
                crate::blobs::aws::ensure_bucket(s3, &bucket).await?;
                crate::blobs::aws::notify_puts(s3, &bucket, &arn).await
            }
        }
    }

    /// A bucket by logical name; embedded presigned URLs point at `public_base_url`.
    pub async fn blobs(&self, logical: &str, public_base_url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
        #[cfg(not(feature = "embedded"))]
        let _ = public_base_url;
        match &self.adapters {
            #[cfg(feature = "embedded")]
            Adapters::Embedded(env) => env.blobs(logical, public_base_url),
            Adapters::Aws => {
                let settings = &self.settings;
                let bucket = env(&format!("BUCKET_{}", logical.to_uppercase()))
                    .unwrap_or_else(|| format!("{}{logical}", settings.table_prefix));
                let client = self.aws.s3(settings).await;
                if settings.provision {
                    crate::blobs::aws::ensure_bucket(client, &bucket).await?;
                }
                Ok(Arc::new(crate::blobs::aws::S3Blobs::new(client.clone(), bucket)))
            }
        }
    }

    /// The shared cache, one per backend, chosen by the cache settings alone (not by `STORAGE`): Redis when
    /// `CACHE_URL` is set or ElastiCache discovery is configured, else the in-process cache.
    pub async fn cache(&self) -> anyhow::Result<Arc<dyn Cache>> {
        let cache = self
            .cache
            .get_or_try_init(|| async {
                let url = match (&self.settings.cache_url, &self.settings.elasticache) {
                    (Some(url), _) => Some(url.clone()),
                    (None, Some(target)) => {
                        let client = crate::aws::elasticache(self.aws.config(&self.settings).await);
                        Some(crate::cache::aws::discover_url(&client, target).await?)
                    }
                    (None, None) => None,
                };
                let cache: Arc<dyn Cache> = match url {
                    Some(url) => Arc::new(
                        crate::cache::aws::RedisCache::connect(&url).await.context("Failed to connect to the cache")?,
                    ),
                    None => Arc::new(crate::cache::embedded::MemoryCache::new()),
                };
                anyhow::Ok(cache)
            })
            .await?;
        Ok(cache.clone())
    }

    /// The key store for secrets at rest, one per backend: KMS under `kms_key` on AWS (its alias and key created
    /// when provisioning), the master key file under the data dir in embedded mode.
    pub async fn keys(&self) -> anyhow::Result<Arc<dyn Keys>> {
        let keys = self
            .keys
            .get_or_try_init(|| async {
                let keys: Arc<dyn Keys> = match &self.adapters {
                    #[cfg(feature = "embedded")]
                    Adapters::Embedded(env) => Arc::new(crate::keys::embedded::EmbeddedKeys::open(env.dir())?),
                    Adapters::Aws => {
                        let settings = &self.settings;
                        let client = self.aws.kms(settings).await;
                        if settings.provision && settings.kms_key.starts_with("alias/") {
                            crate::keys::aws::ensure_alias(client, &settings.kms_key).await?;
                        }
                        Arc::new(crate::keys::aws::KmsKeys::new(client.clone(), settings.kms_key.clone()))
                    }
                };
                anyhow::Ok(keys)
            })
            .await?;
        Ok(keys.clone())
    }
}
