//! A group declares itself once: its deployable binaries, what kind each is, the resources each opens with
//! their access, and the settings each reads. Everything else derives from the declaration:
//! - the Lambda main ([`crate::lambda`]) opens only what its binary declares ([`Resources`]);
//! - the local runner's composition, readiness checks, queue consumers and schedules (`infra/local`);
//! - template.yaml's environment variables, IAM policies, SQS event settings, readiness lists and alarms are
//!   checked against it (`tests/tests/e2e/template.rs`).
//!
//! A resource opened at run time without being declared is an error, so a forgotten declaration fails the
//! first test that starts the binary (or the runner), not a deployment.

use std::sync::Arc;

use storage::backend::Backend;
use storage::blobs::Blobs;
use storage::cache::Cache;
use storage::queue::{Queue, QueueSpec};
use storage::table::Table;

/// An endpoint group (a crate under `functions/`): one or more deployable binaries.
#[derive(Debug)]
pub struct Group {
    pub name: &'static str,
    pub functions: &'static [Function],
}

/// One deployable Lambda function: a binary of the group's crate.
#[derive(Debug)]
pub struct Function {
    pub binary: &'static str,
    pub kind: Kind,
    pub uses: &'static [Use],
    /// Environment variables the binary reads beyond the platform's own (storage, HTTP, telemetry) and the
    /// resource variables derived from `uses`.
    pub settings: &'static [Setting],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// API Gateway routes (lambda_http); the routes themselves come from the group's router.
    Http,
    /// API Gateway's REQUEST authorizer.
    Authorizer,
    /// An SQS consumer with partial batch responses. `visibility_secs` is the queue's visibility timeout
    /// (at least 6 × the function's timeout, as Lambda's SQS event source asks); `max_concurrency` caps the
    /// event source mapping's scaling.
    Consumer {
        queue: &'static str,
        batch_size: u32,
        batching_window_secs: u32,
        max_concurrency: u32,
        visibility_secs: u32,
    },
    /// An EventBridge schedule (`rate(…)` or `cron(…)`).
    Schedule { expression: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// A DynamoDB table by logical name (`TABLE_<NAME>`).
    Table(&'static str, Access),
    /// A queue by logical name (`QUEUE_URL_<NAME>`). Consuming is declared by [`Kind::Consumer`].
    Queue(&'static str, QueueAccess),
    /// A bucket by logical name (`BUCKET_<NAME>`).
    Bucket(&'static str, Access),
    /// Publishes to a bus by logical name (`TOPIC_ARN_<NAME>`: an SNS topic; its subscribers' queues are the
    /// bus's routes, consumed by [`Kind::Consumer`]s).
    Bus(&'static str),
    /// The shared cache (`CACHE_URL` when CacheMode=elasticache, else in-process).
    Cache,
    /// The keys port: envelope encryption of secrets at rest (`KMS_KEY_ID`: the stack's KMS key; under the
    /// runner, the data dir's key). `Encrypt` may also decrypt.
    Keys(KeyAccess),
    /// Sends email: SES v2 `SendEmail` from the sending identity (`ses:SendEmail` on it); under the runner with
    /// embedded storage, the embedded outbox (nothing leaves the machine).
    Email,
    /// Sends SMS: SNS `Publish` to a phone number (`sns:Publish` on `*`: SMS publishing names no resource);
    /// under the runner with embedded storage, the embedded outbox.
    Sms,
    /// Mobile push through SNS platform endpoints; under the runner with embedded storage, the embedded outbox.
    Push(PushAccess),
    /// Manages API Gateway keys and attaches them to the stack's usage plans (the per-tenant API rate on AWS):
    /// `apigateway:GET`/`POST`/`DELETE` on `/apikeys` and `/usageplans…`. Under the runner with embedded storage
    /// there is no API Gateway (the local gateway enforces the plans' rates itself): nothing is made.
    UsagePlans,
    /// Describes every table and queue every group declares (`READY_TABLES`, `READY_QUEUES`): `/ready`.
    Readiness,
    /// Creates, changes and deletes schedules that fire into this queue (`SCHEDULER_TARGET_ARN`; EventBridge
    /// Scheduler, in a schedule group per tenant, assuming `SCHEDULER_ROLE_ARN`, which the function may pass);
    /// under the runner with embedded storage, the embedded schedules.
    Schedules(&'static str),
}

/// What a function does with mobile push devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAccess {
    /// Registers and removes devices: `sns:CreatePlatformEndpoint` on the platform applications and
    /// `sns:DeleteEndpoint` on endpoints.
    Register,
    /// Sends to registered devices: `sns:Publish` on endpoints.
    Send,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAccess {
    Send,
}

/// What a binary does with the KMS key: `Decrypt` (kms:Decrypt) or `EncryptDecrypt` (also
/// kms:GenerateDataKey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAccess {
    Decrypt,
    EncryptDecrypt,
}

/// An environment variable a binary reads; `required` ones must be set in template.yaml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub required: bool,
}

impl Setting {
    pub const fn required(name: &'static str) -> Self {
        Self { name, required: true }
    }
    pub const fn optional(name: &'static str) -> Self {
        Self { name, required: false }
    }
}

impl Group {
    pub fn function(&self, binary: &str) -> anyhow::Result<&'static Function> {
        match self.functions.iter().find(|f| f.binary == binary) {
            Some(function) => Ok(function),
            None => anyhow::bail!("group {} declares no binary {binary}", self.name),
        }
    }
}

/// What a set of groups declares, resource by resource: the readiness checks, and template.yaml's tables,
/// queues and buckets, derive from it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub tables: std::collections::BTreeSet<&'static str>,
    /// Queues sent to or consumed.
    pub queues: std::collections::BTreeSet<&'static str>,
    pub buckets: std::collections::BTreeSet<&'static str>,
    /// Buses published to.
    pub buses: std::collections::BTreeSet<&'static str>,
    pub cache: bool,
    pub keys: bool,
}

impl Inventory {
    pub fn of(groups: &[&'static Group]) -> Self {
        let mut inventory = Self::default();
        for function in groups.iter().flat_map(|g| g.functions) {
            if let Kind::Consumer { queue, .. } = function.kind {
                inventory.queues.insert(queue);
            }
            for used in function.uses {
                match *used {
                    Use::Table(name, _) => _ = inventory.tables.insert(name),
                    Use::Queue(name, _) => _ = inventory.queues.insert(name),
                    Use::Bucket(name, _) => _ = inventory.buckets.insert(name),
                    Use::Bus(name) => _ = inventory.buses.insert(name),
                    Use::Cache => inventory.cache = true,
                    Use::Keys(_) => inventory.keys = true,
                    Use::Email | Use::Sms | Use::Push(_) => {}
                    Use::UsagePlans => {}
                    Use::Readiness => {}
                    Use::Schedules(queue) => _ = inventory.queues.insert(queue),
                }
            }
        }
        inventory
    }
}

/// The environment variable naming a logical resource's physical name (`TABLE_AUTH`, `QUEUE_URL_EVENTS`).
pub fn table_var(logical: &str) -> String {
    format!("TABLE_{}", logical.to_uppercase().replace('-', "_"))
}
pub fn queue_var(logical: &str) -> String {
    format!("QUEUE_URL_{}", logical.to_uppercase().replace('-', "_"))
}
pub fn bucket_var(logical: &str) -> String {
    format!("BUCKET_{}", logical.to_uppercase().replace('-', "_"))
}
pub fn topic_var(logical: &str) -> String {
    format!("TOPIC_ARN_{}", logical.to_uppercase().replace('-', "_"))
}

/// Storage as one binary (or, under the runner, one group) may use it: exactly what it declared.
#[derive(Clone)]
pub struct Resources {
    backend: Arc<Backend>,
    who: String,
    uses: Vec<Use>,
    consumes: Vec<&'static str>,
}

impl Resources {
    /// What `function` declared (a Lambda binary).
    pub fn for_function(backend: Arc<Backend>, function: &'static Function) -> Self {
        let consumes = match function.kind {
            Kind::Consumer { queue, .. } => vec![queue],
            _ => Vec::new(),
        };
        Self { backend, who: format!("binary {}", function.binary), uses: function.uses.to_vec(), consumes }
    }

    /// What any binary of `group` declared (the local runner runs them all in one process).
    pub fn for_group(backend: Arc<Backend>, group: &'static Group) -> Self {
        let mut uses = Vec::new();
        let mut consumes = Vec::new();
        for function in group.functions {
            uses.extend_from_slice(function.uses);
            if let Kind::Consumer { queue, .. } = function.kind {
                consumes.push(queue);
            }
        }
        Self { backend, who: format!("group {}", group.name), uses, consumes }
    }

    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    /// The deployment's namespace (`TABLE_PREFIX`, the stack name): prefixes keys in a shared cache.
    pub fn namespace(&self) -> &str {
        &self.backend.settings().table_prefix
    }

    fn undeclared(&self, what: &str) -> anyhow::Error {
        anyhow::anyhow!("{} opens {what} without declaring it: add it to the group's declaration (its GROUP)", self.who)
    }

    pub async fn table(&self, logical: &str) -> anyhow::Result<Arc<dyn Table>> {
        let declared = self.uses.iter().any(|u| matches!(u, Use::Table(name, _) if *name == logical));
        if !declared {
            return Err(self.undeclared(&format!("table {logical}")));
        }
        self.backend.table(logical).await
    }

    pub async fn queue(&self, spec: &QueueSpec) -> anyhow::Result<Arc<dyn Queue>> {
        let name = spec.name.as_str();
        let declared = self.consumes.contains(&name)
            || self.uses.iter().any(|u| matches!(u, Use::Queue(queue, _) if *queue == name));
        if !declared {
            return Err(self.undeclared(&format!("queue {name}")));
        }
        self.backend.queue(spec).await
    }

    pub async fn bus(&self, spec: &storage::bus::BusSpec) -> anyhow::Result<Arc<dyn storage::bus::Bus>> {
        let declared = self.uses.iter().any(|u| matches!(u, Use::Bus(name) if *name == spec.name));
        if !declared {
            return Err(self.undeclared(&format!("bus {}", spec.name)));
        }
        self.backend.bus(spec).await
    }

    pub async fn blobs(&self, logical: &str, public_base_url: &str) -> anyhow::Result<Arc<dyn Blobs>> {
        let declared = self.uses.iter().any(|u| matches!(u, Use::Bucket(name, _) if *name == logical));
        if !declared {
            return Err(self.undeclared(&format!("bucket {logical}")));
        }
        self.backend.blobs(logical, public_base_url).await
    }

    pub async fn cache(&self) -> anyhow::Result<Arc<dyn Cache>> {
        if !self.uses.contains(&Use::Cache) {
            return Err(self.undeclared("the cache"));
        }
        self.backend.cache().await
    }

    pub async fn keys(&self) -> anyhow::Result<Arc<dyn storage::keys::Keys>> {
        if !self.uses.iter().any(|u| matches!(u, Use::Keys(_))) {
            return Err(self.undeclared("the keys (KMS)"));
        }
        self.backend.keys().await
    }

    /// For [`Use::Email`]: the backend, whose mode chooses the mailer (SES, or the embedded outbox).
    pub fn email(&self) -> anyhow::Result<&Arc<Backend>> {
        if !self.uses.contains(&Use::Email) {
            return Err(self.undeclared("email (SES)"));
        }
        Ok(&self.backend)
    }

    /// For [`Use::Sms`]: the backend, whose mode chooses the SMS sender (SNS, or the embedded outbox).
    pub fn sms(&self) -> anyhow::Result<&Arc<Backend>> {
        if !self.uses.contains(&Use::Sms) {
            return Err(self.undeclared("SMS (SNS)"));
        }
        Ok(&self.backend)
    }

    /// For [`Use::Push`]: the backend, whose mode chooses the push adapter (SNS platform endpoints, or the
    /// embedded outbox), and how the function declared it.
    pub fn push(&self) -> anyhow::Result<(&Arc<Backend>, PushAccess)> {
        let declared = self.uses.iter().find_map(|u| match u {
            Use::Push(access) => Some(*access),
            _ => None,
        });
        match declared {
            Some(access) => Ok((&self.backend, access)),
            None => Err(self.undeclared("mobile push (SNS)")),
        }
    }

    /// For [`Use::UsagePlans`]: the backend, whose mode chooses the adapter (API Gateway, or none under
    /// embedded storage).
    pub fn usage_plans(&self) -> anyhow::Result<&Arc<Backend>> {
        if !self.uses.contains(&Use::UsagePlans) {
            return Err(self.undeclared("API Gateway usage plans"));
        }
        Ok(&self.backend)
    }

    /// For [`Use::Schedules`]: the schedules firing into `target`.
    pub async fn schedules(
        &self,
        target: &storage::queue::QueueSpec,
    ) -> anyhow::Result<std::sync::Arc<dyn storage::schedules::Schedules>> {
        let declared = self.uses.iter().any(|u| matches!(u, Use::Schedules(queue) if *queue == target.name));
        if !declared {
            return Err(self.undeclared(&format!("schedules into queue {}", target.name)));
        }
        self.backend.schedules(target).await
    }

    /// For [`Use::Readiness`]: the backend, to describe any table or queue.
    pub fn readiness(&self) -> anyhow::Result<&Arc<Backend>> {
        if !self.uses.contains(&Use::Readiness) {
            return Err(self.undeclared("every table and queue (readiness)"));
        }
        Ok(&self.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::backend::{StorageMode, StorageSettings};

    static GROUP: Group = Group {
        name: "sample",
        functions: &[
            Function {
                binary: "sample-api",
                kind: Kind::Http,
                uses: &[Use::Table("sample", Access::Read)],
                settings: &[],
            },
            Function {
                binary: "sample-consumer",
                kind: Kind::Consumer {
                    queue: "jobs",
                    batch_size: 10,
                    batching_window_secs: 1,
                    max_concurrency: 2,
                    visibility_secs: 60,
                },
                uses: &[Use::Table("sample", Access::Write)],
                settings: &[],
            },
        ],
    };

    async fn backend() -> Arc<Backend> {
        // AWS adapters open lazily: nothing here connects, so the check is all that can fail.
        let mut settings = StorageSettings::from_env(StorageMode::Aws).unwrap_or_else(|e| panic!("{e}"));
        settings.mode = StorageMode::Aws;
        settings.aws.endpoint_url = Some("http://127.0.0.1:9".into());
        settings.aws.region = Some("us-east-1".into());
        settings.provision = false;
        settings.cache_url = None;
        Arc::new(Backend::open(&settings).await.unwrap_or_else(|e| panic!("{e}")))
    }

    #[tokio::test]
    async fn a_binary_opens_only_what_it_declares() {
        let backend = backend().await;
        let api =
            Resources::for_function(backend.clone(), GROUP.function("sample-api").unwrap_or_else(|e| panic!("{e}")));
        assert!(api.table("sample").await.is_ok());
        let undeclared = api.table("other").await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(undeclared.contains("binary sample-api opens table other without declaring it"), "{undeclared}");
        assert!(api.cache().await.is_err());
        assert!(api.readiness().is_err());
        assert!(api.queue(&QueueSpec { name: "jobs".into(), dead_letter: None }).await.is_err());
    }

    #[tokio::test]
    async fn a_group_opens_what_any_of_its_binaries_declares_and_a_consumer_its_queue() {
        let backend = backend().await;
        let consumer = Resources::for_function(
            backend.clone(),
            GROUP.function("sample-consumer").unwrap_or_else(|e| panic!("{e}")),
        );
        // The queue URL is not set and provisioning is off: the declared queue gets past the check and fails
        // on its missing variable instead.
        let error = consumer.queue(&QueueSpec { name: "jobs".into(), dead_letter: None }).await.err();
        let error = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("QUEUE_URL_JOBS"), "{error}");
        let group = Resources::for_group(backend, &GROUP);
        assert!(group.table("sample").await.is_ok());
        assert!(group.table("other").await.err().is_some_and(|e| e.to_string().contains("group sample")));
    }

    #[test]
    fn unknown_binaries_are_named() {
        let error = GROUP.function("nope").err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(error, "group sample declares no binary nope");
    }
}
