//! Every route of the workspaces group, three ways: another tenant's ids are 404s that change nothing; who may
//! and who may not (a workspace viewer, a workspace admin, a tenant member outside the workspace); bad input is
//! a 4xx in the platform's error shape.

use airtable_emulator::auth::{BaseReach, EmulatorUser};
use airtable_emulator::seed::{DEMO_BASE, PROJECTS};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::accounts::{Account, call, get_as, join, register};
use crate::support::{TestApp, assert_error};

fn tenancy_groups(settings: &mut local_runner::Settings) {
    settings.groups = Some(["auth", "tenants", "workspaces", "airtable"].map(String::from).to_vec());
}

crate::both_adapters_in!(tenancy_groups;
    every_route_with_another_tenants_ids_is_a_404_and_changes_nothing,
    each_route_admits_exactly_the_roles_that_may_use_it,
    bad_input_is_a_4xx_in_the_error_shape_on_every_route,
);

/// A tenant's workspace with everything in it.
struct World {
    owner: Account,
    workspace: String,
    project: String,
    connection: String,
    /// A tenant member who is a viewer of the workspace.
    viewer: Account,
    grant: String,
    role: String,
}

async fn created(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "creating {what}: {body}");
    body
}

async fn world(app: &TestApp) -> World {
    let owner = register(app).await;
    let o = &owner.access;
    let workspace =
        created(call(app, Method::POST, "/api/v1/workspaces", o, Some(json!({"name": "W"}))).await, "a workspace")
            .await;
    let workspace = workspace["id"].as_str().unwrap().to_string();
    let w = &workspace;
    let project = created(
        call(app, Method::POST, &format!("/api/v1/workspaces/{w}/projects"), o, Some(json!({"name": "P"}))).await,
        "a project",
    )
    .await;
    let token = app.emulator().issue_token(EmulatorUser::emulator(), BaseReach::only([DEMO_BASE]), Vec::new());
    let body = json!({"type": "pat", "token": token});
    let connected = created(
        call(app, Method::POST, &format!("/api/v1/workspaces/{w}/connections"), o, Some(body)).await,
        "a connection",
    )
    .await;
    let connection = connected["connection"]["id"].as_str().unwrap().to_string();
    let link = json!({"base_id": DEMO_BASE, "connection_id": connection});
    created(call(app, Method::POST, &format!("/api/v1/workspaces/{w}/bases"), o, Some(link)).await, "a link").await;
    let viewer = join(app, o, "member").await;
    let member = json!({"user_id": viewer.user_id, "role": "viewer"});
    created(call(app, Method::POST, &format!("/api/v1/workspaces/{w}/members"), o, Some(member)).await, "a member")
        .await;
    let role = json!({"name": "Reader", "permissions": ["records:read"]});
    let role = created(call(app, Method::POST, "/api/v1/permissions/roles", o, Some(role)).await, "a role").await;
    let role = role["id"].as_str().unwrap().to_string();
    let grant = json!({"user_id": viewer.user_id, "role": format!("custom:{role}"), "resource": format!("workspace:{w}/base:{DEMO_BASE}")});
    let grant = created(call(app, Method::POST, "/api/v1/permissions/grants", o, Some(grant)).await, "a grant").await;
    World {
        owner,
        workspace,
        project: project["id"].as_str().unwrap().to_string(),
        connection,
        viewer,
        grant: grant["id"].as_str().unwrap().to_string(),
        role,
    }
}

/// Every route that names the world's resources: (method, path, body).
fn routes(world: &World, user: &str) -> Vec<(Method, String, Option<Value>)> {
    let (w, p, c, g, r) = (&world.workspace, &world.project, &world.connection, &world.grant, &world.role);
    let ws = format!("/api/v1/workspaces/{w}");
    vec![
        (Method::GET, ws.clone(), None),
        (Method::PATCH, ws.clone(), Some(json!({"name": "X", "version": 1}))),
        (Method::GET, format!("{ws}/projects"), None),
        (Method::POST, format!("{ws}/projects"), Some(json!({"name": "X"}))),
        (Method::GET, format!("{ws}/projects/{p}"), None),
        (Method::PATCH, format!("{ws}/projects/{p}"), Some(json!({"archived": true, "version": 1}))),
        (Method::GET, format!("{ws}/members"), None),
        (Method::POST, format!("{ws}/members"), Some(json!({"user_id": user, "role": "admin"}))),
        (Method::PATCH, format!("{ws}/members/{user}"), Some(json!({"role": "admin", "version": 1}))),
        (Method::DELETE, format!("{ws}/members/{user}"), None),
        (Method::GET, format!("{ws}/connections"), None),
        (Method::POST, format!("{ws}/connections"), Some(json!({"type": "pat", "token": "patWhatever"}))),
        (Method::POST, format!("{ws}/connections/oauth"), Some(json!({}))),
        (Method::GET, format!("{ws}/bases"), None),
        (Method::POST, format!("{ws}/bases"), Some(json!({"base_id": DEMO_BASE, "connection_id": c}))),
        (Method::DELETE, format!("{ws}/bases/{DEMO_BASE}"), None),
        (Method::DELETE, format!("{ws}/connections/{c}"), None),
        (Method::DELETE, format!("{ws}/projects/{p}"), None),
        (Method::PATCH, format!("/api/v1/permissions/roles/{r}"), Some(json!({"name": "X", "version": 1}))),
        (Method::DELETE, format!("/api/v1/permissions/roles/{r}"), None),
        (Method::DELETE, format!("/api/v1/permissions/grants/{g}"), None),
        (
            Method::POST,
            "/api/v1/permissions/check".into(),
            Some(json!({"permission": "records:read", "resource": format!("workspace:{w}")})),
        ),
        (
            Method::POST,
            "/api/v1/permissions/check-batch".into(),
            Some(json!({"checks": [{"permission": "records:read", "resource": format!("workspace:{w}")}]})),
        ),
        (Method::GET, format!("/api/v1/permissions/effective?resource=workspace:{w}"), None),
        (
            Method::POST,
            "/api/v1/permissions/grants".into(),
            Some(json!({"user_id": user, "role": "viewer", "resource": format!("workspace:{w}")})),
        ),
        (Method::DELETE, ws, None),
    ]
}

/// What the owner sees of the world: unchanged by anything a stranger tried.
async fn snapshot(app: &TestApp, world: &World) -> Vec<Value> {
    let w = &world.workspace;
    let mut seen = Vec::new();
    for path in [
        format!("/api/v1/workspaces/{w}"),
        format!("/api/v1/workspaces/{w}/projects"),
        format!("/api/v1/workspaces/{w}/members"),
        format!("/api/v1/workspaces/{w}/connections"),
        format!("/api/v1/workspaces/{w}/bases"),
        "/api/v1/permissions/roles".into(),
        "/api/v1/permissions/grants".into(),
    ] {
        let response = get_as(app, &path, &world.owner.access).await;
        assert_eq!(response.status(), 200, "{path}");
        seen.push(response.json().await.unwrap());
    }
    seen
}

async fn every_route_with_another_tenants_ids_is_a_404_and_changes_nothing(app: TestApp) {
    let world = world(&app).await;
    let before = snapshot(&app, &world).await;
    // The other tenant's owner: a tenant admin, with every permission in its own tenant.
    let stranger = register(&app).await;
    for (method, path, body) in routes(&world, &world.viewer.user_id) {
        let response = call(&app, method.clone(), &path, &stranger.access, body).await;
        assert_error(response, 404, "not_found").await;
    }
    // Lists are the caller's tenant's: nothing of the other one.
    for path in ["/api/v1/workspaces", "/api/v1/permissions/grants", "/api/v1/permissions/roles"] {
        let text = get_as(&app, path, &stranger.access).await.text().await.unwrap();
        for id in [&world.workspace, &world.grant, &world.role] {
            assert!(!text.contains(id.as_str()), "{path} shows {id}: {text}");
        }
    }
    // A user of another tenant cannot be made a member or given a grant.
    let w = &world.workspace;
    let add = json!({"user_id": stranger.user_id, "role": "viewer"});
    let response =
        call(&app, Method::POST, &format!("/api/v1/workspaces/{w}/members"), &world.owner.access, Some(add)).await;
    assert_error(response, 404, "not_found").await;
    let grant = json!({"user_id": stranger.user_id, "role": "viewer", "resource": format!("workspace:{w}")});
    let response = call(&app, Method::POST, "/api/v1/permissions/grants", &world.owner.access, Some(grant)).await;
    assert_error(response, 404, "not_found").await;
    assert_eq!(snapshot(&app, &world).await, before, "nothing changed");
}

async fn each_route_admits_exactly_the_roles_that_may_use_it(app: TestApp) {
    let world = world(&app).await;
    let w = &world.workspace;
    let outsider = join(&app, &world.owner.access, "member").await;
    // A tenant member outside the workspace does not see it: every route that names it is a 404.
    for (method, path, body) in routes(&world, &outsider.user_id) {
        if path.starts_with("/api/v1/permissions/roles") || path.starts_with("/api/v1/permissions/grants/") {
            continue; // tenant-wide: checked below
        }
        let response = call(&app, method.clone(), &path, &outsider.access, body).await;
        let status = response.status().as_u16();
        if path.starts_with("/api/v1/permissions/grants") {
            assert!([403, 404].contains(&status), "outsider {method} {path}: {status}");
        } else {
            assert_eq!(status, 404, "outsider {method} {path}");
        }
    }
    // A viewer reads the workspace and what is in it, and changes nothing.
    let v = &world.viewer.access;
    for path in [
        format!("/api/v1/workspaces/{w}"),
        format!("/api/v1/workspaces/{w}/projects"),
        format!("/api/v1/workspaces/{w}/members"),
        format!("/api/v1/workspaces/{w}/bases"),
    ] {
        assert_eq!(get_as(&app, &path, v).await.status(), 200, "viewer reads {path}");
    }
    let forbidden: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/v1/workspaces".into(), Some(json!({"name": "Mine"}))),
        (Method::PATCH, format!("/api/v1/workspaces/{w}"), Some(json!({"name": "X", "version": 1}))),
        (Method::DELETE, format!("/api/v1/workspaces/{w}"), None),
        (Method::POST, format!("/api/v1/workspaces/{w}/projects"), Some(json!({"name": "X"}))),
        (
            Method::POST,
            format!("/api/v1/workspaces/{w}/members"),
            Some(json!({"user_id": outsider.user_id, "role": "viewer"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/workspaces/{w}/members/{}", world.viewer.user_id),
            Some(json!({"role": "admin", "version": 1})),
        ),
        (Method::GET, format!("/api/v1/workspaces/{w}/connections"), None),
        (
            Method::POST,
            format!("/api/v1/workspaces/{w}/connections"),
            Some(json!({"type": "pat", "token": "patWhatever"})),
        ),
        (Method::POST, format!("/api/v1/workspaces/{w}/connections/oauth"), Some(json!({}))),
        (Method::DELETE, format!("/api/v1/workspaces/{w}/connections/{}", world.connection), None),
        (
            Method::POST,
            format!("/api/v1/workspaces/{w}/bases"),
            Some(json!({"base_id": DEMO_BASE, "connection_id": world.connection})),
        ),
        (Method::DELETE, format!("/api/v1/workspaces/{w}/bases/{DEMO_BASE}"), None),
        (Method::POST, "/api/v1/permissions/roles".into(), Some(json!({"name": "X", "permissions": []}))),
        (
            Method::POST,
            "/api/v1/permissions/grants".into(),
            Some(json!({"user_id": outsider.user_id, "role": "viewer", "resource": format!("workspace:{w}")})),
        ),
        (
            Method::POST,
            "/api/v1/permissions/check".into(),
            Some(
                json!({"permission": "records:read", "resource": format!("workspace:{w}"), "user_id": outsider.user_id}),
            ),
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{}/platform-bases", world.owner.tenant_id),
            Some(json!({"bases": [{"id": DEMO_BASE}]})),
        ),
    ];
    for (method, path, body) in &forbidden {
        let response = call(&app, method.clone(), path, v, body.clone()).await;
        assert_error(response, 403, "forbidden").await;
    }
    // The viewer decides for itself.
    let check =
        json!({"permission": "records:write", "resource": format!("workspace:{w}/base:{DEMO_BASE}/table:{PROJECTS}")});
    let decided: Value =
        call(&app, Method::POST, "/api/v1/permissions/check", v, Some(check)).await.json().await.unwrap();
    assert_eq!(decided["allowed"], false);
    // A workspace admin manages its members and connections, but creates no workspace and no tenant role.
    let promote = json!({"role": "admin", "version": 1});
    let path = format!("/api/v1/workspaces/{w}/members/{}", world.viewer.user_id);
    assert_eq!(call(&app, Method::PATCH, &path, &world.owner.access, Some(promote)).await.status(), 200);
    let listed = get_as(&app, &format!("/api/v1/workspaces/{w}/connections"), v).await;
    assert_eq!(listed.status(), 200, "a workspace admin manages connections");
    let add = json!({"user_id": outsider.user_id, "role": "editor"});
    assert_eq!(call(&app, Method::POST, &format!("/api/v1/workspaces/{w}/members"), v, Some(add)).await.status(), 201);
    let create = call(&app, Method::POST, "/api/v1/workspaces", v, Some(json!({"name": "Mine"}))).await;
    assert_error(create, 403, "forbidden").await;
    let role =
        call(&app, Method::POST, "/api/v1/permissions/roles", v, Some(json!({"name": "X", "permissions": []}))).await;
    assert_error(role, 403, "forbidden").await;
}

async fn bad_input_is_a_4xx_in_the_error_shape_on_every_route(app: TestApp) {
    let world = world(&app).await;
    let (o, w) = (&world.owner.access, &world.workspace);
    let ws = format!("/api/v1/workspaces/{w}");
    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (Method::GET, "/api/v1/workspaces?limit=0".into(), None, 400, "invalid_limit"),
        (Method::GET, "/api/v1/workspaces?cursor=forged".into(), None, 400, "invalid_cursor"),
        (Method::POST, "/api/v1/workspaces".into(), Some(json!({"name": "   "})), 400, "invalid_field"),
        (Method::POST, "/api/v1/workspaces".into(), Some(json!({"name": "a\u{7}b"})), 400, "invalid_field"),
        (Method::POST, "/api/v1/workspaces".into(), Some(json!({"name": "x".repeat(101)})), 400, "invalid_field"),
        (Method::GET, "/api/v1/workspaces/ws_%2e%2e".into(), None, 404, "not_found"),
        (Method::GET, format!("/api/v1/workspaces/{}", "w".repeat(300)), None, 404, "not_found"),
        (Method::PATCH, ws.clone(), Some(json!({"name": "X", "version": 99})), 409, "version_conflict"),
        (Method::POST, format!("{ws}/projects"), Some(json!({"name": ""})), 400, "invalid_field"),
        (Method::GET, format!("{ws}/projects/prj_nope"), None, 404, "not_found"),
        (
            Method::POST,
            format!("{ws}/members"),
            Some(json!({"user_id": world.viewer.user_id, "role": "owner"})),
            400,
            "invalid_role",
        ),
        (
            Method::POST,
            format!("{ws}/members"),
            Some(json!({"user_id": "not-a-uuid", "role": "viewer"})),
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            format!("{ws}/members"),
            Some(json!({"user_id": world.viewer.user_id, "role": "viewer"})),
            409,
            "already_member",
        ),
        (Method::DELETE, format!("{ws}/members/not-a-uuid"), None, 404, "not_found"),
        (Method::DELETE, format!("{ws}/members/{}", world.owner.user_id), None, 409, "last_admin"),
        (Method::POST, format!("{ws}/connections"), Some(json!({"type": "oauth", "token": "x"})), 400, "invalid_field"),
        (
            Method::POST,
            format!("{ws}/connections"),
            Some(json!({"type": "pat", "token": "has spaces"})),
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            format!("{ws}/connections"),
            Some(json!({"type": "pat", "token": "patUnknown"})),
            400,
            "airtable_token_refused",
        ),
        (Method::POST, format!("{ws}/connections/oauth"), Some(json!({})), 503, "service_unavailable"),
        (Method::DELETE, format!("{ws}/connections/conn_nope"), None, 404, "not_found"),
        (
            Method::POST,
            format!("{ws}/bases"),
            Some(json!({"base_id": "appShort", "connection_id": world.connection})),
            400,
            "invalid_field",
        ),
        (
            Method::POST,
            format!("{ws}/bases"),
            Some(json!({"base_id": DEMO_BASE, "connection_id": "conn_nope"})),
            404,
            "not_found",
        ),
        (
            Method::POST,
            format!("{ws}/bases"),
            Some(json!({"base_id": DEMO_BASE, "connection_id": world.connection})),
            409,
            "base_already_linked",
        ),
        (Method::DELETE, format!("{ws}/bases/appNotLinked00001"), None, 404, "not_found"),
        (
            Method::POST,
            "/api/v1/permissions/roles".into(),
            Some(json!({"name": "X", "permissions": ["records:fly"]})),
            400,
            "invalid_permission",
        ),
        (Method::DELETE, format!("/api/v1/permissions/roles/{}", world.role), None, 409, "role_in_use"),
        (
            Method::POST,
            "/api/v1/permissions/grants".into(),
            Some(json!({"user_id": world.viewer.user_id, "role": "viewer", "resource": "workspace:../x"})),
            400,
            "invalid_resource",
        ),
        (
            Method::POST,
            "/api/v1/permissions/grants".into(),
            Some(
                json!({"user_id": world.viewer.user_id, "role": "tenant_admin", "resource": format!("workspace:{w}")}),
            ),
            400,
            "invalid_role",
        ),
        (
            Method::POST,
            "/api/v1/permissions/grants".into(),
            Some(
                json!({"user_id": world.viewer.user_id, "role": "custom:role_nope", "resource": format!("workspace:{w}")}),
            ),
            400,
            "invalid_role",
        ),
        (Method::DELETE, "/api/v1/permissions/grants/grant_nope".into(), None, 404, "not_found"),
        (
            Method::POST,
            "/api/v1/permissions/check".into(),
            Some(json!({"permission": "records:fly", "resource": "tenant"})),
            400,
            "invalid_permission",
        ),
        (
            Method::POST,
            "/api/v1/permissions/check".into(),
            Some(json!({"permission": "records:read", "resource": "x".repeat(600)})),
            400,
            "invalid_resource",
        ),
        (Method::POST, "/api/v1/permissions/check-batch".into(), Some(json!({"checks": []})), 400, "invalid_field"),
        (Method::GET, "/api/v1/permissions/effective?resource=workspace:".into(), None, 400, "invalid_resource"),
        (
            Method::PUT,
            format!("/api/v1/tenants/{}/platform-bases", world.owner.tenant_id),
            Some(json!({"bases": []})),
            403,
            "forbidden",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let response = call(&app, method.clone(), &path, o, body).await;
        let got = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path}: {answer}");
        assert!(answer["error"].is_string() && answer["request_id"].is_string(), "the error shape: {answer}");
    }
    // Unknown fields and ill-typed versions are refused by the JSON extractor, in the same shape.
    for (method, path, body) in [
        (Method::POST, "/api/v1/workspaces".to_string(), json!({"name": "X", "owner": "me"})),
        (Method::PATCH, ws.clone(), json!({"name": "X", "version": "one"})),
        (
            Method::POST,
            "/api/v1/permissions/check-batch".into(),
            json!({"checks": vec![json!({"permission": "records:read", "resource": "tenant"}); 101]}),
        ),
    ] {
        let response = call(&app, method.clone(), &path, o, Some(body)).await;
        assert_eq!(response.status(), 400, "{method} {path}");
    }
    // The public callback: a missing or unknown state is the same 400.
    for query in ["", "?state=unknown&code=x", &format!("?state={}", "s".repeat(500))] {
        let response = app.client.get(app.at(&format!("/api/v1/oauth/airtable/callback{query}"))).send().await.unwrap();
        assert_error(response, 400, "invalid_oauth_state").await;
    }
}
