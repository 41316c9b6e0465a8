//! Workspaces, connections and permissions, and the gateway enforcing them: nobody reaches a base their
//! tenant has not linked, beyond what their role allows — both dialects, token and API key, both adapters.

use access::{Permission, WorkspaceRole};
use airtable_emulator::auth::{BaseReach, EmulatorUser};
use airtable_emulator::seed::{DEMO_BASE, INCIDENTS, OPS_BASE, PROJECTS, TASKS};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::accounts::{Account, call, get_as, join, register};
use crate::support::airtable::{api_key, attach_demo_bases};

fn gateway_and_tenancy(settings: &mut local_runner::Settings) {
    settings.groups = Some(["auth", "tenants", "workspaces", "airtable"].map(String::from).to_vec());
}

fn with_demo_workspaces(settings: &mut local_runner::Settings) {
    gateway_and_tenancy(settings);
    settings.demo_workspaces = true;
}

const OAUTH_CLIENT: &str = "pyairtable-e2e";
const OAUTH_SECRET: &str = "the client's secret";
const OAUTH_REDIRECT: &str = "http://127.0.0.1:9/api/v1/oauth/airtable/callback";

fn with_oauth(settings: &mut local_runner::Settings) {
    gateway_and_tenancy(settings);
    settings.workspaces.airtable.oauth = Some(tenancy::airtable::OAuthClient {
        client_id: OAUTH_CLIENT.into(),
        client_secret: Some(secrecy::SecretString::from(OAUTH_SECRET)),
        redirect_uri: OAUTH_REDIRECT.into(),
    });
}

crate::both_adapters_in!(gateway_and_tenancy;
    a_stranger_reaches_no_base_of_another_tenant_in_either_dialect_with_a_token_or_a_key,
    each_workspace_role_allows_exactly_what_the_role_table_says,
    a_table_level_viewer_reads_that_table_and_no_other,
    removing_a_member_or_a_grant_takes_effect_at_once,
    a_pat_connection_is_validated_linked_and_never_shown,
    workspace_routes_of_another_tenant_are_404s,
    api_keys_narrowed_to_a_workspace_or_to_reading_reach_only_that,
);
crate::both_adapters_with!(demo, with_demo_workspaces; each_tenant_gets_its_own_copy_of_the_demo_bases);
crate::both_adapters_with!(oauth, with_oauth; an_oauth_connection_is_made_with_pkce_refreshed_once_under_concurrency_and_rotated);

const NO_SUCH_BASE: &str = "appNoSuchBase0001";
const SOME_RECORD: &str = "recAAAAAAAAAAAAAA";

/// Every kind of Airtable request on `base`, both dialects.
fn requests(base: &str) -> Vec<(Method, String, Option<Value>)> {
    let records = json!({"records": [{"id": SOME_RECORD, "fields": {}}]});
    let table = json!({"name": "Leak", "fields": [{"name": "Name", "type": "singleLineText"}]});
    let upload = json!({"contentType": "text/plain", "file": "aGk=", "filename": "a.txt"});
    vec![
        (Method::GET, format!("/v0/{base}/{PROJECTS}?pageSize=1"), None),
        (Method::GET, format!("/v0/{base}/Projects"), None),
        (Method::POST, format!("/v0/{base}/{PROJECTS}/listRecords"), Some(json!({}))),
        (Method::GET, format!("/v0/{base}/{PROJECTS}/{SOME_RECORD}"), None),
        (Method::POST, format!("/v0/{base}/{PROJECTS}"), Some(json!({"fields": {"Name": "leak"}}))),
        (Method::PATCH, format!("/v0/{base}/{PROJECTS}"), Some(records.clone())),
        (Method::PUT, format!("/v0/{base}/{PROJECTS}/{SOME_RECORD}"), Some(json!({"fields": {}}))),
        (Method::DELETE, format!("/v0/{base}/{PROJECTS}/{SOME_RECORD}"), None),
        (Method::GET, format!("/v0/{base}/{PROJECTS}/{SOME_RECORD}/comments"), None),
        (Method::POST, format!("/v0/{base}/{PROJECTS}/{SOME_RECORD}/comments"), Some(json!({"text": "leak"}))),
        (Method::GET, format!("/v0/meta/bases/{base}/tables"), None),
        (Method::POST, format!("/v0/meta/bases/{base}/tables"), Some(table)),
        (Method::GET, format!("/v0/bases/{base}/webhooks"), None),
        (Method::POST, format!("/v0/{base}/{SOME_RECORD}/fldTasAttac000001/uploadAttachment"), Some(upload)),
        (Method::GET, format!("/api/v1/airtable/bases/{base}"), None),
        (Method::GET, format!("/api/v1/airtable/bases/{base}/tables"), None),
        (Method::GET, format!("/api/v1/airtable/bases/{base}/tables/{PROJECTS}/records"), None),
        (Method::GET, format!("/api/v1/airtable/bases/{base}/tables/{PROJECTS}/records/{SOME_RECORD}"), None),
        (
            Method::POST,
            format!("/api/v1/airtable/bases/{base}/tables/{PROJECTS}/records"),
            Some(json!({"fields": {"Name": "x"}})),
        ),
        (Method::DELETE, format!("/api/v1/airtable/bases/{base}/tables/{PROJECTS}/records/{SOME_RECORD}"), None),
    ]
}

/// Status and body, with the request id and the base id made neutral (so two bases' answers compare).
async fn answer(
    app: &TestApp,
    credential: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    base: &str,
) -> (u16, String) {
    let response = call(app, method, path, credential, body).await;
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    (status, body.to_string().replace(base, "appBASE"))
}

async fn a_stranger_reaches_no_base_of_another_tenant_in_either_dialect_with_a_token_or_a_key(app: TestApp) {
    let owner = register(&app).await;
    attach_demo_bases(&app, &owner.tenant_id).await;
    let owner_key = api_key(&app, &owner).await;
    let mine = call(&app, Method::GET, &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), &owner_key, None).await;
    assert_eq!(mine.status(), 200, "the owner reaches its attached base");

    let stranger = register(&app).await;
    let key = api_key(&app, &stranger).await;
    let emulator = app.emulator();
    let before = emulator.stats();
    let mut checked = 0;
    for credential in [stranger.access.as_str(), key.as_str()] {
        for base in [DEMO_BASE, OPS_BASE] {
            for ((method, path, body), (_, missing, _)) in requests(base).into_iter().zip(requests(NO_SUCH_BASE)) {
                let theirs = answer(&app, credential, method.clone(), &path, body.clone(), base).await;
                let nothing = answer(&app, credential, method.clone(), &missing, body, NO_SUCH_BASE).await;
                assert_eq!(theirs, nothing, "{method} {path}: answered unlike a base that does not exist");
                assert!([403, 404].contains(&theirs.0), "{method} {path}: {theirs:?}");
                checked += 1;
            }
        }
        for listing in ["/v0/meta/bases", "/api/v1/airtable/bases"] {
            let listed: Value = get_as(&app, listing, credential).await.json().await.unwrap();
            assert_eq!(listed, json!({"bases": []}), "{listing} lists nothing of the platform's or another tenant's");
        }
        let whoami: Value = get_as(&app, "/v0/meta/whoami", credential).await.json().await.unwrap();
        assert_eq!(whoami["scopes"], json!([]), "no scopes without a base: {whoami}");
    }
    assert_eq!(checked, 2 * 2 * requests(DEMO_BASE).len());
    let after = emulator.stats();
    assert_eq!(after.requests, before.requests, "not one of the stranger's requests reached Airtable");
}

/// The owner's workspace with a PAT connection reaching only the demo base, linked: (workspace id, token).
async fn workspace_with_demo_base(app: &TestApp, owner: &Account) -> String {
    let created = call(app, Method::POST, "/api/v1/workspaces", &owner.access, Some(json!({"name": "Sales"}))).await;
    assert_eq!(created.status(), 201);
    let workspace: Value = created.json().await.unwrap();
    let id = workspace["id"].as_str().unwrap().to_string();
    let token = app.emulator().issue_token(EmulatorUser::emulator(), BaseReach::only([DEMO_BASE]), Vec::new());
    let path = format!("/api/v1/workspaces/{id}/connections");
    let body = json!({"type": "pat", "token": token, "label": "Sales PAT"});
    let response = call(app, Method::POST, &path, &owner.access, Some(body)).await;
    let status = response.status();
    let connected: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{connected}");
    assert_eq!(connected["bases"], json!([{"id": DEMO_BASE, "name": "Demo"}]), "only the base the token reaches");
    assert!(!connected.to_string().contains(&token), "the token is never answered");
    let connection = connected["connection"]["id"].as_str().unwrap();
    let link = json!({"base_id": DEMO_BASE, "connection_id": connection});
    let linked = call(app, Method::POST, &format!("/api/v1/workspaces/{id}/bases"), &owner.access, Some(link)).await;
    assert_eq!(linked.status(), 201);
    let other = json!({"base_id": OPS_BASE, "connection_id": connection});
    let refused = call(app, Method::POST, &format!("/api/v1/workspaces/{id}/bases"), &owner.access, Some(other)).await;
    crate::support::assert_error(refused, 400, "base_not_reachable").await;
    id
}

async fn add_member(app: &TestApp, owner: &Account, workspace: &str, user: &str, role: &str) {
    let path = format!("/api/v1/workspaces/{workspace}/members");
    let response = call(app, Method::POST, &path, &owner.access, Some(json!({"user_id": user, "role": role}))).await;
    assert_eq!(response.status(), 201, "adding {role}: {}", response.text().await.unwrap());
}

async fn first_record(app: &TestApp, credential: &str) -> String {
    let page: Value =
        get_as(app, &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), credential).await.json().await.unwrap();
    page["records"][0]["id"].as_str().unwrap().to_string()
}

async fn each_workspace_role_allows_exactly_what_the_role_table_says(app: TestApp) {
    let owner = register(&app).await;
    let workspace = workspace_with_demo_base(&app, &owner).await;
    let record = first_record(&app, &owner.access).await;
    // One request per permission the gateway enforces.
    let probes: Vec<(Permission, Method, String, Option<Value>)> = vec![
        (Permission::RecordsRead, Method::GET, format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), None),
        (
            Permission::RecordsWrite,
            Method::PATCH,
            format!("/v0/{DEMO_BASE}/{PROJECTS}/{record}"),
            Some(json!({"fields": {}})),
        ),
        (
            Permission::CommentsWrite,
            Method::POST,
            format!("/v0/{DEMO_BASE}/{PROJECTS}/{record}/comments"),
            Some(json!({"text": "hi"})),
        ),
        (Permission::SchemaWrite, Method::POST, format!("/v0/meta/bases/{DEMO_BASE}/tables/{TASKS}/fields"), None),
        (Permission::WebhooksManage, Method::GET, format!("/v0/bases/{DEMO_BASE}/webhooks"), None),
    ];
    let mut roles: Vec<Option<WorkspaceRole>> = WorkspaceRole::ALL.into_iter().map(Some).collect();
    roles.push(None);
    // One tenant member takes each role in turn (a role change applies at once), then none.
    let member = join(&app, &owner.access, "member").await;
    let key = api_key(&app, &member).await;
    let membership = format!("/api/v1/workspaces/{workspace}/members/{}", member.user_id);
    for role in roles {
        if let Some(role) = role {
            add_member(&app, &owner, &workspace, &member.user_id, role.as_str()).await;
        }
        let held = role.map(|r| r.builtin().permissions()).unwrap_or_default();
        for (permission, method, path, body) in &probes {
            // A field whose name is unique per run: allowed schema writes must succeed, not collide.
            let body = match permission {
                Permission::SchemaWrite => {
                    Some(json!({"name": format!("F{}", uuid::Uuid::new_v4().simple()), "type": "singleLineText"}))
                }
                _ => body.clone(),
            };
            let response = call(&app, method.clone(), path, &key, body).await;
            let status = response.status().as_u16();
            if held.contains(*permission) {
                assert!((200..300).contains(&status), "{role:?} may {permission}: {method} {path} → {status}");
            } else {
                let refusal: Value = response.json().await.unwrap();
                assert_eq!(status, 403, "{role:?} may not {permission}: {method} {path}");
                assert_eq!(refusal["error"]["type"], "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND", "{refusal}");
            }
        }
        if role.is_some() {
            assert_eq!(call(&app, Method::DELETE, &membership, &owner.access, None).await.status(), 204);
        }
    }
}

async fn a_table_level_viewer_reads_that_table_and_no_other(app: TestApp) {
    let owner = register(&app).await;
    let workspace = workspace_with_demo_base(&app, &owner).await;
    let member = join(&app, &owner.access, "member").await;
    let resource = format!("workspace:{workspace}/base:{DEMO_BASE}/table:{PROJECTS}");
    let grant = json!({"user_id": member.user_id, "role": "viewer", "resource": resource});
    let response = call(&app, Method::POST, "/api/v1/permissions/grants", &owner.access, Some(grant)).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let reads = get_as(&app, &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), &member.access).await;
    assert_eq!(reads.status(), 200, "the granted table");
    let other = get_as(&app, &format!("/v0/{DEMO_BASE}/{TASKS}?pageSize=1"), &member.access).await;
    assert_eq!(other.status(), 403, "another table of the same base");
    // By name as by id: the name is looked up in the base's schema.
    let by_name = get_as(&app, &format!("/v0/{DEMO_BASE}/Projects?pageSize=1"), &member.access).await;
    assert_eq!(by_name.status(), 200, "the granted table, by name");
    let other_by_name = get_as(&app, &format!("/v0/{DEMO_BASE}/Tasks?pageSize=1"), &member.access).await;
    assert_eq!(other_by_name.status(), 403, "another table, by name");
    let unknown = get_as(&app, &format!("/v0/{DEMO_BASE}/Nope?pageSize=1"), &member.access).await;
    assert_eq!(unknown.status(), 403, "a table that does not exist looks like one not granted");
    let other_api = format!("/api/v1/airtable/bases/{DEMO_BASE}/tables/Tasks/records");
    let other_api = get_as(&app, &other_api, &member.access).await;
    assert_eq!(other_api.status(), 403, "another table, by name, in the platform's dialect");
    // The schema shows the granted table only, in both dialects.
    for path in [format!("/v0/meta/bases/{DEMO_BASE}/tables"), format!("/api/v1/airtable/bases/{DEMO_BASE}/tables")] {
        let schema = get_as(&app, &path, &member.access).await;
        assert_eq!(schema.status(), 200, "{path}");
        let schema: Value = schema.json().await.unwrap();
        let ids: Vec<&str> = schema["tables"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
        assert_eq!(ids, [PROJECTS], "{path}: {schema}");
    }
    // The owner still sees the whole schema (the filtered copy is not what the cache holds).
    let whole: Value =
        get_as(&app, &format!("/v0/meta/bases/{DEMO_BASE}/tables"), &owner.access).await.json().await.unwrap();
    assert!(whole["tables"].as_array().unwrap().len() > 1, "{whole}");
    for table in [PROJECTS, "Projects"] {
        let write =
            call(&app, Method::POST, &format!("/v0/{DEMO_BASE}/{table}"), &member.access, Some(json!({"fields": {}})))
                .await;
        assert_eq!(write.status(), 403, "a viewer does not write ({table})");
    }
    let listed: Value = get_as(&app, "/v0/meta/bases", &member.access).await.json().await.unwrap();
    assert_eq!(listed["bases"][0]["id"], DEMO_BASE, "{listed}");
    assert_eq!(listed["bases"][0]["permissionLevel"], "read");
    let check = json!({"permission": "records:read", "resource": format!("workspace:{workspace}/base:{DEMO_BASE}/table:{TASKS}")});
    let decided: Value =
        call(&app, Method::POST, "/api/v1/permissions/check", &member.access, Some(check)).await.json().await.unwrap();
    assert_eq!(decided["allowed"], false, "{decided}");
}

async fn removing_a_member_or_a_grant_takes_effect_at_once(app: TestApp) {
    let owner = register(&app).await;
    let workspace = workspace_with_demo_base(&app, &owner).await;
    let member = join(&app, &owner.access, "member").await;
    let read = format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1");
    add_member(&app, &owner, &workspace, &member.user_id, "editor").await;
    assert_eq!(get_as(&app, &read, &member.access).await.status(), 200);
    let path = format!("/api/v1/workspaces/{workspace}/members/{}", member.user_id);
    assert_eq!(call(&app, Method::DELETE, &path, &owner.access, None).await.status(), 204);
    assert_eq!(get_as(&app, &read, &member.access).await.status(), 403, "removed: refused at once");

    let grant = json!({"user_id": member.user_id, "role": "viewer", "resource": format!("workspace:{workspace}")});
    let created: Value =
        call(&app, Method::POST, "/api/v1/permissions/grants", &owner.access, Some(grant)).await.json().await.unwrap();
    assert_eq!(get_as(&app, &read, &member.access).await.status(), 200, "granted: {created}");
    let id = created["id"].as_str().unwrap();
    let revoked = call(&app, Method::DELETE, &format!("/api/v1/permissions/grants/{id}"), &owner.access, None).await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(get_as(&app, &read, &member.access).await.status(), 403, "revoked: refused at once");
}

async fn a_pat_connection_is_validated_linked_and_never_shown(app: TestApp) {
    let owner = register(&app).await;
    let workspace = workspace_with_demo_base(&app, &owner).await;
    let path = format!("/api/v1/workspaces/{workspace}/connections");
    let bad = json!({"type": "pat", "token": "patNotARealToken0000000000000000000"});
    let refused = call(&app, Method::POST, &path, &owner.access, Some(bad)).await;
    crate::support::assert_error(refused, 400, "airtable_token_refused").await;
    let listed: Value = get_as(&app, &path, &owner.access).await.json().await.unwrap();
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1, "{listed}");
    assert!(listed["connections"][0].get("secret").is_none() && listed["connections"][0].get("token").is_none());
    // The gateway reads through the workspace's own connection: the emulator sees the connection's token.
    assert_eq!(get_as(&app, &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), &owner.access).await.status(), 200);
    // Deleting the connection unlinks its base at once.
    let connection = listed["connections"][0]["id"].as_str().unwrap();
    let deleted = call(&app, Method::DELETE, &format!("{path}/{connection}"), &owner.access, None).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(get_as(&app, &format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), &owner.access).await.status(), 403);
    let bases: Value =
        get_as(&app, &format!("/api/v1/workspaces/{workspace}/bases"), &owner.access).await.json().await.unwrap();
    assert_eq!(bases["bases"], json!([]));
}

async fn workspace_routes_of_another_tenant_are_404s(app: TestApp) {
    let owner = register(&app).await;
    let workspace = workspace_with_demo_base(&app, &owner).await;
    let stranger = register(&app).await;
    let w = &workspace;
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/workspaces/{w}"), None),
        (Method::PATCH, format!("/api/v1/workspaces/{w}"), Some(json!({"name": "x", "version": 1}))),
        (Method::DELETE, format!("/api/v1/workspaces/{w}"), None),
        (Method::GET, format!("/api/v1/workspaces/{w}/projects"), None),
        (Method::GET, format!("/api/v1/workspaces/{w}/members"), None),
        (
            Method::POST,
            format!("/api/v1/workspaces/{w}/members"),
            Some(json!({"user_id": stranger.user_id, "role": "admin"})),
        ),
        (Method::GET, format!("/api/v1/workspaces/{w}/connections"), None),
        (Method::GET, format!("/api/v1/workspaces/{w}/bases"), None),
        (Method::DELETE, format!("/api/v1/workspaces/{w}/bases/{DEMO_BASE}"), None),
    ] {
        let response = call(&app, method.clone(), &path, &stranger.access, body).await;
        crate::support::assert_error(response, 404, "not_found").await;
    }
    let listed: Value = get_as(&app, "/api/v1/workspaces", &stranger.access).await.json().await.unwrap();
    assert_eq!(listed["workspaces"], json!([]));
    // A tenant member who is not in the workspace does not see it either.
    let member = join(&app, &owner.access, "member").await;
    crate::support::assert_error(
        get_as(&app, &format!("/api/v1/workspaces/{w}"), &member.access).await,
        404,
        "not_found",
    )
    .await;
    let grant = json!({"user_id": stranger.user_id, "role": "viewer", "resource": format!("workspace:{w}")});
    let response = call(&app, Method::POST, "/api/v1/permissions/grants", &stranger.access, Some(grant)).await;
    assert!([403, 404].contains(&response.status().as_u16()), "a stranger grants nothing in another tenant");
}

async fn each_tenant_gets_its_own_copy_of_the_demo_bases(app: TestApp) {
    let (a, b) = (register(&app).await, register(&app).await);
    // The "Demo" copy first, then the others.
    let bases = |listed: Value| -> Vec<String> {
        let mut bases: Vec<(bool, String)> = listed["bases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["name"] != "Demo", b["id"].as_str().unwrap().to_string()))
            .collect();
        bases.sort();
        bases.into_iter().map(|(_, id)| id).collect()
    };
    let theirs_a = bases(get_as(&app, "/v0/meta/bases", &a.access).await.json().await.unwrap());
    let theirs_b = bases(get_as(&app, "/api/v1/airtable/bases", &b.access).await.json().await.unwrap());
    assert_eq!((theirs_a.len(), theirs_b.len()), (2, 2), "{theirs_a:?} {theirs_b:?}");
    for id in theirs_a.iter().chain(&theirs_b) {
        assert!(id != DEMO_BASE && id != OPS_BASE, "a copy, not the platform's base");
        assert!(!theirs_b.contains(id) || !theirs_a.contains(id), "no base shared between tenants");
    }
    let a_demo = &theirs_a[0];
    let created = call(
        &app,
        Method::POST,
        &format!("/v0/{a_demo}/Projects"),
        &a.access,
        Some(json!({"fields": {"Name": "A's secret"}})),
    )
    .await;
    assert_eq!(created.status(), 200);
    let refused = get_as(&app, &format!("/v0/{a_demo}/Projects"), &b.access).await;
    assert_eq!(refused.status(), 403, "B cannot reach A's copy");
    let b_page: Value = get_as(&app, &format!("/v0/{}/Projects", theirs_b[0]), &b.access).await.json().await.unwrap();
    assert!(!b_page.to_string().contains("A's secret"), "B's copy does not hold A's record");
    let workspaces: Value = get_as(&app, "/api/v1/workspaces", &a.access).await.json().await.unwrap();
    assert_eq!(workspaces["workspaces"][0]["name"], "Demo", "{workspaces}");
    assert_eq!(workspaces["workspaces"].as_array().unwrap().len(), 1, "provisioned once");
}

async fn an_oauth_connection_is_made_with_pkce_refreshed_once_under_concurrency_and_rotated(app: TestApp) {
    let emulator = app.emulator();
    emulator.register_oauth_client(OAUTH_CLIENT, Some(OAUTH_SECRET), vec![OAUTH_REDIRECT.into()]);
    let owner = register(&app).await;
    let created: Value = call(&app, Method::POST, "/api/v1/workspaces", &owner.access, Some(json!({"name": "OAuth"})))
        .await
        .json()
        .await
        .unwrap();
    let workspace = created["id"].as_str().unwrap();
    let started = call(
        &app,
        Method::POST,
        &format!("/api/v1/workspaces/{workspace}/connections/oauth"),
        &owner.access,
        Some(json!({})),
    )
    .await;
    assert_eq!(started.status(), 200);
    let started: Value = started.json().await.unwrap();
    // The user consents at Airtable (the emulator), choosing the demo base; Airtable redirects with a code.
    let authorize = format!("{}&bases={DEMO_BASE}", started["authorize_url"].as_str().unwrap());
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = no_redirects.get(&authorize).send().await.unwrap();
    assert_eq!(consent.status(), 302);
    let location = reqwest::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    let callback = format!("/api/v1/oauth/airtable/callback?code={}&state={}", query["code"], query["state"]);
    let connected = app.client.get(app.at(&callback)).send().await.unwrap();
    assert_eq!(connected.status(), 201);
    let connected: Value = connected.json().await.unwrap();
    assert_eq!(connected["connection"]["kind"], "oauth");
    let replay = app.client.get(app.at(&callback)).send().await.unwrap();
    crate::support::assert_error(replay, 400, "invalid_oauth_state").await;
    let link = json!({"base_id": DEMO_BASE, "connection_id": connected["connection"]["id"]});
    let linked =
        call(&app, Method::POST, &format!("/api/v1/workspaces/{workspace}/bases"), &owner.access, Some(link)).await;
    assert_eq!(linked.status(), 201);
    let read = format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1");
    assert_eq!(get_as(&app, &read, &owner.access).await.status(), 200);
    // Airtable expires the access token (its clock moves two hours); eight concurrent readers are refused
    // (401), and one refresh — serialised — serves them all: a second refresh would present the rotated-away
    // refresh token and be refused (invalid_grant), failing its reader.
    emulator.advance_clock(std::time::Duration::from_secs(2 * 3600));
    let reads = (0..8).map(|i| {
        let path = format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize={}", i + 2);
        let (app, access) = (&app, owner.access.clone());
        async move { get_as(app, &path, &access).await.status().as_u16() }
    });
    assert_eq!(futures::future::join_all(reads).await, vec![200; 8], "every reader got through one refresh");
    assert_eq!(get_as(&app, &read, &owner.access).await.status(), 200, "and the next request uses the new token");

    // Rotation, against the emulator with the platform's own client: the old refresh token is refused.
    let client = tenancy::airtable::AirtableClient::new(&tenancy::airtable::AirtableEndpoints {
        api_url: emulator_url(&app).await,
        oauth_url: emulator_url(&app).await,
        oauth: Some(tenancy::airtable::OAuthClient {
            client_id: OAUTH_CLIENT.into(),
            client_secret: Some(secrecy::SecretString::from(OAUTH_SECRET)),
            redirect_uri: OAUTH_REDIRECT.into(),
        }),
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    // Our own flow with a known verifier: exchange, refresh (rotation), then the old refresh token again.
    let verifier = "a-verifier-of-forty-three-characters-or-more-000";
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let url = client.authorize_url("state-1", &challenge, "data.records:read").unwrap();
    let consent = no_redirects.get(format!("{url}&bases={DEMO_BASE}")).send().await.unwrap();
    let location = reqwest::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let code: String = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let first = client.exchange_code(&code, verifier).await.unwrap();
    let second = client.refresh(&first.refresh_token).await.unwrap();
    use secrecy::ExposeSecret;
    assert_ne!(second.refresh_token.expose_secret(), first.refresh_token.expose_secret(), "rotated");
    let stale = client.refresh(&first.refresh_token).await;
    assert!(
        matches!(stale, Err(tenancy::airtable::AirtableCallError::InvalidGrant(_))),
        "a used refresh token: {stale:?}"
    );
    assert!(client.refresh(&second.refresh_token).await.is_ok(), "the rotated one works");
    let reused_code = client.exchange_code(&code, verifier).await;
    assert!(matches!(reused_code, Err(tenancy::airtable::AirtableCallError::InvalidGrant(_))), "a code is single use");
}

async fn emulator_url(app: &TestApp) -> String {
    let found: Value = app.get("/_local/airtable-emulator").await.json().await.unwrap();
    found["url"].as_str().unwrap().to_string()
}

async fn narrowed_key(app: &TestApp, account: &Account, narrowing: Value) -> String {
    let mut body = json!({"name": "narrowed"});
    body.as_object_mut().unwrap().extend(narrowing.as_object().unwrap().clone());
    let response = call(app, Method::POST, "/api/v1/auth/api-keys", &account.access, Some(body)).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    created["key"].as_str().unwrap().to_string()
}

async fn api_keys_narrowed_to_a_workspace_or_to_reading_reach_only_that(app: TestApp) {
    let owner = register(&app).await;
    let sales = workspace_with_demo_base(&app, &owner).await;
    // A second workspace with the other base, through its own token.
    let ops: Value = call(&app, Method::POST, "/api/v1/workspaces", &owner.access, Some(json!({"name": "Ops"})))
        .await
        .json()
        .await
        .unwrap();
    let ops = ops["id"].as_str().unwrap().to_string();
    let token = app.emulator().issue_token(EmulatorUser::emulator(), BaseReach::only([OPS_BASE]), Vec::new());
    let connected: Value = call(
        &app,
        Method::POST,
        &format!("/api/v1/workspaces/{ops}/connections"),
        &owner.access,
        Some(json!({"type": "pat", "token": token})),
    )
    .await
    .json()
    .await
    .unwrap();
    let link = json!({"base_id": OPS_BASE, "connection_id": connected["connection"]["id"]});
    assert_eq!(
        call(&app, Method::POST, &format!("/api/v1/workspaces/{ops}/bases"), &owner.access, Some(link)).await.status(),
        201
    );
    let (demo_read, ops_read) =
        (format!("/v0/{DEMO_BASE}/{PROJECTS}?pageSize=1"), format!("/v0/{OPS_BASE}/{INCIDENTS}?pageSize=1"));

    let in_sales = narrowed_key(&app, &owner, json!({"workspace_id": sales})).await;
    assert_eq!(get_as(&app, &demo_read, &in_sales).await.status(), 200, "inside its workspace");
    assert_eq!(get_as(&app, &ops_read, &in_sales).await.status(), 403, "another workspace: as if missing");
    let listed: Value = get_as(&app, "/v0/meta/bases", &in_sales).await.json().await.unwrap();
    assert_eq!(listed["bases"].as_array().unwrap().len(), 1, "{listed}");
    let created = call(&app, Method::POST, "/api/v1/workspaces", &in_sales, Some(json!({"name": "X"}))).await;
    crate::support::assert_error(created, 403, "forbidden").await;
    let invitations = get_as(&app, "/api/v1/tenants/current/invitations", &in_sales).await;
    crate::support::assert_error(invitations, 403, "forbidden").await;

    let reader = narrowed_key(&app, &owner, json!({"read_only": true})).await;
    assert_eq!(get_as(&app, &demo_read, &reader).await.status(), 200);
    assert_eq!(get_as(&app, &ops_read, &reader).await.status(), 200, "every workspace, reading");
    let listed = call(
        &app,
        Method::POST,
        &format!("/v0/{DEMO_BASE}/{PROJECTS}/listRecords"),
        &reader,
        Some(json!({"pageSize": 1})),
    )
    .await;
    assert_eq!(listed.status(), 200, "Airtable's POST listRecords is a read");
    for (method, path, body) in [
        (Method::POST, format!("/v0/{DEMO_BASE}/{PROJECTS}"), json!({"fields": {"Name": "no"}})),
        (Method::PATCH, "/api/v1/tenants/current".to_string(), json!({"name": "No", "version": 1})),
        (Method::POST, "/api/v1/workspaces".to_string(), json!({"name": "No"})),
    ] {
        let response = call(&app, method.clone(), &path, &reader, Some(body)).await;
        assert_eq!(response.status(), 403, "{method} {path} with a read-only key");
    }
    let whoami: Value = get_as(&app, "/v0/meta/whoami", &reader).await.json().await.unwrap();
    assert!(!whoami["scopes"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().ends_with(":write")), "{whoami}");

    let bad = call(
        &app,
        Method::POST,
        "/api/v1/auth/api-keys",
        &owner.access,
        Some(json!({"name": "x", "workspace_id": "no such/id"})),
    )
    .await;
    crate::support::assert_error(bad, 400, "invalid_workspace").await;
}
