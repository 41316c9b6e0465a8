//! Every file in events/ replayed through its function's real binary (the lambda_http / lambda_runtime entry
//! point, not the Router), running against a loopback Lambda Runtime API. `events/<binary>/expected.json`
//! maps each event file to what the function must give:
//! - a number: an API event's status code (an error status also needs the platform's error shape);
//! - an object: a subset of the response, objects compared key by key (`{"statusCode": 200,
//!   "multiValueHeaders": {"x-request-id": ["r1"]}}`); `body_json` is matched against the decoded body, and
//!   `capture` (`{"NAME": "/body_json/json/pointer"}`) keeps a value of the response for later events;
//! - a string: the invocation must fail with that error message (the authorizer's `"Unauthorized"`).
//!
//! Directories replay in name order, each directory's files in name order, so a value captured by one event
//! (`auth/01-…` registers a user and keeps its tokens) is there for the next ones, in any directory: `${NAME}`
//! in an event or in its expected entry is replaced by it (an authorizer event carries a real token).
//! Every function shares one set of tables in moto, one signing key, and an Airtable emulator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_sim::{Function, Outcome, RuntimeApi};
use serde_json::Value;

/// The signing key every replayed function shares (auth signs, the authorizer verifies).
const JWT_SIGNING_KEY: &str = "replay-signing-key-0123456789abcdef0123456789abcdef";

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// target/<profile>/ — where this test binary's sibling executables are.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Environment a function gets in these replays: AWS adapters against moto, cache on redis-server, Airtable
/// at `airtable_url`.
fn function_env(airtable_url: &str) -> Vec<(String, String)> {
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
    // A test-only HMAC key (≥ 32 bytes) for the functions that issue or verify tokens.
    env.push(("JWT_SIGNING_KEY".into(), "replay-signing-key-0123456789abcdef0123456789".into()));
    env.push(("JWT_SIGNING_KEY".into(), JWT_SIGNING_KEY.into()));
    env.push(("BCRYPT_COST".into(), "10".into()));
    env.push(("AIRTABLE_ENDPOINT_URL".into(), airtable_url.into()));
    env.push(("AIRTABLE_API_KEY".into(), airtable_emulator::DEV_TOKEN.into()));
    env
}

/// Replaces every `${NAME}` with a captured value; an unknown name is a broken fixture.
fn substitute(text: &str, captured: &BTreeMap<String, String>, at: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').map(|e| start + e).unwrap_or_else(|| panic!("{at}: unclosed ${{"));
        let name = &rest[start + 2..end];
        let value =
            captured.get(name).unwrap_or_else(|| panic!("{at}: ${{{name}}} was not captured by an earlier event"));
        out.push_str(&rest[..start]);
        // Values land inside JSON strings.
        let quoted = serde_json::to_string(value).unwrap();
        out.push_str(&quoted[1..quoted.len() - 1]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_in_events_is_answered_as_expected_by_its_function_binary() {
    let airtable = airtable_emulator::spawn(
        airtable_emulator::Emulator::demo(airtable_emulator::DEV_TOKEN.into()),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let events_dir = repo_root().join("events");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&events_dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut captured = BTreeMap::new();
    let mut replayed = 0;
    for dir in dirs {
        let function = dir.file_name().unwrap().to_str().unwrap().to_string();
        let expected: BTreeMap<String, Value> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let api = RuntimeApi::start().await.unwrap();
        let env = function_env(&airtable.url());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut process = Function::spawn(&binaries_dir().join(&function), &api, &function, &env).unwrap();
        process.wait_ready(&api, Duration::from_secs(20)).await.unwrap();

        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.file_name().unwrap() != "expected.json") {
            let name = file.file_name().unwrap().to_str().unwrap();
            let at = format!("{function}/{name}");
            let want =
                expected.get(name).unwrap_or_else(|| panic!("events/{function}/expected.json has no entry for {name}"));
            let want: Value = serde_json::from_str(&substitute(&want.to_string(), &captured, &at)).unwrap();
            let event = substitute(&std::fs::read_to_string(file).unwrap(), &captured, &at);
            let event: Value = serde_json::from_str(&event).unwrap();
            let outcome = api.invoke(event, Duration::from_secs(20)).await.unwrap();
            match (outcome, &want) {
                (Outcome::Response(response), Value::Number(status)) => {
                    assert_eq!(response["statusCode"].as_u64(), status.as_u64(), "{at}: {response}");
                    if status.as_u64().is_some_and(|s| s >= 400) {
                        let body = body_json(&response);
                        assert!(body["code"].is_string() && body["request_id"].is_string(), "{at}: error shape {body}");
                    }
                }
                (Outcome::Response(mut response), Value::Object(shape)) => {
                    let body = body_json(&response);
                    response["body_json"] = body;
                    for (key, value) in shape.iter().filter(|(k, _)| *k != "capture") {
                        assert_subset(&response[key], value, &format!("{at}: {key} in {response}"));
                    }
                    for (var, pointer) in shape.get("capture").and_then(Value::as_object).into_iter().flatten() {
                        let value = response
                            .pointer(pointer.as_str().unwrap())
                            .unwrap_or_else(|| panic!("{at}: nothing at {pointer} to capture as {var} in {response}"));
                        let value = value.as_str().map(String::from).unwrap_or_else(|| value.to_string());
                        captured.insert(var.clone(), value);
                    }
                }
                (Outcome::Error(error), Value::String(message)) => {
                    assert_eq!(error["errorMessage"].as_str(), Some(message.as_str()), "{at}: {error}");
                }
                (outcome, want) => panic!("{at}: got {outcome:?}, expected {want}"),
            }
            replayed += 1;
        }
        drop(process);
    }
    assert!(replayed > 0, "no events replayed");
}

fn body_json(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

/// `want` is part of `got`: objects compare key by key (extra keys in `got` are fine), anything else equal.
fn assert_subset(got: &Value, want: &Value, at: &str) {
    match want {
        Value::Object(fields) => {
            for (key, value) in fields {
                assert_subset(&got[key], value, &format!("{at} / {key}"));
            }
        }
        _ => assert_eq!(got, want, "{at}"),
    }
}

#[test]
fn captured_values_replace_their_placeholders_as_json_string_content() {
    let captured = BTreeMap::from([("TOKEN".to_string(), "a\"b".to_string())]);
    assert_eq!(substitute(r#"{"h": "Bearer ${TOKEN}"}"#, &captured, "t"), r#"{"h": "Bearer a\"b"}"#);
}
