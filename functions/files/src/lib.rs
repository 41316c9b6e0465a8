//! Files: the seed's File Service ("file upload and processing").
//!
//! Two functions, one crate:
//! - `files` (HTTP): `/api/v1/files…` ([`api`]): declare an upload (answered with a presigned PUT bound to the
//!   declared type and size, the size reserved against the plan's storage), confirm it, list, read (with a
//!   short-lived download URL), delete.
//! - `files-processor` (our `files-uploads` queue): S3 event notifications as uploads land, confirmations and
//!   expiries ([`jobs`]); checksum, content sniffing and inspection ([`inspect`]).
//!
//! A file's life and every change of it: [`lifecycle`]. Where things are stored: [`store`] (records) and the
//! `files` bucket (bytes, under `tenants/{tenant}/files/{file}`).

pub mod api;
#[cfg(feature = "processing")]
pub mod inspect;
pub mod jobs;
pub mod lifecycle;
pub mod model;
pub mod store;
pub mod summary;

use std::sync::Arc;
use std::time::Duration;

use platform::config::ConfigError;
use platform::group::{Access, Function, Group, Kind, QueueAccess, Resources, Setting, Use};
use tenancy::TenancyStore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::jobs::Jobs;
use crate::lifecycle::Files;
use crate::store::FileStore;

/// The bucket's logical name (`BUCKET_FILES`).
pub const BUCKET: &str = "files";

/// The files group.
pub static GROUP: Group = Group {
    name: "files",
    functions: &[
        Function {
            binary: "files",
            kind: Kind::Http,
            uses: &[
                platform::usage::METERED,
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Table(tenancy::TABLE, Access::Read),
                Use::Bucket(BUCKET, Access::ReadWrite),
                Use::Queue(jobs::QUEUE, QueueAccess::Send),
                Use::Bus(events::routing::BUS),
            ],
            settings: &[Setting::optional("TENANT_PLANS"), Setting::optional("FILES_UPLOAD_TTL_SECS")],
        },
        Function {
            binary: "files-processor",
            kind: Kind::Consumer {
                queue: jobs::QUEUE,
                batch_size: 5,
                batching_window_secs: 0,
                max_concurrency: 5,
                // 6 × the function's 60 s timeout (a 50 MB file read, hashed and inspected).
                visibility_secs: 360,
            },
            uses: &[
                Use::Table(store::TABLE, Access::ReadWrite),
                Use::Bucket(BUCKET, Access::ReadWrite),
                Use::Queue(jobs::QUEUE, QueueAccess::Send),
                Use::Bus(events::routing::BUS),
            ],
            settings: &[],
        },
    ],
};

/// The files API's settings.
#[derive(Clone, Debug)]
pub struct FilesSettings {
    /// `FILES_UPLOAD_TTL_SECS` (default 600, 1 to 3600): how long an upload URL works; a file not uploaded by
    /// then expires.
    pub upload_ttl: Duration,
    /// How long a download URL works.
    pub download_ttl: Duration,
}

impl Default for FilesSettings {
    fn default() -> Self {
        Self { upload_ttl: Duration::from_secs(600), download_ttl: Duration::from_secs(300) }
    }
}

impl FilesSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secs: u64 = platform::config::parse_or("FILES_UPLOAD_TTL_SECS", 600)?;
        if !(1..=3600).contains(&secs) {
            return Err(ConfigError::Invalid { name: "FILES_UPLOAD_TTL_SECS".into(), reason: "1 to 3600".into() });
        }
        Ok(Self { upload_ttl: Duration::from_secs(secs), ..Self::default() })
    }
}

impl Files {
    /// The parts both functions open: the table (with its outbox), the bucket, the uploads queue, the bus.
    /// `public_url`: where the runner serves embedded presigned URLs (unused on AWS).
    pub async fn open(resources: &Resources, public_url: &str) -> anyhow::Result<Self> {
        let (table, events) = events::Publisher::open(resources, store::TABLE).await?;
        Ok(Self {
            store: FileStore::new(table),
            blobs: resources.blobs(BUCKET, public_url).await?,
            events,
            jobs: Jobs::new(resources.queue(&jobs::queue_spec()).await?),
        })
    }
}

/// What the API needs.
pub struct ApiState {
    pub files: Files,
    pub tenancy: TenancyStore,
    pub plans: identity::plans::Plans,
    pub settings: FilesSettings,
}

impl ApiState {
    pub async fn build(
        resources: &Resources,
        public_url: &str,
        plans: identity::plans::Plans,
        settings: FilesSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            files: Files::open(resources, public_url).await?,
            tenancy: TenancyStore::new(resources.table(tenancy::TABLE).await?),
            plans,
            settings,
        })
    }
}

pub type SharedState = Arc<ApiState>;

pub fn router(state: SharedState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(api::list, api::create))
        .routes(routes!(api::get, api::delete))
        .routes(routes!(api::complete))
        .with_state(state)
}
