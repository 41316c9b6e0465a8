//! Automations end to end, on both adapter sets: a record made at Airtable (the emulator, never through the
//! gateway) starts an automation that creates a record in another table through the gateway and notifies its
//! creator; schedules follow their automation (moto holds them; the embedded clock fires them); incoming
//! webhooks, branches, repeats, waits and outgoing calls; retries; another tenant and a viewer are refused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airtable_emulator::auth::{BaseReach, EmulatorUser};
use airtable_emulator::seed::{DEMO_BASE, PROJECTS, TASKS};
use axum::http::HeaderMap;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::accounts::{Account, call, join};
use crate::support::airtable::{Client, gateway_settings};
use crate::support::{TestApp, assert_error};

fn automation_settings(settings: &mut local_runner::Settings) {
    gateway_settings(settings);
    let groups = settings.groups.get_or_insert_with(Vec::new);
    groups.extend(["automations", "notifications", "tenants"].map(String::from));
    settings.change_capture = true;
    // An hour: whatever the gateway shows within seconds, its TTL did not show it.
    settings.airtable.ttl.records = Duration::from_secs(3600);
    // The outgoing calls go to a receiver on loopback.
    settings.webhooks.allowed = "127.0.0.0/8".parse().unwrap();
    settings.automations.retry_delays = vec![Duration::from_millis(200), Duration::from_millis(200)];
}

crate::both_adapters_in!(automation_settings;
    a_record_made_at_airtable_runs_an_automation_that_writes_through_the_gateway_and_notifies,
    automations_are_created_listed_changed_and_deleted_and_bad_input_is_a_4xx,
    another_tenant_sees_nothing_and_a_viewer_is_refused,
    a_schedule_follows_its_automation_and_fires_under_the_controllable_clock,
    an_incoming_webhook_runs_branches_repeats_waits_and_calls_out,
    a_failing_step_is_retried_then_the_run_fails_and_a_retry_finishes_it,
    an_automation_writing_the_table_it_watches_does_not_start_itself_again,
);

// ---------------------------------------------------------------- helpers

/// The "Platform" workspace the demo bases were attached in.
async fn workspace_of(app: &TestApp, who: &Account) -> String {
    let response = call(app, Method::GET, "/api/v1/workspaces", &who.access, None).await;
    assert_eq!(response.status(), 200);
    let listed: Value = response.json().await.unwrap();
    let found = listed["workspaces"].as_array().unwrap().iter().find(|w| w["name"] == "Platform").cloned();
    found.expect("the platform bases' workspace")["id"].as_str().unwrap().to_string()
}

fn automations_path(ws: &str) -> String {
    format!("/api/v1/workspaces/{ws}/automations")
}

async fn create(app: &TestApp, who: &Account, ws: &str, body: Value) -> Value {
    let response = call(app, Method::POST, &automations_path(ws), &who.access, Some(body.clone())).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "creating {body}: {answer}");
    answer
}

/// Waits for the automation's latest run to end; returns it.
async fn finished_run(app: &TestApp, who: &Account, ws: &str, automation: &str, within: Duration) -> Value {
    let path = format!("{}/{automation}/runs", automations_path(ws));
    let deadline = Instant::now() + within;
    loop {
        let response = call(app, Method::GET, &path, &who.access, None).await;
        assert_eq!(response.status(), 200);
        let runs: Value = response.json().await.unwrap();
        if let Some(run) = runs["runs"].get(0)
            && matches!(run["status"].as_str(), Some("succeeded" | "failed"))
        {
            return run.clone();
        }
        assert!(Instant::now() < deadline, "no finished run of {automation}: {runs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The id of the field named `name` in `table` of the demo base (through the gateway's schema).
async fn field_id(client: &Client, table: &str, name: &str) -> String {
    let response = client.get(&format!("/v0/meta/bases/{DEMO_BASE}/tables")).await;
    assert_eq!(response.status(), 200);
    let schema: Value = response.json().await.unwrap();
    let table = schema["tables"].as_array().unwrap().iter().find(|t| t["id"] == table).unwrap().clone();
    let field = table["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    field["id"].as_str().unwrap().to_string()
}

/// Waits until the emulator has a webhook on the demo base (change capture registered the link).
async fn capture_registered(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let registered = {
            let emulator = app.emulator();
            let world = emulator.world();
            world.bases.iter().any(|b| b.id == DEMO_BASE && !b.webhooks.is_empty())
        };
        if registered {
            // The hook is stored right after Airtable made it; give the store its moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        assert!(Instant::now() < deadline, "change capture registered no webhook on the demo base");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback receiver answering `status` (changeable), recording every request.
#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<Mutex<u16>>,
    received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Receiver {
    async fn start(status: u16) -> Self {
        let status = Arc::new(Mutex::new(status));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (status.clone(), received.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (status, received) = (s.clone(), r.clone());
            async move {
                received.lock().unwrap().push((headers, body));
                let code = *status.lock().unwrap();
                let mut response = axum::response::Response::new(axum::body::Body::from("{\"ok\": true}"));
                *response.status_mut() = axum::http::StatusCode::from_u16(code).unwrap();
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/in", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, status, received }
    }

    fn requests(&self) -> Vec<(HeaderMap, String)> {
        self.received.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------- scenarios

async fn a_record_made_at_airtable_runs_an_automation_that_writes_through_the_gateway_and_notifies(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    capture_registered(app).await;
    let name_field = field_id(&client, PROJECTS, "Name").await;

    let definition = json!({
        "name": "New projects get a task",
        "trigger": {"type": "record_created", "base_id": DEMO_BASE, "table_id": PROJECTS},
        "conditions": {"path": format!("trigger.fields.{name_field}"), "op": "starts_with", "value": "Made at Airtable"},
        "steps": [
            {"type": "create_record", "id": "task", "base_id": DEMO_BASE, "table": TASKS,
             "fields": {"Title": format!("Follow up {{{{ trigger.fields.{name_field} }}}}"), "Project": "{{ trigger.record_id }}"}},
            {"type": "notify", "subject": "New project {{ trigger.record_id }}",
             "body": "Task {{ steps.task.id }} was created for it."}
        ]
    });
    let automation = create(app, owner, &ws, definition).await;
    let automation_id = automation["id"].as_str().unwrap().to_string();
    assert_eq!(automation["enabled"], true);
    assert_eq!(automation["trigger"]["type"], "record_created");

    // The tasks list, cached (an hour's TTL): the automation's write must show through it.
    let tasks = format!("/api/v1/airtable/bases/{DEMO_BASE}/tables/{TASKS}/records?pageSize=100");
    let (status, _, _) = client.read(&tasks, &[]).await;
    assert_eq!(status, 200);
    let (_, cache, _) = client.read(&tasks, &[]).await;
    assert_eq!(cache, "HIT");

    // A record made at Airtable directly (the emulator's own token): the gateway never sees this write.
    let token = app.emulator().issue_token(EmulatorUser::emulator(), BaseReach::only([DEMO_BASE]), Vec::new());
    let name = format!("Made at Airtable {}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let made: Value = app
        .client
        .post(format!("{}/v0/{DEMO_BASE}/{PROJECTS}", client.emulator))
        .bearer_auth(&token)
        .json(&json!({"fields": {"Name": name}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = made["id"].as_str().unwrap().to_string();
    // One not matching the conditions starts nothing.
    let ignored = app
        .client
        .post(format!("{}/v0/{DEMO_BASE}/{PROJECTS}", client.emulator))
        .bearer_auth(&token)
        .json(&json!({"fields": {"Name": "Something else"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ignored.status(), 200);

    let run = finished_run(app, owner, &ws, &automation_id, Duration::from_secs(20)).await;
    let took = started.elapsed();
    println!("automations: a record made at Airtable ran the automation to its end in {took:?}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"]["record_id"], project.as_str());
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{run}");
    assert!(steps.iter().all(|s| s["status"] == "succeeded" && s["attempts"] == 1), "{run}");
    let task = steps[0]["output"]["id"].as_str().expect("the created task's id").to_string();
    assert_eq!(steps[0]["output"]["fields"]["Title"], format!("Follow up {name}"));
    assert_eq!(steps[1]["output"]["notified"], json!([owner.user_id]));

    // Exactly one task for the project, at Airtable, and the gateway's cached list shows it now.
    let follow_up = format!("Follow up {name}");
    let at_airtable: Value = app
        .client
        .get(format!("{}/v0/{DEMO_BASE}/{TASKS}?pageSize=100", client.emulator))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let count = at_airtable["records"].as_array().unwrap().iter().filter(|r| r["fields"]["Title"] == follow_up).count();
    assert_eq!(count, 1, "one task at Airtable");
    let (status, _, listed) = client.read(&tasks, &[]).await;
    assert_eq!(status, 200);
    assert!(listed["records"].as_array().unwrap().iter().any(|r| r["id"] == task.as_str()), "the cached list shows it");
    // And the projects list (change capture) shows the project made at Airtable.
    let projects = format!("/api/v1/airtable/bases/{DEMO_BASE}/tables/{PROJECTS}/records?pageSize=100");
    let (_, _, listed) = client.read(&projects, &[]).await;
    assert!(listed["records"].as_array().unwrap().iter().any(|r| r["id"] == project.as_str()));

    // The creator's in-app notification.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = call(app, Method::GET, "/api/v1/notifications?limit=50", &owner.access, None).await;
        assert_eq!(response.status(), 200);
        let inbox: Value = response.json().await.unwrap();
        let notice =
            inbox["notifications"].as_array().unwrap().iter().find(|n| n["type"] == "automation.notification").cloned();
        if let Some(notice) = notice {
            assert_eq!(notice["title"], format!("New project {project}"));
            assert!(notice["body"].as_str().unwrap().contains(&task), "{notice}");
            assert_eq!(notice["category"], "automation");
            break;
        }
        assert!(Instant::now() < deadline, "no automation notice in the inbox: {inbox}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One run only: the other record did not match.
    let runs: Value =
        call(app, Method::GET, &format!("{}/{automation_id}/runs", automations_path(&ws)), &owner.access, None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
}

async fn automations_are_created_listed_changed_and_deleted_and_bad_input_is_a_4xx(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    let base = automations_path(&ws);
    let body = json!({"name": "Manual", "trigger": {"type": "manual"},
                      "steps": [{"type": "notify", "subject": "Hello {{ trigger.data.who }}", "body": ""}]});
    let created = create(app, owner, &ws, body).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert!(created.get("webhook_url").is_none(), "only a webhook trigger has a URL");

    let listed: Value = call(app, Method::GET, &base, &owner.access, None).await.json().await.unwrap();
    assert_eq!(listed["automations"].as_array().unwrap().len(), 1);
    let path = format!("{base}/{id}");
    let got: Value = call(app, Method::GET, &path, &owner.access, None).await.json().await.unwrap();
    assert_eq!(got["name"], "Manual");
    assert_eq!(got["created_by"], owner.user_id.as_str());

    // A change with a stale version is refused; with the current one it applies.
    let stale = json!({"name": "Renamed", "version": 99});
    assert_error(call(app, Method::PATCH, &path, &owner.access, Some(stale)).await, 409, "version_conflict").await;
    let change = json!({"name": "Renamed", "version": got["version"], "max_concurrent_runs": 3});
    let response = call(app, Method::PATCH, &path, &owner.access, Some(change)).await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!((changed["name"].as_str(), changed["max_concurrent_runs"].as_u64()), (Some("Renamed"), Some(3)));

    // The dry run renders without executing; a manual run executes.
    let test = json!({"trigger": {"data": {"who": "Ada"}}});
    let response = call(app, Method::POST, &format!("{path}/test"), &owner.access, Some(test)).await;
    assert_eq!(response.status(), 200);
    let dry: Value = response.json().await.unwrap();
    assert_eq!(dry["conditions_hold"], true);
    assert_eq!(dry["steps"][0]["input"]["subject"], "Hello Ada");
    let response =
        call(app, Method::POST, &format!("{path}/run"), &owner.access, Some(json!({"data": {"who": "Bob"}}))).await;
    assert_eq!(response.status(), 202);
    let started: Value = response.json().await.unwrap();
    let run_id = started["id"].as_str().unwrap().to_string();
    let run = finished_run(app, owner, &ws, &id, Duration::from_secs(10)).await;
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["steps"][0]["input"]["subject"], "Hello Bob");
    let got: Value =
        call(app, Method::GET, &format!("{base}/runs/{run_id}"), &owner.access, None).await.json().await.unwrap();
    assert_eq!(got["status"], "succeeded");
    // Only a failed run can be retried.
    let response = call(app, Method::POST, &format!("{base}/runs/{run_id}/retry"), &owner.access, None).await;
    assert_error(response, 409, "run_not_failed").await;

    // Disabled: a manual run is refused; enabled again it runs.
    let response = call(app, Method::POST, &format!("{path}/disable"), &owner.access, None).await;
    assert_eq!(response.status(), 200);
    let response = call(app, Method::POST, &format!("{path}/run"), &owner.access, Some(json!({}))).await;
    assert_error(response, 409, "automation_disabled").await;
    let response = call(app, Method::POST, &format!("{path}/enable"), &owner.access, None).await;
    let enabled: Value = response.json().await.unwrap();
    assert_eq!(enabled["enabled"], true);

    // Bad input: a clear 400 naming the part.
    let bad = [
        (json!({"name": "", "trigger": {"type": "manual"}, "steps": [{"type": "wait", "seconds": 1}]}), "name"),
        (json!({"name": "x", "trigger": {"type": "manual"}, "steps": []}), "steps"),
        (
            json!({"name": "x", "trigger": {"type": "schedule", "cron": "0 25 * * *"}, "steps": [{"type": "wait", "seconds": 1}]}),
            "trigger.cron",
        ),
        (
            json!({"name": "x", "trigger": {"type": "event", "event_type": "no.such"}, "steps": [{"type": "wait", "seconds": 1}]}),
            "trigger.event_type",
        ),
        (
            json!({"name": "x", "trigger": {"type": "manual"}, "steps": [{"type": "notify", "subject": "{% for %}", "body": ""}]}),
            "steps[0].subject",
        ),
        (
            json!({"name": "x", "trigger": {"type": "manual"}, "steps": [{"type": "wait", "seconds": 1}], "max_concurrent_runs": 11}),
            "max_concurrent_runs",
        ),
    ];
    for (body, field) in bad {
        let response = call(app, Method::POST, &base, &owner.access, Some(body.clone())).await;
        let answer = assert_error(response, 400, "invalid_field").await;
        assert!(answer["error"].as_str().unwrap().starts_with(field), "{body}: {answer}");
    }
    // Unknown fields and types are refused by the body's shape (4xx, the platform's error shape).
    let response = call(
        app,
        Method::POST,
        &base,
        &owner.access,
        Some(json!({"name": "x", "trigger": {"type": "manual"}, "steps": [{"type": "teleport"}]})),
    )
    .await;
    assert!(response.status().is_client_error());
    let response = call(app, Method::GET, &format!("{base}/runs/run_nope"), &owner.access, None).await;
    assert_error(response, 404, "not_found").await;

    // The free plan's five automations.
    for n in 0..4 {
        create(
            app,
            owner,
            &ws,
            json!({"name": format!("n{n}"), "trigger": {"type": "manual"}, "steps": [{"type": "wait", "seconds": 1}]}),
        )
        .await;
    }
    let response = call(
        app,
        Method::POST,
        &base,
        &owner.access,
        Some(json!({"name": "sixth", "trigger": {"type": "manual"}, "steps": [{"type": "wait", "seconds": 1}]})),
    )
    .await;
    assert_error(response, 403, "plan_limit_reached").await;

    // Deleted: gone, its runs unreachable.
    let response = call(app, Method::DELETE, &path, &owner.access, None).await;
    assert_eq!(response.status(), 204);
    assert_error(call(app, Method::GET, &path, &owner.access, None).await, 404, "not_found").await;
    assert_error(call(app, Method::GET, &format!("{path}/runs"), &owner.access, None).await, 404, "not_found").await;
}

async fn another_tenant_sees_nothing_and_a_viewer_is_refused(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    let base = automations_path(&ws);
    let created =
        create(app, owner, &ws, json!({"name": "Mine", "trigger": {"type": "manual"}, "steps": [{"type": "notify", "subject": "s", "body": ""}]})).await;
    let id = created["id"].as_str().unwrap().to_string();
    let response = call(app, Method::POST, &format!("{base}/{id}/run"), &owner.access, Some(json!({}))).await;
    let run: Value = response.json().await.unwrap();
    let run_id = run["id"].as_str().unwrap().to_string();
    finished_run(app, owner, &ws, &id, Duration::from_secs(10)).await;

    // Another tenant: every route is a 404, and nothing changes.
    let stranger = crate::support::accounts::register(app).await;
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, base.clone(), None),
        (
            Method::POST,
            base.clone(),
            Some(json!({"name": "x", "trigger": {"type": "manual"}, "steps": [{"type": "wait", "seconds": 1}]})),
        ),
        (Method::GET, format!("{base}/{id}"), None),
        (Method::PATCH, format!("{base}/{id}"), Some(json!({"name": "Theirs"}))),
        (Method::POST, format!("{base}/{id}/disable"), None),
        (Method::POST, format!("{base}/{id}/test"), Some(json!({}))),
        (Method::POST, format!("{base}/{id}/run"), Some(json!({}))),
        (Method::GET, format!("{base}/{id}/runs"), None),
        (Method::GET, format!("{base}/runs/{run_id}"), None),
        (Method::POST, format!("{base}/runs/{run_id}/retry"), None),
        (Method::DELETE, format!("{base}/{id}"), None),
    ];
    for (method, path, body) in &calls {
        let response = call(app, method.clone(), path, &stranger.access, body.clone()).await;
        assert_error(response, 404, "not_found").await;
    }
    // Their own workspace, our automation's id: still nothing.
    let theirs = call(app, Method::POST, "/api/v1/workspaces", &stranger.access, Some(json!({"name": "Theirs"}))).await;
    let theirs: Value = theirs.json().await.unwrap();
    let their_ws = theirs["id"].as_str().unwrap();
    let response =
        call(app, Method::GET, &format!("{}/{id}", automations_path(their_ws)), &stranger.access, None).await;
    assert_error(response, 404, "not_found").await;
    let response =
        call(app, Method::GET, &format!("{}/runs/{run_id}", automations_path(their_ws)), &stranger.access, None).await;
    assert_error(response, 404, "not_found").await;
    let got: Value = call(app, Method::GET, &format!("{base}/{id}"), &owner.access, None).await.json().await.unwrap();
    assert_eq!((got["name"].as_str(), got["enabled"].as_bool()), (Some("Mine"), Some(true)), "unchanged");

    // A tenant member with no role in the workspace does not see it; a viewer sees it but may not manage.
    let member = join(app, &owner.access, "member").await;
    assert_error(call(app, Method::GET, &base, &member.access, None).await, 404, "not_found").await;
    let members = format!("/api/v1/workspaces/{ws}/members");
    let added =
        call(app, Method::POST, &members, &owner.access, Some(json!({"user_id": member.user_id, "role": "viewer"})))
            .await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    for (method, path, body) in &calls {
        let response = call(app, method.clone(), path, &member.access, body.clone()).await;
        assert_error(response, 403, "forbidden").await;
    }
    // An editor may.
    let path = format!("{members}/{}", member.user_id);
    let promoted =
        call(app, Method::PATCH, &path, &owner.access, Some(json!({"role": "editor", "version": added["version"]})))
            .await;
    assert_eq!(promoted.status(), 200);
    let response = call(app, Method::GET, &base, &member.access, None).await;
    assert_eq!(response.status(), 200);
}

async fn a_schedule_follows_its_automation_and_fires_under_the_controllable_clock(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    let body = json!({"name": "Weekday mornings",
        "trigger": {"type": "schedule", "cron": "30 9 * * 1-5", "timezone": "Europe/Paris"},
        "steps": [{"type": "notify", "subject": "Good morning ({{ trigger.scheduled_time }})", "body": ""}]});
    let created = create(app, owner, &ws, body).await;
    let id = created["id"].as_str().unwrap().to_string();

    // The schedule the port holds (moto's EventBridge Scheduler, or the embedded store): the tenant's group, the
    // automation's name, the cron and its time zone.
    let schedules: Arc<dyn storage::schedules::Schedules> = match app.schedules() {
        Some(embedded) => embedded,
        None => {
            let backend = storage::backend::Backend::open(&app.storage).await.unwrap();
            backend.schedules(&automations::jobs::queue_spec()).await.unwrap()
        }
    };
    let group = automations::schedule::group_of(&app.storage.table_prefix, &owner.tenant_id);
    let held = schedules.get(&group, &id).await.unwrap().expect("a schedule");
    assert!(group.starts_with(&app.storage.table_prefix[..20]), "under the deployment's name: {group}");
    assert_eq!(held.time_zone, "Europe/Paris");
    assert_eq!(held.expression, storage::schedules::Expression::cron("30 9 * * 1-5").unwrap());
    assert!(held.input.contains(&id), "{}", held.input);

    // Disabled: no schedule; enabled: back.
    let path = format!("{}/{id}", automations_path(&ws));
    assert_eq!(call(app, Method::POST, &format!("{path}/disable"), &owner.access, None).await.status(), 200);
    assert!(schedules.get(&group, &id).await.unwrap().is_none());
    assert_eq!(call(app, Method::POST, &format!("{path}/enable"), &owner.access, None).await.status(), 200);
    assert!(schedules.get(&group, &id).await.unwrap().is_some());

    // The embedded clock: ticked to the next weekday 09:30 in Paris, the schedule fires once and the run goes.
    if let Some(clock) = app.schedules() {
        let next = held.next_fire(chrono::Utc::now()).unwrap();
        let fired = clock.tick(next).await.unwrap();
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(clock.tick(next).await.unwrap().is_empty(), "a fire time fires once");
        let run = finished_run(app, owner, &ws, &id, Duration::from_secs(10)).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["trigger_type"], "schedule");
        let expected = next.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert_eq!(run["trigger"]["scheduled_time"], expected.as_str());
        use chrono::Timelike;
        let paris = next.with_timezone(&chrono_tz::Europe::Paris);
        assert_eq!((paris.hour(), paris.minute()), (9, 30));
    }

    // Deleted with the automation.
    assert_eq!(call(app, Method::DELETE, &path, &owner.access, None).await.status(), 204);
    assert!(schedules.get(&group, &id).await.unwrap().is_none(), "no schedule after delete");
}

async fn an_incoming_webhook_runs_branches_repeats_waits_and_calls_out(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    let receiver = Receiver::start(200).await;
    let body = json!({"name": "Orders in",
    "trigger": {"type": "webhook"},
    "conditions": {"path": "trigger.body.kind", "op": "eq", "value": "order"},
    "steps": [
        {"type": "branch", "if": {"path": "trigger.body.items", "op": "is_not_empty"},
         "then": [{"type": "repeat", "over": "trigger.body.items",
                   "steps": [{"type": "webhook", "url": receiver.url, "body": {"item": "{{ item }}", "n": "{{ index }}"}}]}],
         "else": [{"type": "notify", "subject": "Empty order", "body": ""}]},
        {"type": "wait", "seconds": 1},
        {"type": "webhook", "id": "done", "url": receiver.url, "body": {"done": true}}
    ]});
    let created = create(app, owner, &ws, body).await;
    let id = created["id"].as_str().unwrap().to_string();
    let url = created["webhook_url"].as_str().expect("the secret URL, once").to_string();
    let got: Value = call(app, Method::GET, &format!("{}/{id}", automations_path(&ws)), &owner.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get("webhook_url").is_none() && !got.to_string().contains("pyhk_"), "never shown again");

    // No credential needed: the URL is the secret.
    let started = Instant::now();
    let response =
        app.client.post(app.at(&url)).json(&json!({"kind": "order", "items": ["a", "b", "c"]})).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let run = finished_run(app, owner, &ws, &id, Duration::from_secs(15)).await;
    assert_eq!(run["id"], accepted["run_id"]);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(started.elapsed() >= Duration::from_secs(1), "the wait waited");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4, "three items and the last call");
    let bodies: Vec<Value> = requests.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(bodies[0], json!({"item": "a", "n": 0}));
    assert_eq!(bodies[2], json!({"item": "c", "n": 2}));
    assert_eq!(bodies[3], json!({"done": true}));
    let keys: std::collections::BTreeSet<String> =
        requests.iter().map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_string()).collect();
    assert_eq!(keys.len(), 4, "a key per step execution");
    let steps = run["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["path"] == "0.then.0.each.2.0"), "{run}");
    assert_eq!(steps.iter().find(|s| s["path"] == "2").unwrap()["output"]["status"], 200);

    // Conditions that do not hold: accepted, no run.
    let before = receiver.requests().len();
    let response = app.client.post(app.at(&url)).json(&json!({"kind": "refund"})).send().await.unwrap();
    assert_eq!(response.status(), 202);
    // Bad input and unknown URLs.
    let response = app.client.post(app.at(&url)).body("not json").send().await.unwrap();
    assert_error(response, 400, "invalid_body").await;
    let big = json!({"kind": "order", "pad": "x".repeat(40_000)});
    let response = app.client.post(app.at(&url)).json(&big).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let forged = format!("/api/v1/automations/hooks/pyhk_{}", "0".repeat(64));
    assert_error(app.client.post(app.at(&forged)).json(&json!({})).send().await.unwrap(), 404, "not_found").await;
    // Disabled: the same URL is a 404.
    let path = format!("{}/{id}/disable", automations_path(&ws));
    assert_eq!(call(app, Method::POST, &path, &owner.access, None).await.status(), 200);
    assert_error(app.client.post(app.at(&url)).json(&json!({"kind": "order"})).send().await.unwrap(), 404, "not_found")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), before, "nothing ran for the refused calls");
}

async fn a_failing_step_is_retried_then_the_run_fails_and_a_retry_finishes_it(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    let receiver = Receiver::start(503).await;
    let body = json!({"name": "Call out", "trigger": {"type": "manual"},
        "steps": [{"type": "notify", "id": "first", "subject": "once", "body": ""},
                  {"type": "webhook", "url": receiver.url}]});
    let created = create(app, owner, &ws, body).await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("{}/{id}/run", automations_path(&ws));
    assert_eq!(call(app, Method::POST, &path, &owner.access, Some(json!({}))).await.status(), 202);
    let run = finished_run(app, owner, &ws, &id, Duration::from_secs(15)).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("503"), "{run}");
    let step = run["steps"].as_array().unwrap().iter().find(|s| s["path"] == "1").unwrap().clone();
    assert_eq!((step["status"].as_str(), step["attempts"].as_u64()), (Some("failed"), Some(3)), "{step}");
    assert_eq!(receiver.requests().len(), 3);
    // The same key on every attempt.
    let keys: std::collections::BTreeSet<String> =
        receiver.requests().iter().map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_string()).collect();
    assert_eq!(keys.len(), 1);

    // The receiver recovers; the retry goes on from the failed step (the notice is not sent twice).
    *receiver.status.lock().unwrap() = 200;
    let run_id = run["id"].as_str().unwrap();
    let retry = format!("{}/runs/{run_id}/retry", automations_path(&ws));
    let response = call(app, Method::POST, &retry, &owner.access, None).await;
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let got: Value =
            call(app, Method::GET, &format!("{}/runs/{run_id}", automations_path(&ws)), &owner.access, None)
                .await
                .json()
                .await
                .unwrap();
        if got["status"] == "succeeded" {
            break got;
        }
        assert!(Instant::now() < deadline, "the retried run did not finish: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["retries"], 1);
    let first = done["steps"].as_array().unwrap().iter().find(|s| s["path"] == "0").unwrap().clone();
    assert_eq!(first["attempts"], 1, "the notify step was not run again");
    assert_eq!(receiver.requests().len(), 4);
}

async fn an_automation_writing_the_table_it_watches_does_not_start_itself_again(app: TestApp) {
    let client = Client::start(app).await;
    let app = &client.app;
    let owner = &client.account;
    let ws = workspace_of(app, owner).await;
    capture_registered(app).await;
    // Every new task gets an echo task in the same table: without the loop guard, each echo would start it again.
    let definition = json!({"name": "Echo", "trigger": {"type": "record_created", "base_id": DEMO_BASE, "table_id": TASKS},
        "steps": [{"type": "create_record", "base_id": DEMO_BASE, "table": TASKS,
                   "fields": {"Title": "Echo of {{ trigger.record_id }}"}}]});
    let created = create(app, owner, &ws, definition).await;
    let id = created["id"].as_str().unwrap().to_string();
    let token = app.emulator().issue_token(EmulatorUser::emulator(), BaseReach::only([DEMO_BASE]), Vec::new());
    let made = app
        .client
        .post(format!("{}/v0/{DEMO_BASE}/{TASKS}", client.emulator))
        .bearer_auth(&token)
        .json(&json!({"fields": {"Title": "Loop seed"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let run = finished_run(app, owner, &ws, &id, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let echo = run["steps"][0]["output"]["id"].as_str().unwrap().to_string();
    // The echo's own change event arrives (change capture) and starts nothing: wait until the emulator has pinged for
    // it and a little more, then count.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let runs: Value = call(app, Method::GET, &format!("{}/{id}/runs", automations_path(&ws)), &owner.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "one run, not a loop: {runs}");
    let listed: Value = app
        .client
        .get(format!("{}/v0/{DEMO_BASE}/{TASKS}?pageSize=100", client.emulator))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let echoes = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fields"]["Title"].as_str().is_some_and(|t| t.starts_with("Echo of")))
        .count();
    assert_eq!(echoes, 1, "one echo ({echo})");
}

// ---------------------------------------------------------------- the crash test

/// The worker dies between Airtable's answer to a create and the step's record (`AUTOMATIONS_FAILPOINT`
/// aborts the `cargo run` process there). After the restart the job comes back, the step runs again as an upsert
/// on its step key (`idempotency_field`), and the run finishes: one record at Airtable, the run not lost.
#[tokio::test]
async fn killing_the_worker_mid_run_neither_loses_the_run_nor_duplicates_the_record() {
    use crate::binary::Runner;
    use crate::support::accounts::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

    // Airtable outlives the runner: an emulator of the test's own.
    let token = airtable_emulator::random_token();
    let airtable =
        airtable_emulator::spawn(airtable_emulator::Emulator::demo(token.clone()), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
    let upstream = airtable.url();
    let data_dir = std::env::temp_dir().join(format!("pyairtable-automation-crash-{}", uuid::Uuid::new_v4().simple()));
    let env = [
        ("AIRTABLE_ENDPOINT_URL", upstream.as_str()),
        ("AIRTABLE_API_KEY", token.as_str()),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("AIRTABLE_CHANGE_CAPTURE", "false"),
    ];
    let mut crashing = env.to_vec();
    crashing.push(("AUTOMATIONS_FAILPOINT", "abort-after-action"));
    let runner = Runner::start_with(&data_dir, &crashing).await;
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| {
        client.post(format!("{}{path}", runner.url)).bearer_auth(token).json(&body).send()
    };

    let email = crate::support::accounts::unique_email();
    let registered: Value = post("/api/v1/auth/register", "", json!({"email": email, "password": PASSWORD}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = registered["access_token"].as_str().unwrap().to_string();
    let tenant = registered["tenant_id"].as_str().unwrap().to_string();
    let admin: Value = post("/api/v1/auth/login", "", json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = admin["access_token"].as_str().unwrap().to_string();
    let attached = client
        .put(format!("{}/api/v1/tenants/{tenant}/platform-bases", runner.url))
        .bearer_auth(&admin)
        .json(&json!({"bases": [{"id": DEMO_BASE, "name": "Demo"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(attached.status(), 201);
    let attached: Value = attached.json().await.unwrap();
    let ws = attached["workspace"]["id"].as_str().unwrap().to_string();
    let definition = json!({"name": "Crash", "trigger": {"type": "manual"}, "steps": [
        {"type": "create_record", "id": "task", "base_id": DEMO_BASE, "table": TASKS,
         "fields": {"Title": "Crash {{ run.id }}"}, "idempotency_field": "Project"},
        {"type": "notify", "subject": "Made {{ steps.task.id }}", "body": ""}
    ]});
    let created = post(&automations_path(&ws), &access, definition).await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let automation = created["id"].as_str().unwrap().to_string();
    // The worker may die before or after the answer goes out.
    let _ = post(&format!("{}/{automation}/run", automations_path(&ws)), &access, json!({})).await;
    let status = runner.exited().await;
    assert!(!status.success(), "the failpoint aborted the process: {status}");

    let crash_tasks = || async {
        let listed: Value = reqwest::Client::new()
            .get(format!("{upstream}/v0/{DEMO_BASE}/{TASKS}?pageSize=100"))
            .bearer_auth(&token)
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
            .filter(|r| r["fields"]["Title"].as_str().is_some_and(|t| t.starts_with("Crash ")))
            .cloned()
            .collect::<Vec<Value>>()
    };
    assert_eq!(crash_tasks().await.len(), 1, "the create reached Airtable before the crash");

    // Restarted: the job is received again at once, waits out the dead attempt's claim (35 s), and the run
    // finishes.
    let runner = Runner::start_with(&data_dir, &env).await;
    let runs = format!("{}{}/{automation}/runs", runner.url, automations_path(&ws));
    let deadline = Instant::now() + Duration::from_secs(90);
    let run = loop {
        let page: Value = client.get(&runs).bearer_auth(&access).send().await.unwrap().json().await.unwrap();
        if let Some(run) = page["runs"].get(0)
            && run["status"] == "succeeded"
        {
            break run.clone();
        }
        assert!(Instant::now() < deadline, "the run did not finish after the restart: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let tasks = crash_tasks().await;
    assert_eq!(tasks.len(), 1, "no second record: {tasks:?}");
    let step = &run["steps"][0];
    assert_eq!(step["attempts"], 2, "the create ran twice, as one upsert: {run}");
    assert_eq!(step["output"]["id"], tasks[0]["id"]);
    assert_eq!(tasks[0]["fields"]["Project"], format!("{}:0", run["id"].as_str().unwrap()), "the step key");
    assert!(runner.interrupt().await.success());
    let _ = std::fs::remove_dir_all(data_dir);
}
