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
