//! Opens the ports from settings: the AWS adapters (on Lambda, or any runtime pointed at AWS or an
//! emulator) or the embedded ones (the local runner's default). Built once at cold start.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use tokio::sync::OnceCell;

use crate::blobs::Blobs;
use crate::cache::Cache;
use crate::queue::{Queue, QueueSpec};
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
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl StorageSettings {
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
        Ok(Self {
            mode,
            data_dir: env("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".data")),
            aws: crate::aws::AwsSettings { endpoint_url: env("AWS_ENDPOINT_URL"), region: env("AWS_REGION") },
            table_prefix: env("TABLE_PREFIX").unwrap_or_else(|| "pyairtable-".into()),
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

pub enum Backend {
    Aws(Box<AwsBackend>),
    Embedded { env: crate::embedded::EmbeddedEnv, cache: Arc<dyn Cache> },
}

/// The SDK configuration and each client are built on first use, once per instance: a function pays at cold
/// start only for the clients it uses (building one parses the system's TLS trust store; infra/bench/RESULTS.md).
pub struct AwsBackend {
    settings: StorageSettings,
    config: OnceCell<aws_config::SdkConfig>,
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    cache: OnceCell<Arc<dyn Cache>>,
}

impl AwsBackend {
    async fn config(&self) -> &aws_config::SdkConfig {
        self.config.get_or_init(|| crate::aws::sdk_config(&self.settings.aws)).await
    }

    async fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        let config = self.config().await;
        self.dynamodb.get_or_init(|| crate::aws::dynamodb(config))
    }

    async fn sqs(&self) -> &aws_sdk_sqs::Client {
        let config = self.config().await;
        self.sqs.get_or_init(|| crate::aws::sqs(config))
    }

    async fn s3(&self) -> &aws_sdk_s3::Client {
        let config = self.config().await;
        self.s3.get_or_init(|| crate::aws::s3(config, self.settings.aws.endpoint_url.is_some()))
    }
}

impl Backend {
    pub async fn open(settings: &StorageSettings) -> anyhow::Result<Self> {
        match settings.mode {
            StorageMode::Embedded => Ok(Self::Embedded {
                env: crate::embedded::EmbeddedEnv::open(&settings.data_dir)?,
                cache: Arc::new(crate::cache::embedded::MemoryCache::new()),
            }),
            StorageMode::Aws => Ok(Self::Aws(Box::new(AwsBackend {
                settings: settings.clone(),
                config: OnceCell::new(),
                dynamodb: OnceLock::new(),
                sqs: OnceLock::new(),
                s3: OnceLock::new(),
                cache: OnceCell::new(),
            }))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Embedded { env, .. } => format!("embedded storage under {}", env.dir().display()),
            Self::Aws(aws) => match &aws.settings.aws.endpoint_url {
                Some(url) => format!("AWS adapters against {url}"),
                None => "AWS adapters".into(),
            },
        }
    }

    /// Routes the runtime itself must serve besides the API: the embedded blob store's presigned URLs.
    pub fn local_routes(&self) -> axum::Router {
        match self {
            Self::Embedded { env, .. } => env.blob_router(),
            Self::Aws(_) => axum::Router::new(),
        }
    }

    /// A service's table, by logical name (`auth`, `users`, …).
    pub async fn table(&self, logical: &str) -> anyhow::Result<Arc<dyn Table>> {
        match self {
            Self::Embedded { env, .. } => Ok(env.table(logical)),
            Self::Aws(aws) => {
                let name = aws.settings.table_name(logical);
                if aws.settings.provision {
                    crate::table::aws::create_table(aws.dynamodb().await, &name).await?;
                }
                Ok(Arc::new(crate::table::aws::DynamoTable::new(aws.dynamodb().await.clone(), name)))
            }
        }
    }

    /// A queue by logical name. On AWS its URL comes from `QUEUE_URL_<NAME>`, or is created when provisioning.
    pub async fn queue(&self, spec: &QueueSpec) -> anyhow::Result<Arc<dyn Queue>> {
        match self {
            Self::Embedded { env, .. } => Ok(env.queue(spec.clone())),
            Self::Aws(aws) => {
                let var = format!("QUEUE_URL_{}", spec.name.to_uppercase().replace('-', "_"));
                let url = match env(&var) {
                    Some(url) => url,
                    // Provisioned under the deployment's prefix, like tables: runners sharing one
                    // emulator (parallel tests) must not consume each other's messages.
                    None if aws.settings.provision => {
                        let mut physical = spec.clone();
                        physical.name = aws.settings.queue_name(&spec.name);
                        if let Some(dead_letter) = &mut physical.dead_letter {
                            dead_letter.queue = aws.settings.queue_name(&dead_letter.queue);
                        }
                        crate::queue::aws::ensure_queue(aws.sqs().await, &physical).await?
                    }
                    None => anyhow::bail!("environment variable {var} is required but not set"),
                };
                Ok(Arc::new(crate::queue::aws::SqsQueue::new(aws.sqs().await.clone(), spec.name.clone(), url)))
            }
        }
    }

    /// A bucket by logical name; embedded presigned URLs point at `public_base_url`.
    pub async fn blobs(&self, logical: &str, public_base_url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
        match self {
            Self::Embedded { env, .. } => env.blobs(logical, public_base_url),
            Self::Aws(aws) => {
                let bucket = env(&format!("BUCKET_{}", logical.to_uppercase()))
                    .unwrap_or_else(|| format!("{}{logical}", aws.settings.table_prefix));
                if aws.settings.provision {
                    crate::blobs::aws::ensure_bucket(aws.s3().await, &bucket).await?;
                }
                Ok(Arc::new(crate::blobs::aws::S3Blobs::new(aws.s3().await.clone(), bucket)))
            }
        }
    }

    /// The shared cache: Redis when configured (directly or through ElastiCache discovery), else in-process.
    pub async fn cache(&self) -> anyhow::Result<Arc<dyn Cache>> {
        match self {
            Self::Embedded { cache, .. } => Ok(cache.clone()),
            Self::Aws(aws) => {
                let cache = aws
                    .cache
                    .get_or_try_init(|| async {
                        let url = match (&aws.settings.cache_url, &aws.settings.elasticache) {
                            (Some(url), _) => Some(url.clone()),
                            (None, Some(target)) => {
                                let client = crate::aws::elasticache(aws.config().await);
                                Some(crate::cache::aws::discover_url(&client, target).await?)
                            }
                            (None, None) => None,
                        };
                        let cache: Arc<dyn Cache> = match url {
                            Some(url) => Arc::new(
                                crate::cache::aws::RedisCache::connect(&url)
                                    .await
                                    .context("Failed to connect to the cache")?,
                            ),
                            None => Arc::new(crate::cache::embedded::MemoryCache::new()),
                        };
                        anyhow::Ok(cache)
                    })
                    .await?;
                Ok(cache.clone())
            }
        }
    }
}
