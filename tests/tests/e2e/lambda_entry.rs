//! Every file in events/ replayed through its function's real binary (the lambda_http / lambda_runtime entry
//! point, not the Router), running against a loopback Lambda Runtime API. `events/<function>/expected.json`
//! maps each event file to the status code (API events) or outcome the function must give.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_sim::{Function, Outcome, RuntimeApi};
use serde_json::Value;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// target/<profile>/ — where this test binary's sibling executables are.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Environment a function gets in these replays: AWS adapters against moto, cache on redis-server.
fn function_env() -> Vec<(String, String)> {
    let mut env = vec![("STORAGE".to_string(), "aws".to_string()), ("STORAGE_PROVISION".into(), "true".into())];
    for name in ["MOTO_ENDPOINT_URL", "REDIS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        if let Ok(value) = std::env::var(name) {
            let key = match name {
                "MOTO_ENDPOINT_URL" => "AWS_ENDPOINT_URL",
                "REDIS_URL" => "CACHE_URL",
                other => other,
            };
            env.push((key.into(), value));
        }
    }
    env.push(("TABLE_PREFIX".into(), format!("replay{}-", std::process::id())));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_in_events_is_answered_as_expected_by_its_function_binary() {
    let events_dir = repo_root().join("events");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&events_dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let function = dir.file_name().unwrap().to_str().unwrap().to_string();
        let expected: BTreeMap<String, Value> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let api = RuntimeApi::start().await.unwrap();
        let env = function_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut process = Function::spawn(&binaries_dir().join(&function), &api, &function, &env).unwrap();
        process.wait_ready(&api, Duration::from_secs(20)).await.unwrap();

        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.file_name().unwrap() != "expected.json") {
            let name = file.file_name().unwrap().to_str().unwrap();
            let want = expected.get(name).unwrap_or_else(|| panic!("events/{function}/expected.json has no entry for {name}"));
            let event: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            let outcome = api.invoke(event, Duration::from_secs(20)).await.unwrap();
            match (outcome, want) {
                (Outcome::Response(response), Value::Number(status)) => {
                    assert_eq!(response["statusCode"].as_u64(), status.as_u64(), "{function}/{name}: {response}");
                    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
                    if status.as_u64().is_some_and(|s| s >= 400) {
                        assert!(body["code"].is_string() && body["request_id"].is_string(), "{function}/{name}: error shape {body}");
                    }
                }
                (Outcome::Response(response), Value::Object(shape)) => {
                    for (key, value) in shape {
                        assert_eq!(&response[key], value, "{function}/{name}: {key} in {response}");
                    }
                }
                (Outcome::Error(error), Value::String(message)) => {
                    assert_eq!(error["errorMessage"].as_str(), Some(message.as_str()), "{function}/{name}: {error}");
                }
                (outcome, want) => panic!("{function}/{name}: got {outcome:?}, expected {want}"),
            }
            replayed += 1;
        }
        drop(process);
    }
    assert!(replayed > 0, "no events replayed");
}
