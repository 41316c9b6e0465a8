//! Change capture against an in-process emulator and the embedded store: registration, payload fetches from the
//! persisted cursor, a page read again after a "crash" before the cursor moved (the same events), the refresh
//! (and registering again a webhook Airtable forgot), and unregistering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use airtable::changes::hooks::Registered;
use airtable::{AirtableSettings, Metrics};
use airtable_emulator::{DEV_TOKEN, Emulator};
use secrecy::SecretString;
use serde_json::{Value, json};
use storage::backend::{Backend, StorageMode, StorageSettings};
use tenancy::{BaseLink, Connection, ConnectionKind, Membership, TenancyStore, Workspace};

const TENANT: &str = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f71";
const USER: &str = "0193a5b2-7c1e-7d3a-9f00-3b1c2d4e5f72";
const BASE: &str = airtable_emulator::seed::DEMO_BASE;
const PROJECTS: &str = airtable_emulator::seed::PROJECTS;

struct World {
    capture: airtable::changes::Capture,
    emulator: Emulator,
    url: String,
    backend: Arc<Backend>,
}

async fn world() -> World {
    let running = airtable_emulator::spawn(Emulator::demo(DEV_TOKEN.into()), ([127, 0, 0, 1], 0).into()).await.unwrap();
    let mut storage = StorageSettings::defaults(StorageMode::Embedded);
    storage.data_dir = std::env::temp_dir().join(format!("changes-{}", uuid::Uuid::new_v4().simple()));
    let backend = Arc::new(Backend::open(&storage).await.unwrap());
    let resources = platform::group::Resources::for_group(backend.clone(), &airtable::GROUP);
    let store = TenancyStore::new(resources.table(tenancy::TABLE).await.unwrap());
    let secrets = tenancy::secrets::connection_secrets(resources.keys().await.unwrap());
    let workspace = Workspace::new(TENANT, "Sales".into(), None, USER);
    let member = Membership::new(&workspace.id, USER, access::WorkspaceRole::Admin, USER);
    store.create_workspace(&workspace, &member).await.unwrap();
    let mut connection = Connection::new(&workspace.id, ConnectionKind::Pat, "PAT".into(), USER);
    connection.secret = Some(secrets.seal(TENANT, &connection.id, &SecretString::from(DEV_TOKEN)).await.unwrap());
    store.put_connection(TENANT, &connection).await.unwrap();
    store.link_base(TENANT, &BaseLink::new(BASE, "Demo".into(), &connection, USER)).await.unwrap();
    let settings = AirtableSettings::new(running.url(), None);
    let endpoints = tenancy::airtable::AirtableEndpoints { api_url: running.url(), ..Default::default() };
    // Pings go nowhere (a closed port): these tests drive the fetches themselves.
    let public = Some("http://127.0.0.1:9".to_string());
    let capture = airtable::capture(&resources, &settings, endpoints, Metrics::local(), public).await.unwrap();
    let url = running.url();
    World { capture, emulator: running.emulator, url, backend }
}

impl World {
    fn webhooks(&self) -> Vec<(String, String)> {
        let world = self.emulator.world();
        let base = world.bases.iter().find(|b| b.id == BASE).unwrap();
        base.webhooks.iter().map(|w| (w.id.clone(), w.expiration_time())).collect()
    }

    async fn create(&self, name: &str) -> String {
        let created: Value = reqwest::Client::new()
            .post(format!("{}/v0/{BASE}/{PROJECTS}", self.url))
            .bearer_auth(DEV_TOKEN)
            .json(&json!({"fields": {"Name": name}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    /// Every event on the audit route's queue so far: (id, type, record).
    async fn published(&self) -> Vec<(String, String, String)> {
        let queue = self.backend.queue(&events::routing::queue_spec(events::routing::AUDIT)).await.unwrap();
        let mut out = Vec::new();
        loop {
            let got = queue.receive(10, Duration::from_secs(60), Duration::ZERO).await.unwrap();
            if got.is_empty() {
                return out;
            }
            for message in got {
                let event: Value = serde_json::from_str(&message.body).unwrap();
                let record = event["data"]["record_id"].as_str().unwrap_or_default().to_string();
                out.push((event["id"].as_str().unwrap().into(), event["type"].as_str().unwrap().into(), record));
                queue.delete(&message.receipt_handle).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_link_is_registered_once_and_its_payloads_read_from_the_cursor_at_least_once() {
    let world = world().await;
    let capture = &world.capture;
    assert_eq!(capture.register(TENANT, BASE).await.unwrap(), Registered::Yes(true));
    assert_eq!(capture.register(TENANT, BASE).await.unwrap(), Registered::Yes(false), "a redelivered link event");
    let hooks = world.webhooks();
    assert_eq!(hooks.len(), 1, "one webhook per link");
    let webhook = hooks[0].0.clone();
    let stored = capture.hooks.get(TENANT, BASE).await.unwrap().unwrap();
    assert_eq!((stored.webhook_id.as_str(), stored.cursor), (webhook.as_str(), 1));
    assert!(!serde_json::to_string(&stored).unwrap().contains(&world.emulator_secret(&webhook)), "sealed at rest");

    let first = world.create("First").await;
    let second = world.create("Second").await;
    let fetched = capture.fetch(TENANT, BASE, &webhook).await.unwrap();
    assert_eq!((fetched.payloads, fetched.events), (2, 2));
    let events = world.published().await;
    let records: Vec<&str> = events.iter().map(|(_, _, r)| r.as_str()).collect();
    assert_eq!(records, [first.as_str(), second.as_str()]);
    assert!(events.iter().all(|(_, kind, _)| kind == "airtable.record.created"));
    assert_eq!(capture.hooks.get(TENANT, BASE).await.unwrap().unwrap().cursor, 3, "the cursor moved on");

    // Nothing new: nothing published.
    assert_eq!(capture.fetch(TENANT, BASE, &webhook).await.unwrap().events, 0);
    assert!(world.published().await.is_empty());

    // A crash after publishing, before the cursor moved: the page is read again, as the very same events.
    let mut hook = capture.hooks.get(TENANT, BASE).await.unwrap().unwrap();
    hook.cursor = 1;
    assert!(capture.hooks.update(&hook).await.unwrap());
    assert_eq!(capture.fetch(TENANT, BASE, &webhook).await.unwrap().events, 2);
    assert_eq!(world.published().await, events, "the same ids: consumers drop them");

    // A job for another webhook (an older registration) reads nothing.
    assert_eq!(capture.fetch(TENANT, BASE, "achSomethingElse0").await.unwrap().payloads, 0);
}

#[tokio::test]
async fn refresh_extends_webhooks_and_registers_again_one_airtable_forgot_and_unlinking_deletes_it() {
    let world = world().await;
    let capture = &world.capture;
    capture.register(TENANT, BASE).await.unwrap();
    let (webhook, _) = world.webhooks()[0].clone();

    // Nothing due within a day (a new webhook lives seven).
    assert_eq!(capture.refresh_due(24 * 3600).await.unwrap(), (0, 0, 0));
    // Due within eight days: refreshed at Airtable, the stored expiry follows.
    world.emulator.advance_clock(Duration::from_secs(3600));
    assert_eq!(capture.refresh_due(8 * 24 * 3600).await.unwrap(), (1, 0, 0));
    let stored = capture.hooks.get(TENANT, BASE).await.unwrap().unwrap();
    assert_eq!(world.webhooks(), vec![(webhook.clone(), stored.expiration_time.clone())]);

    // Airtable no longer knows it (expired, deleted there): registered again, as a new webhook.
    world.emulator.world().bases.iter_mut().find(|b| b.id == BASE).unwrap().webhooks.clear();
    assert_eq!(capture.refresh_due(8 * 24 * 3600).await.unwrap(), (0, 1, 0));
    let again = world.webhooks();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].0, webhook);
    assert_eq!(capture.hooks.get(TENANT, BASE).await.unwrap().unwrap().webhook_id, again[0].0);

    capture.unregister(TENANT, BASE).await.unwrap();
    assert!(world.webhooks().is_empty(), "deleted at Airtable");
    assert!(capture.hooks.get(TENANT, BASE).await.unwrap().is_none());
    capture.unregister(TENANT, BASE).await.unwrap();
}

#[tokio::test]
async fn without_a_public_url_or_a_link_nothing_is_registered() {
    let world = world().await;
    let capture = &world.capture;
    assert_eq!(capture.register(TENANT, airtable_emulator::seed::OPS_BASE).await.unwrap(), Registered::Skipped);
    assert_eq!(capture.register("another-tenant", BASE).await.unwrap(), Registered::Skipped);
    assert!(world.webhooks().is_empty());
}

impl World {
    fn emulator_secret(&self, webhook: &str) -> String {
        let world = self.emulator.world();
        let base = world.bases.iter().find(|b| b.id == BASE).unwrap();
        base.webhooks.iter().find(|w| w.id == webhook).unwrap().mac_secret_base64.clone()
    }
}
