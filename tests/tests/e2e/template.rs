//! template.yaml and the code agree: the same (method, path) routes, each public or protected alike, and
//! every function in the template is a binary of some crate under functions/ and the reverse.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

use crate::support::{Adapters, TestApp};

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn functions(template: &Value) -> impl Iterator<Item = (&str, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, resource)| (name.as_str().unwrap(), resource))
}

/// (METHOD, path) → public?, as API Gateway will see it.
fn template_routes(template: &Value) -> BTreeMap<(String, String), bool> {
    let default_authorizer = template["Resources"]["Api"]["Properties"]["Auth"]["DefaultAuthorizer"].as_str().is_some();
    let mut routes = BTreeMap::new();
    for (_, function) in functions(template) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values().filter(|e| e["Type"].as_str() == Some("Api")) {
            let props = &event["Properties"];
            let method = props["Method"].as_str().unwrap().to_uppercase();
            let path = props["Path"].as_str().unwrap().to_string();
            let authorizer = props["Auth"]["Authorizer"].as_str();
            let public = match authorizer {
                Some("NONE") => true,
                Some(_) => false,
                None => !default_authorizer,
            };
            assert!(
                routes.insert((method.clone(), path.clone()), public).is_none(),
                "{method} {path} twice in template.yaml"
            );
        }
    }
    routes
}

#[tokio::test]
async fn every_route_in_template_yaml_is_served_by_the_code_and_the_reverse() {
    let app = TestApp::spawn(Adapters::Embedded).await;
    let code: BTreeMap<(String, String), bool> =
        app.routes().iter().map(|r| ((r.method.to_string(), r.path.clone()), r.public)).collect();
    let template = template_routes(&template());

    let only_code: Vec<_> = code.keys().filter(|k| !template.contains_key(*k)).collect();
    let only_template: Vec<_> = template.keys().filter(|k| !code.contains_key(*k)).collect();
    assert!(only_code.is_empty(), "served by the code but missing from template.yaml: {only_code:?}");
    assert!(only_template.is_empty(), "in template.yaml but not served by the code: {only_template:?}");
    let auth_mismatch: Vec<_> = code.iter().filter(|(k, public)| template[*k] != **public).collect();
    assert!(
        auth_mismatch.is_empty(),
        "public in one and protected in the other (route, public in code): {auth_mismatch:?}"
    );
}

#[test]
fn every_function_in_template_yaml_is_a_crate_binary_and_the_reverse() {
    let template = template();
    // Binary → CodeUri. `sam build` runs `cargo lambda build --bin <Binary>` in CodeUri, where cargo only finds
    // the binaries of the package there (at the root it would look in the default member, the local runner).
    let in_template: BTreeMap<String, String> = functions(&template)
        .map(|(name, f)| {
            assert_eq!(f["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{name} BuildMethod");
            let binary = f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no Metadata.BuildProperties.Binary"));
            let code_uri = f["Properties"]["CodeUri"].as_str().unwrap_or_else(|| panic!("{name} has no CodeUri"));
            (binary.to_string(), code_uri.trim_end_matches('/').to_string())
        })
        .collect();
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let functions_dir = repo_root().join("functions");
    let mut in_code = BTreeMap::new();
    for package in metadata["packages"].as_array().unwrap() {
        let manifest = Path::new(package["manifest_path"].as_str().unwrap());
        if !manifest.starts_with(&functions_dir) {
            continue;
        }
        let dir = manifest.parent().unwrap().strip_prefix(repo_root()).unwrap().to_str().unwrap().to_string();
        for target in package["targets"].as_array().unwrap() {
            if target["kind"].as_array().unwrap().iter().any(|k| k == "bin") {
                in_code.insert(target["name"].as_str().unwrap().to_string(), dir.clone());
            }
        }
    }
    assert_eq!(
        in_template.keys().collect::<Vec<_>>(),
        in_code.keys().collect::<Vec<_>>(),
        "template functions (left) vs crate binaries under functions/ (right)"
    );
    assert_eq!(in_template, in_code, "binary → CodeUri in template.yaml (left) vs binary → its crate (right)");
}

/// `!Ref X` → "X"; `!Sub "…"` → "…" (the tag's argument as text).
fn tagged_arg(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => match &tagged.value {
            Value::String(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        },
        _ => None,
    }
}

fn api_events(template: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, function) in functions(template) {
        let Some(events) = function["Properties"]["Events"].as_mapping() else { continue };
        for (event, body) in events {
            if body["Type"].as_str() == Some("Api") {
                out.push((format!("{name}.{}", event.as_str().unwrap()), body["Properties"].clone()));
            }
        }
    }
    out
}

/// Per-tenant API rate on AWS: the Api takes its usage key from the authorizer and requires one on every
/// authorized route; public routes (no authorizer, so no key) say `ApiKeyRequired: false`, and no other does.
#[test]
fn the_api_takes_usage_keys_from_the_authorizer_and_public_routes_need_none() {
    let template = template();
    let api = &template["Resources"]["Api"]["Properties"];
    assert_eq!(api["ApiKeySourceType"].as_str(), Some("AUTHORIZER"));
    assert_eq!(api["Auth"]["ApiKeyRequired"].as_bool(), Some(true));
    assert_eq!(api["Auth"]["AddApiKeyRequiredToCorsPreflight"].as_bool(), Some(false));
    let mut problems = Vec::new();
    for (event, props) in api_events(&template) {
        let public = props["Auth"]["Authorizer"].as_str() == Some("NONE");
        let key_required = props["Auth"]["ApiKeyRequired"].as_bool();
        match (public, key_required) {
            (true, Some(false)) | (false, None) => {}
            (true, other) => problems.push(format!("{event} is public but ApiKeyRequired is {other:?}, not false")),
            (false, Some(other)) => problems.push(format!("{event} is authorized but sets ApiKeyRequired {other}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One usage plan per built-in plan on the Api's stage, its throttle the plan's `api_requests_per_second` and
/// `api_burst` through parameters whose defaults are the built-in numbers; the usage-plans function is told each
/// (USAGE_PLAN_IDS); the shared fallback key is on the free usage plan and is the authorizer's USAGE_FALLBACK_KEY.
#[test]
fn the_usage_plans_throttle_at_the_built_in_plans_rates_and_the_fallback_key_is_on_free() {
    let template = template();
    let resources = &template["Resources"];
    let plans = identity::plans::Plans::default();
    let parameter_default = |value: &Value| {
        let name = tagged_arg(value).unwrap_or_else(|| panic!("a !Ref to a parameter: {value:?}"));
        template["Parameters"][name.as_str()]["Default"].as_u64().unwrap_or_else(|| panic!("{name} default"))
    };
    let mut by_plan = std::collections::BTreeMap::new();
    for (name, body) in resources.as_mapping().unwrap() {
        if body["Type"].as_str() != Some("AWS::ApiGateway::UsagePlan") {
            continue;
        }
        let name = name.as_str().unwrap().to_string();
        let props = &body["Properties"];
        let usage_plan_name = tagged_arg(&props["UsagePlanName"]).unwrap();
        let plan = usage_plan_name.strip_prefix("${AWS::StackName}-").unwrap().to_string();
        assert!(plans.contains(&plan), "{name}: {plan} is not a built-in plan");
        let limits = plans.limits(&plan);
        assert_eq!(parameter_default(&props["Throttle"]["RateLimit"]), limits.api_requests_per_second, "{name} rate");
        assert_eq!(parameter_default(&props["Throttle"]["BurstLimit"]), limits.api_burst, "{name} burst");
        let stages = props["ApiStages"].as_sequence().unwrap();
        assert_eq!(stages.len(), 1, "{name}: one stage");
        assert_eq!(tagged_arg(&stages[0]["ApiId"]).as_deref(), Some("Api"), "{name} ApiId");
        assert_eq!(tagged_arg(&stages[0]["Stage"]).as_deref(), Some("Api.Stage"), "{name} Stage");
        by_plan.insert(plan, name);
    }
    assert_eq!(by_plan.keys().map(String::as_str).collect::<Vec<_>>(), plans.names().collect::<Vec<_>>());

    let consumer = functions(&template)
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("usage-plans"))
        .map(|(_, f)| f.clone())
        .expect("the usage-plans function");
    let ids = tagged_arg(&consumer["Properties"]["Environment"]["Variables"]["USAGE_PLAN_IDS"]).unwrap();
    let ids: serde_json::Value = serde_json::from_str(&ids).unwrap();
    for (plan, resource) in &by_plan {
        assert_eq!(ids[plan.as_str()], format!("${{{resource}}}"), "USAGE_PLAN_IDS names {resource} for {plan}");
    }

    let keys: Vec<(&Value, &Value)> = resources
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, body)| body["Type"].as_str() == Some("AWS::ApiGateway::ApiKey"))
        .collect();
    let [(key_name, key)] = keys.as_slice() else { panic!("one shared API key, found {}", keys.len()) };
    let key_name = key_name.as_str().unwrap();
    assert_eq!(key["Properties"]["Enabled"].as_bool(), Some(true));
    let value = tagged_arg(&key["Properties"]["Value"]).unwrap();
    assert_eq!(value, "${AWS::StackName}-${AWS::AccountId}-shared-usage-key");
    let authorizer = &resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged_arg(&authorizer["USAGE_FALLBACK_KEY"]), Some(value), "the authorizer's fallback is the key");
    let attached: Vec<&Value> = resources
        .as_mapping()
        .unwrap()
        .values()
        .filter(|body| body["Type"].as_str() == Some("AWS::ApiGateway::UsagePlanKey"))
        .collect();
    let [attachment] = attached.as_slice() else { panic!("one usage plan key, found {}", attached.len()) };
    let props = &attachment["Properties"];
    assert_eq!(tagged_arg(&props["KeyId"]).as_deref(), Some(key_name));
    assert_eq!(props["KeyType"].as_str(), Some("API_KEY"));
    assert_eq!(tagged_arg(&props["UsagePlanId"]), Some(by_plan["free"].clone()), "the fallback key is on free");
}

#[test]
fn a_throttled_request_on_aws_answers_429_with_retry_after_in_the_platform_shape() {
    let template = template();
    let throttled = &template["Resources"]["Api"]["Properties"]["GatewayResponses"]["THROTTLED"];
    assert_eq!(throttled["StatusCode"].as_str(), Some("429"), "{throttled:?}");
    assert_eq!(throttled["ResponseParameters"]["Headers"]["Retry-After"].as_str(), Some("'1'"), "{throttled:?}");
    let body = throttled["ResponseTemplates"]["application/json"].as_str().unwrap_or_default();
    assert!(body.contains("\"code\":\"rate_limited\""), "{body}");
}

/// The dashboard and the alarms on the functions' own metrics read names the code emits: the request metrics of
/// every group (`platform::metrics`), the automations' business counters, the gateway's cache counters.
#[test]
fn the_dashboard_and_alarms_read_the_metrics_the_code_emits() {
    use platform::metrics::{EMF_ERRORS, EMF_LATENCY, EMF_REQUESTS, emf_name};
    let template = template();
    let resources = &template["Resources"];
    let mut emitted: Vec<String> = [EMF_REQUESTS, EMF_LATENCY, EMF_ERRORS].iter().map(|n| n.to_string()).collect();
    use automations::engine::{RUNS_FAILED, RUNS_SUCCEEDED, STEPS_EXECUTED};
    emitted.extend([RUNS_SUCCEEDED, RUNS_FAILED, STEPS_EXECUTED].map(emf_name));
    let gateway = std::fs::read_to_string(repo_root().join("functions/airtable/src/metrics.rs")).unwrap();
    for name in ["CacheHit", "CacheMiss", "CacheStale"] {
        assert!(gateway.contains(&format!("\"{name}\"")), "the gateway no longer emits {name}");
        emitted.push(name.to_string());
    }

    let body = tagged_arg(&resources["OperationsDashboard"]["Properties"]["DashboardBody"]).expect("a dashboard body");
    let dashboard: serde_json::Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let mut named = Vec::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"].as_array().unwrap() {
            let line = metric.as_array().unwrap();
            match &line[0] {
                serde_json::Value::Object(search) => {
                    let expression = search["expression"].as_str().unwrap();
                    let name = expression.split("MetricName=\"").nth(1).unwrap().split('"').next().unwrap();
                    named.push(name.to_string());
                }
                _ => named.push(line[1].as_str().unwrap().to_string()),
            }
        }
    }
    for wanted in [EMF_REQUESTS, EMF_LATENCY, EMF_ERRORS] {
        assert!(named.iter().any(|n| n == wanted), "the dashboard shows no {wanted}");
    }
    for name in &named {
        assert!(emitted.contains(name), "the dashboard reads {name}, which no code emits");
    }
    for alarm in ["GatewayErrorsAlarm", "AutomationRunFailuresAlarm"] {
        let name = resources[alarm]["Properties"]["MetricName"].as_str().unwrap();
        assert!(emitted.iter().any(|n| n == name), "{alarm} reads {name}, which no code emits");
    }
}
