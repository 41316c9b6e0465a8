//! The engine's exactly-one-effect rules against an in-process emulator and the embedded store, the worker's
//! jobs called by hand (no poller): two copies of one job create one record; a claim still within its lease is
//! left alone; an attempt that died (its claim expired) is repeated as an upsert when the step has an
//! idempotency field, and otherwise fails as "outcome unknown" without a second call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use airtable_emulator::{DEV_TOKEN, Emulator};
use automations::engine::{EngineSettings, Worker, WorkerParts};
use automations::model::Definition;
use automations::store::{Automation, Run, RunStatus, Started, StepEntry, StepStatus};
use identity::{IdentityStore, Tenant, User};
use secrecy::SecretString;
use serde_json::{Value, json};
use storage::backend::{Backend, StorageMode, StorageSettings};
use tenancy::{BaseLink, Connection, ConnectionKind, Membership, TenancyStore, Workspace};

const TENANT: &str = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f81";
const USER: &str = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f82";
const BASE: &str = airtable_emulator::seed::DEMO_BASE;
const TASKS: &str = airtable_emulator::seed::TASKS;

struct World {
    worker: Worker,
    url: String,
    workspace: String,
}

async fn world() -> World {
    let running = airtable_emulator::spawn(Emulator::demo(DEV_TOKEN.into()), ([127, 0, 0, 1], 0).into()).await.unwrap();
    let mut storage = StorageSettings::defaults(StorageMode::Embedded);
    storage.data_dir = std::env::temp_dir().join(format!("automations-{}", uuid::Uuid::new_v4().simple()));
    let backend = Arc::new(Backend::open(&storage).await.unwrap());
    let resources = platform::group::Resources::for_group(backend, &automations::GROUP);

    // The creator: a user of the tenant, admin of a workspace whose PAT connection links the demo base.
    let identity = IdentityStore::new(resources.table(identity::TABLE).await.unwrap());
    let now = "2026-12-07T10:00:00Z".to_string();
    let tenant = Tenant::new(TENANT.into(), USER.into(), now.clone());
    let user = User {
        id: USER.into(),
        tenant_id: TENANT.into(),
        email: "creator@example.com".into(),
        first_name: None,
        last_name: None,
        roles: Vec::new(),
        status: Default::default(),
        password_hash: SecretString::from("not a hash"),
        created_at: now.clone(),
        updated_at: now,
        version: 0,
    };
    identity.create_account(&tenant, &user).await.unwrap();
    let store = TenancyStore::new(resources.table(tenancy::TABLE).await.unwrap());
    let secrets = tenancy::secrets::connection_secrets(resources.keys().await.unwrap());
    let workspace = Workspace::new(TENANT, "Ops".into(), None, USER);
    let member = Membership::new(&workspace.id, USER, access::WorkspaceRole::Admin, USER);
    store.create_workspace(&workspace, &member).await.unwrap();
    let mut connection = Connection::new(&workspace.id, ConnectionKind::Pat, "PAT".into(), USER);
    connection.secret = Some(secrets.seal(TENANT, &connection.id, &SecretString::from(DEV_TOKEN)).await.unwrap());
    store.put_connection(TENANT, &connection).await.unwrap();
    store.link_base(TENANT, &BaseLink::new(BASE, "Demo".into(), &connection, USER)).await.unwrap();

    let settings = airtable::AirtableSettings::new(running.url(), None);
    let endpoints = tenancy::airtable::AirtableEndpoints { api_url: running.url(), ..Default::default() };
    let credentials = airtable::tenant_credentials(&resources, &settings, endpoints).await.unwrap();
    let gateway = airtable::Gateway::new(
        &settings,
        resources.cache().await.unwrap(),
        resources.namespace(),
        Arc::new(credentials),
        airtable::Metrics::local(),
    )
    .unwrap();
    let parts = WorkerParts {
        gateway,
        plans: identity::plans::Plans::default(),
        allowed: Default::default(),
        settings: EngineSettings { lease: Duration::from_secs(30), ..EngineSettings::default() },
    };
    let worker = Worker::build(&resources, parts).await.unwrap();
    World { worker, url: running.url(), workspace: workspace.id }
}

impl World {
    async fn automation(&self, create: Value) -> Automation {
        let definition: Definition = serde_json::from_value(json!({
            "trigger": {"type": "manual"},
            "steps": [create, {"type": "notify", "subject": "done {{ steps.task.id }}", "body": ""}],
        }))
        .unwrap();
        automations::model::validate(&definition).unwrap();
        let automation = Automation {
            id: format!("au_{}", uuid::Uuid::now_v7().simple()),
            tenant_id: TENANT.into(),
            workspace_id: self.workspace.clone(),
            name: "Engine".into(),
            description: None,
            enabled: true,
            definition,
            max_concurrent_runs: 5,
            created_by: USER.into(),
            hook_token_hash: None,
            created_at: "2026-12-07T10:00:00Z".into(),
            updated_at: "2026-12-07T10:00:00Z".into(),
            version: 0,
        };
        self.worker.store.create(&automation).await.unwrap()
    }

    async fn start(&self, automation: &Automation) -> Run {
        let seed = uuid::Uuid::new_v4().to_string();
        match self.worker.starter.start(automation, json!({}), &seed, storage::now_millis()).await.unwrap() {
            Started::New(run) => *run,
            other => panic!("{other:?}"),
        }
    }

    async fn run(&self, run: &Run) -> Run {
        self.worker.store.run(TENANT, &run.automation_id, &run.id).await.unwrap().unwrap()
    }

    /// Steps the run by hand until it ends or `jobs` jobs have run.
    async fn drive(&self, run: &Run, jobs: usize) -> Run {
        for _ in 0..jobs {
            let now = self.run(run).await;
            if now.status.is_final() {
                return now;
            }
            automations::engine::step(&self.worker, TENANT, &run.automation_id, &run.id).await.unwrap();
        }
        self.run(run).await
    }

    /// The tasks at Airtable whose title starts with `prefix`.
    async fn tasks(&self, prefix: &str) -> Vec<Value> {
        let listed: Value = reqwest::Client::new()
            .get(format!("{}/v0/{BASE}/{TASKS}?pageSize=100", self.url))
            .bearer_auth(DEV_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["fields"]["Title"].as_str().is_some_and(|t| t.starts_with(prefix)))
            .cloned()
            .collect()
    }

    /// Marks step `path` as claimed `ago` (a worker that claimed it and died).
    async fn claimed(&self, run: &Run, path: &str, ago: Duration) {
        let mut stored = self.run(run).await;
        let at = storage::now_millis() - i64::try_from(ago.as_millis()).unwrap();
        stored.status = RunStatus::Running;
        stored.log.push(StepEntry {
            path: path.into(),
            step_id: Some("task".into()),
            kind: "create_record".into(),
            status: StepStatus::Running,
            attempts: 1,
            input: None,
            output: None,
            error: None,
            started_at_ms: at,
            finished_at_ms: None,
            due_at_ms: None,
            claimed_at_ms: Some(at),
        });
        self.worker.store.save_run(&stored).await.unwrap();
    }
}

fn create(title: &str, idempotent: bool) -> Value {
    let mut step = json!({"type": "create_record", "id": "task", "base_id": BASE, "table": TASKS,
                          "fields": {"Title": title}});
    if idempotent {
        step["idempotency_field"] = json!("Project");
    }
    step
}

#[tokio::test]
async fn two_copies_of_one_job_create_one_record() {
    let world = world().await;
    let automation = world.automation(create("Twice", false)).await;
    let run = world.start(&automation).await;
    let (a, b) = tokio::join!(
        automations::engine::step(&world.worker, TENANT, &automation.id, &run.id),
        automations::engine::step(&world.worker, TENANT, &automation.id, &run.id),
    );
    a.unwrap();
    b.unwrap();
    let done = world.drive(&run, 10).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(world.tasks("Twice").await.len(), 1);
    assert_eq!(done.log[0].attempts, 1);
}

#[tokio::test]
async fn a_claim_within_its_lease_is_left_alone() {
    let world = world().await;
    let automation = world.automation(create("Leased", false)).await;
    let run = world.start(&automation).await;
    world.claimed(&run, "0", Duration::from_secs(1)).await;
    automations::engine::step(&world.worker, TENANT, &automation.id, &run.id).await.unwrap();
    let after = world.run(&run).await;
    assert_eq!(after.log[0].status, StepStatus::Running, "still the other worker's");
    assert!(world.tasks("Leased").await.is_empty(), "nothing sent");
}

#[tokio::test]
async fn a_dead_attempt_is_repeated_as_an_upsert_with_an_idempotency_field() {
    let world = world().await;
    let automation = world.automation(create("Upserted", true)).await;
    let run = world.start(&automation).await;
    // The dead attempt's record reached Airtable (with its step key), then the worker died.
    let made = reqwest::Client::new()
        .post(format!("{}/v0/{BASE}/{TASKS}", world.url))
        .bearer_auth(DEV_TOKEN)
        .json(&json!({"fields": {"Title": "Upserted", "Project": format!("{}:0", run.id)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    world.claimed(&run, "0", Duration::from_secs(3600)).await;
    let done = world.drive(&run, 10).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(done.log[0].attempts, 2);
    assert_eq!(world.tasks("Upserted").await.len(), 1, "found, not made again");
}

#[tokio::test]
async fn a_dead_plain_create_fails_as_outcome_unknown_without_a_second_call() {
    let world = world().await;
    let automation = world.automation(create("Unknown", false)).await;
    let run = world.start(&automation).await;
    world.claimed(&run, "0", Duration::from_secs(3600)).await;
    let done = world.drive(&run, 10).await;
    assert_eq!(done.status, RunStatus::Failed, "{done:?}");
    assert!(done.error.as_deref().unwrap().contains("outcome unknown"), "{:?}", done.error);
    assert!(world.tasks("Unknown").await.is_empty(), "no call was made");
    // The user's word: a retry runs it (the run's failed entry goes; the succeeded ones would stay).
    let mut retried = done.clone();
    retried.log.retain(|e| e.status == StepStatus::Succeeded);
    retried.status = RunStatus::Queued;
    world.worker.store.save_run(&retried).await.unwrap();
    let done = world.drive(&run, 10).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{done:?}");
    assert_eq!(world.tasks("Unknown").await.len(), 1);
}
