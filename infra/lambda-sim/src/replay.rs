//! The replay of `events/`: each function binary's sample events, what it must answer to each, and the order
//! the binaries replay in. One implementation for the end-to-end tests (`tests/tests/e2e/lambda_entry.rs`
//! replays every event) and the cold-start bench (`infra/bench/src/cold.rs` seeds with `events/auth/`).
//!
//! `events/<binary>/expected.json` maps each event file of the directory to what the function must answer:
//! - a number: an API event's status code; an error status (≥ 400) also needs the platform's error shape
//!   (`code` and `request_id` strings in the JSON body);
//! - an object: a subset of the response ([`check`]: objects key by key, arrays element by element, anything
//!   else equal); `body_json` is matched against the decoded body, and `capture` (`{"NAME": "/json/pointer"}`,
//!   the pointer into the response with `body_json` in it) keeps a value for later events as `${NAME}`;
//! - a string: the invocation must fail with that error message (the authorizer's `"Unauthorized"`).
//!
//! Its top-level key `"after"` (not an event) lists the binaries whose events must replay first: those that
//! capture the values this binary's events use, or write what they read. The binaries replay in that
//! dependency order, ties by name ([`Plan`]); each directory's files in name order. A `${NAME}` in a
//! binary's events or expectations must be captured by that binary or by one it (transitively) comes after.
//! The top-level key `"bench"` (not an event either) names the events whose invocation the cold-start
//! benchmark times (infra/bench).
//!
//! `${NAME}` is replaced in the file's text before it is parsed, JSON-string escaped (values land inside
//! JSON strings). An event file is the event as Lambda receives it or, for an API Gateway REST (v1) proxy
//! event, a compact form that [`expand_compact`] turns into the full event.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::{Outcome, RuntimeApi};

/// The expectations file of each `events/<binary>/` directory.
pub const EXPECTED: &str = "expected.json";
/// expected.json's key for the binaries to replay first.
const AFTER: &str = "after";
const BENCH: &str = "bench";

/// Values captured so far, by name.
pub type Captured = BTreeMap<String, String>;

/// One binary's directory: its events in replay order and the binaries it replays after.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub binary: String,
    /// expected.json's `"after"`.
    pub after: Vec<String>,
    /// expected.json's `"bench"`: the events whose invocation times the binary's cold start (its main path),
    /// each one of this directory's files.
    pub bench: Vec<String>,
    /// In file name order.
    pub events: Vec<Fixture>,
}

/// One event file and its expectation, `${NAME}` placeholders not yet replaced.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub binary: String,
    pub file: String,
    pub text: String,
    /// The file's entry in expected.json.
    pub expected: Value,
}

impl Fixtures {
    /// `events_dir/<binary>/`: expected.json and every other `*.json` file, each of which needs an entry
    /// (and every entry a file).
    pub fn load(events_dir: &Path, binary: &str) -> anyhow::Result<Self> {
        let dir = events_dir.join(binary);
        let expected_path = dir.join(EXPECTED);
        let expected = std::fs::read_to_string(&expected_path)
            .with_context(|| format!("Failed to read {}", expected_path.display()))?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).with_context(|| format!("Failed to list {}", dir.display()))? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                bail!("{}: not a UTF-8 file name", path.display());
            };
            if name == EXPECTED || !name.ends_with(".json") || !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).with_context(|| format!("Failed to read {}", path.display()))?;
            files.push((name.to_string(), text));
        }
        Self::parse(binary, &expected, files)
    }

    /// A directory from expected.json's text and the event files' (name, text).
    fn parse(binary: &str, expected: &str, mut files: Vec<(String, String)>) -> anyhow::Result<Self> {
        let at = format!("events/{binary}/{EXPECTED}");
        let parsed: Value = serde_json::from_str(expected).with_context(|| format!("{at} is not JSON"))?;
        let Value::Object(mut entries) = parsed else { bail!("{at}: not a JSON object") };
        let after = match entries.remove(AFTER) {
            None => Vec::new(),
            Some(Value::Array(names)) => {
                let names = names.into_iter().map(|name| match name {
                    Value::String(name) => Ok(name),
                    other => bail!("{at}: \"{AFTER}\" lists binary names (strings), not {other}"),
                });
                names.collect::<anyhow::Result<Vec<_>>>()?
            }
            Some(other) => bail!("{at}: \"{AFTER}\" is a list of binary names, not {other}"),
        };
        let bench = match entries.remove(BENCH) {
            None => Vec::new(),
            Some(Value::Array(names)) => {
                let names = names.into_iter().map(|name| match name {
                    Value::String(name) => Ok(name),
                    other => bail!("{at}: \"{BENCH}\" lists event files (strings), not {other}"),
                });
                names.collect::<anyhow::Result<Vec<_>>>()?
            }
            Some(other) => bail!("{at}: \"{BENCH}\" is a list of event files, not {other}"),
        };
        files.sort();
        if let Some(missing) = bench.iter().find(|b| !files.iter().any(|(file, _)| file == *b)) {
            bail!("{at}: \"{BENCH}\" names {missing}, which is not a file of events/{binary}/");
        }
        let mut events = Vec::with_capacity(files.len());
        for (file, text) in files {
            let expected = entries.remove(&file).with_context(|| format!("{at} has no entry for {file}"))?;
            validate_expectation(&expected).with_context(|| format!("{at}: {file}"))?;
            events.push(Fixture { binary: binary.into(), file, text, expected });
        }
        if let Some(file) = entries.keys().next() {
            bail!("{at} has an entry for {file}, which is not a file of events/{binary}/");
        }
        Ok(Self { binary: binary.into(), after, bench, events })
    }

    /// The names this directory's expectations capture.
    pub fn captures(&self) -> BTreeSet<&str> {
        let captures = self.events.iter().filter_map(|e| e.expected.get("capture").and_then(Value::as_object));
        captures.flat_map(|c| c.keys().map(String::as_str)).collect()
    }

    /// Each `${NAME}` this directory's events and expectations use, with the first file using it.
    pub fn uses(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut uses = BTreeMap::new();
        for event in &self.events {
            for text in [event.text.as_str(), &event.expected.to_string()] {
                for piece in pieces(text).with_context(|| format!("events/{}", event.name()))? {
                    if let Piece::Name(name) = piece {
                        uses.entry(name.to_string()).or_insert_with(|| event.file.clone());
                    }
                }
            }
        }
        Ok(uses)
    }

    pub fn fixture(&self, file: &str) -> anyhow::Result<&Fixture> {
        match self.events.iter().find(|e| e.file == file) {
            Some(event) => Ok(event),
            None => bail!("events/{}/ has no event {file}", self.binary),
        }
    }
}

/// An expectation is a status number, an object (with an optional `capture` of pointers) or a message.
fn validate_expectation(expected: &Value) -> anyhow::Result<()> {
    match expected {
        Value::Number(status) if status.as_u64().is_some() => Ok(()),
        Value::String(_) => Ok(()),
        Value::Object(shape) => match shape.get("capture") {
            None => Ok(()),
            Some(Value::Object(pointers)) => {
                for (name, pointer) in pointers {
                    if !pointer.as_str().is_some_and(|p| p.starts_with('/')) {
                        bail!("capture {name}: a JSON pointer (\"/body_json/…\"), not {pointer}");
                    }
                    if !is_name(name) {
                        bail!("capture {name:?}: a name is letters, digits and _");
                    }
                }
                Ok(())
            }
            Some(other) => bail!("\"capture\" maps names to JSON pointers, not {other}"),
        },
        other => bail!("an expectation is a status number, an object or an error message, not {other}"),
    }
}

impl Fixture {
    /// `binary/file`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.binary, self.file)
    }

    /// The event to invoke with: placeholders replaced, a compact event expanded.
    pub fn event(&self, captured: &Captured) -> anyhow::Result<Value> {
        let at = || format!("events/{}", self.name());
        let text = substitute(&self.text, captured).with_context(at)?;
        let event: Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", at()))?;
        if event.get("compact").is_some() { expand_compact(&event).with_context(at) } else { Ok(event) }
    }

    /// The expectation, placeholders replaced.
    pub fn expectation(&self, captured: &Captured) -> anyhow::Result<Value> {
        let at = || format!("events/{}/{EXPECTED}: {}", self.binary, self.file);
        let text = substitute(&self.expected.to_string(), captured).with_context(at)?;
        serde_json::from_str(&text).with_context(at)
    }
}

/// Every binary's fixtures in replay order: each after the binaries its `"after"` lists, ties by name.
#[derive(Debug, Clone)]
pub struct Plan {
    groups: Vec<Fixtures>,
}

impl Plan {
    /// Every directory of `events_dir`, ordered and checked (see [`Plan::new`]).
    pub fn load(events_dir: &Path) -> anyhow::Result<Self> {
        let mut all = Vec::new();
        let listing =
            std::fs::read_dir(events_dir).with_context(|| format!("Failed to list {}", events_dir.display()))?;
        for entry in listing {
            let path = entry?.path();
            if !path.is_dir() {
                continue;
            }
            let Some(binary) = path.file_name().and_then(|n| n.to_str()) else {
                bail!("{}: not a UTF-8 directory name", path.display());
            };
            all.push(Fixtures::load(events_dir, binary)?);
        }
        Self::new(all)
    }

    /// Orders the directories topologically by `"after"` (ties by name). An unknown binary in `"after"`, a
    /// cycle, or a `${NAME}` captured neither by its binary nor by one it (transitively) comes after is an
    /// error.
    pub fn new(all: Vec<Fixtures>) -> anyhow::Result<Self> {
        let mut by_name: BTreeMap<String, Fixtures> = BTreeMap::new();
        for fixtures in all {
            let binary = fixtures.binary.clone();
            if by_name.insert(binary.clone(), fixtures).is_some() {
                bail!("events/{binary}/ is there twice");
            }
        }
        for fixtures in by_name.values() {
            for name in &fixtures.after {
                if !by_name.contains_key(name) {
                    bail!(
                        "events/{}/{EXPECTED}: \"{AFTER}\" names {name:?}, which has no directory in events/",
                        fixtures.binary
                    );
                }
            }
        }
        // Kahn's algorithm, taking the first ready binary by name each time.
        let mut waiting: BTreeMap<&str, BTreeSet<&str>> =
            by_name.values().map(|f| (f.binary.as_str(), f.after.iter().map(String::as_str).collect())).collect();
        let mut order: Vec<String> = Vec::with_capacity(waiting.len());
        while let Some(next) = waiting.iter().find(|(_, after)| after.is_empty()).map(|(name, _)| *name) {
            waiting.remove(next);
            for after in waiting.values_mut() {
                after.remove(next);
            }
            order.push(next.to_string());
        }
        if !waiting.is_empty() {
            bail!("a cycle in \"{AFTER}\" (events/<binary>/{EXPECTED}): {}", cycle(&waiting));
        }
        let mut groups = Vec::with_capacity(order.len());
        for name in order {
            if let Some(fixtures) = by_name.remove(&name) {
                groups.push(fixtures);
            }
        }
        let plan = Self { groups };
        plan.check_placeholders()?;
        Ok(plan)
    }

    /// In replay order.
    pub fn groups(&self) -> &[Fixtures] {
        &self.groups
    }

    pub fn get(&self, binary: &str) -> anyhow::Result<&Fixtures> {
        match self.groups.iter().find(|f| f.binary == binary) {
            Some(fixtures) => Ok(fixtures),
            None => bail!("events/ has no directory {binary}"),
        }
    }

    pub fn fixture(&self, binary: &str, file: &str) -> anyhow::Result<&Fixture> {
        self.get(binary)?.fixture(file)
    }

    /// `binaries` and every binary they (transitively) come after, in replay order.
    pub fn only(&self, binaries: &[&str]) -> anyhow::Result<Self> {
        let mut wanted = BTreeSet::new();
        let mut stack: Vec<&str> = binaries.to_vec();
        while let Some(binary) = stack.pop() {
            if wanted.insert(binary) {
                stack.extend(self.get(binary)?.after.iter().map(String::as_str));
            }
        }
        let groups = self.groups.iter().filter(|f| wanted.contains(f.binary.as_str())).cloned().collect();
        Ok(Self { groups })
    }

    /// The binaries `binary` comes after, directly or not.
    fn ancestors(&self, binary: &str) -> anyhow::Result<BTreeSet<&str>> {
        let mut found = BTreeSet::new();
        let mut stack: Vec<&str> = self.get(binary)?.after.iter().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            if found.insert(name) {
                stack.extend(self.get(name)?.after.iter().map(String::as_str));
            }
        }
        Ok(found)
    }

    /// Every `${NAME}` is captured by its binary or by one it comes after; all the missing ones in one error.
    fn check_placeholders(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for fixtures in &self.groups {
            let binary = fixtures.binary.as_str();
            let mut available = fixtures.captures();
            for ancestor in self.ancestors(binary)? {
                available.extend(self.get(ancestor)?.captures());
            }
            for (name, file) in fixtures.uses()? {
                if available.contains(name.as_str()) {
                    continue;
                }
                let capturers: Vec<&str> = self
                    .groups
                    .iter()
                    .filter(|f| f.captures().contains(name.as_str()))
                    .map(|f| f.binary.as_str())
                    .collect();
                problems.push(match capturers.as_slice() {
                    [] => format!("events/{binary}/{file} uses ${{{name}}}, which no event in events/ captures"),
                    _ => format!(
                        "events/{binary}/{file} uses ${{{name}}}, captured by {}, which {binary} does not replay \
                         after: add {} to \"{AFTER}\" in events/{binary}/{EXPECTED}",
                        capturers.iter().map(|c| format!("events/{c}/")).collect::<Vec<_>>().join(" and "),
                        capturers.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(" or "),
                    ),
                });
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("\n"));
        }
        Ok(())
    }
}

/// A cycle among `waiting` (each of which still waits for another of them), as `a → b → a`.
fn cycle(waiting: &BTreeMap<&str, BTreeSet<&str>>) -> String {
    let mut path: Vec<&str> = Vec::new();
    let mut current = waiting.keys().next().copied();
    while let Some(name) = current {
        if let Some(start) = path.iter().position(|p| *p == name) {
            let mut shown: Vec<&str> = path[start..].to_vec();
            shown.push(name);
            return format!("{} (each replays after the next)", shown.join(" → "));
        }
        path.push(name);
        current = waiting.get(name).and_then(|after| after.iter().next().copied());
    }
    format!("among {}", waiting.keys().copied().collect::<Vec<_>>().join(", "))
}

/// Replays `fixtures` through the function behind `api` (already started): each event, its answer checked
/// against its expectation, captures kept in `captured`. Stops at the first failure; returns how many events
/// were replayed.
pub async fn replay(
    api: &RuntimeApi,
    fixtures: &Fixtures,
    captured: &mut Captured,
    timeout: Duration,
) -> anyhow::Result<usize> {
    for fixture in &fixtures.events {
        let event = fixture.event(captured)?;
        let want = fixture.expectation(captured)?;
        let at = format!("events/{}", fixture.name());
        let outcome = api.invoke(event, timeout).await.with_context(|| format!("{at}: invoking"))?;
        check(outcome, &want, captured).with_context(|| at)?;
    }
    Ok(fixtures.events.len())
}

/// Checks one answer against its expectation (placeholders already replaced) and applies its `capture`.
pub fn check(outcome: Outcome, want: &Value, captured: &mut Captured) -> anyhow::Result<()> {
    match (outcome, want) {
        (Outcome::Response(response), Value::Number(status)) => {
            let got = response.get("statusCode").and_then(Value::as_u64);
            if got != status.as_u64() {
                bail!("status {}, expected {status}: {response}", got.map_or("none".into(), |s| s.to_string()));
            }
            if status.as_u64().is_some_and(|s| s >= 400) {
                let body = body_json(&response);
                if !(body["code"].is_string() && body["request_id"].is_string()) {
                    bail!("status {status} without the error shape {{code, request_id}}: {body}");
                }
            }
        }
        (Outcome::Response(mut response), Value::Object(shape)) => {
            let body = body_json(&response);
            if let Value::Object(fields) = &mut response {
                fields.insert("body_json".into(), body);
            }
            for (key, value) in shape.iter().filter(|(key, _)| *key != "capture") {
                if let Err(mismatch) = subset(&response[key], value, &format!("/{key}")) {
                    bail!("{mismatch}\n  in the response {response}");
                }
            }
            for (name, pointer) in shape.get("capture").and_then(Value::as_object).into_iter().flatten() {
                let pointer = pointer.as_str().unwrap_or_default();
                let Some(value) = response.pointer(pointer) else {
                    bail!("nothing at {pointer} to capture as {name} in {response}");
                };
                let value = value.as_str().map(String::from).unwrap_or_else(|| value.to_string());
                captured.insert(name.clone(), value);
            }
        }
        (Outcome::Error(error), Value::String(message)) => {
            if error["errorMessage"].as_str() != Some(message.as_str()) {
                bail!("failed with {error}, expected the error message {message:?}");
            }
        }
        (outcome, want) => bail!("got {outcome:?}, expected {want}"),
    }
    Ok(())
}

/// The response's body decoded as JSON, or null.
pub fn body_json(response: &Value) -> Value {
    response.get("body").and_then(Value::as_str).and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null)
}

/// `want` is part of `got`: objects key by key (extra keys in `got` are fine), arrays element by element
/// (same length), anything else equal. `at` is the JSON pointer of `got`, for the error.
fn subset(got: &Value, want: &Value, at: &str) -> anyhow::Result<()> {
    match (want, got) {
        (Value::Object(fields), Value::Object(_)) => {
            for (key, value) in fields {
                subset(&got[key], value, &format!("{at}/{key}"))?;
            }
            Ok(())
        }
        (Value::Object(_), _) => bail!("{at}: got {got}, expected an object"),
        (Value::Array(items), Value::Array(got_items)) if items.len() == got_items.len() => {
            for (index, (got, want)) in got_items.iter().zip(items).enumerate() {
                subset(got, want, &format!("{at}/{index}"))?;
            }
            Ok(())
        }
        _ if got == want => Ok(()),
        _ => bail!("{at}: got {got}, expected {want}"),
    }
}

enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` split into literal text and `${NAME}` placeholders.
fn pieces(text: &str) -> anyhow::Result<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}').map(|e| start + e) else {
            bail!("unclosed ${{ in {:?}", &rest[start..rest.len().min(start + 40)]);
        };
        let name = &rest[start + 2..end];
        if !is_name(name) {
            bail!("${{{name}}}: a placeholder name is letters, digits and _");
        }
        pieces.push(Piece::Text(&rest[..start]));
        pieces.push(Piece::Name(name));
        rest = &rest[end + 1..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// Replaces every `${NAME}` with its captured value, JSON-string escaped (values land inside JSON strings);
/// an unknown name is an error.
pub fn substitute(text: &str, captured: &Captured) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Name(name) => {
                let Some(value) = captured.get(name) else {
                    bail!(
                        "${{{name}}} was not captured by an earlier event (captured: {})",
                        captured.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                    );
                };
                let quoted = serde_json::to_string(value)?;
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
        }
    }
    Ok(out)
}

/// The compact form's keys.
const COMPACT_KEYS: [&str; 8] = ["compact", "method", "path", "query", "headers", "body", "authorizer", "request_id"];

/// The headers of a request from curl through API Gateway; a compact event's `headers` override them (names
/// compared case-insensitively).
const DEFAULT_HEADERS: [(&str, &str); 7] = [
    ("Accept", "application/json"),
    ("Host", "abc123.execute-api.us-east-1.amazonaws.com"),
    ("User-Agent", "curl/8.5.0"),
    ("X-Forwarded-For", "203.0.113.7"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Proto", "https"),
    ("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"),
];

const DEFAULT_REQUEST_ID: &str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef";

/// Expands a compact API Gateway REST (v1) proxy event into the event API Gateway sends (stage `dev` of API
/// `abc123`, resource = path, no path parameters or stage variables). The compact form is an object with
/// `"compact": true` and
/// - `method`, `path` (required);
/// - `query`: an object of string values (`queryStringParameters`, and each as a one-element list in
///   `multiValueQueryStringParameters`);
/// - `headers`: an object of string values, over [`DEFAULT_HEADERS`] (each also in `multiValueHeaders`);
/// - `body`: any JSON, sent serialised as the body string (absent or null: no body);
/// - `authorizer`: the object API Gateway puts in `requestContext.authorizer` (absent: none);
/// - `request_id`: `requestContext.requestId`.
pub fn expand_compact(compact: &Value) -> anyhow::Result<Value> {
    let Value::Object(fields) = compact else { bail!("a compact event is a JSON object") };
    if let Some(key) = fields.keys().find(|key| !COMPACT_KEYS.contains(&key.as_str())) {
        bail!("compact event: unknown key {key:?} (known: {})", COMPACT_KEYS.join(", "));
    }
    if fields.get("compact") != Some(&Value::Bool(true)) {
        bail!("compact event: \"compact\" must be true");
    }
    let text = |key: &str| match fields.get(key) {
        Some(Value::String(value)) if !value.is_empty() => Ok(Some(value.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(other) => bail!("compact event: {key:?} is a non-empty string, not {other}"),
    };
    let method = text("method")?.context("compact event: \"method\" is required")?.to_ascii_uppercase();
    let path = text("path")?.context("compact event: \"path\" is required")?;
    if !path.starts_with('/') {
        bail!("compact event: \"path\" starts with /, not {path:?}");
    }
    let request_id = text("request_id")?.unwrap_or_else(|| DEFAULT_REQUEST_ID.into());

    let query = strings(fields.get("query"), "query")?;
    let (query, multi_query) = if query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(query.clone()), Value::Object(as_lists(&query)))
    };

    let mut headers: Map<String, Value> =
        DEFAULT_HEADERS.iter().map(|(name, value)| (name.to_string(), Value::from(*value))).collect();
    for (name, value) in strings(fields.get("headers"), "headers")? {
        headers.retain(|default, _| !default.eq_ignore_ascii_case(&name));
        headers.insert(name, value);
    }
    let header = |wanted: &str| {
        let found = headers.iter().find(|(name, _)| name.eq_ignore_ascii_case(wanted));
        found.and_then(|(_, value)| value.as_str()).map(String::from)
    };
    let user_agent = header("User-Agent");
    let source_ip = header("X-Forwarded-For").map(|ips| ips.split(',').next().unwrap_or_default().trim().to_string());
    let host = header("Host");

    let body = match fields.get("body") {
        None | Some(Value::Null) => Value::Null,
        Some(body) => Value::String(serde_json::to_string(body)?),
    };

    let mut request_context = json!({
        "accountId": "123456789012",
        "resourceId": "abc123",
        "stage": "dev",
        "requestId": request_id,
        "requestTimeEpoch": 1732435200000_u64,
        "requestTime": "24/Nov/2024:08:00:00 +0000",
        "identity": {
            "sourceIp": source_ip,
            "userAgent": user_agent,
            "accessKey": null,
            "accountId": null,
            "caller": null,
            "user": null,
            "userArn": null,
            "cognitoIdentityId": null,
            "cognitoIdentityPoolId": null
        },
        "resourcePath": path,
        "httpMethod": method,
        "path": format!("/dev{path}"),
        "apiId": "abc123",
        "protocol": "HTTP/1.1",
        "domainName": host,
        "extendedRequestId": "BQGojGkMoAMFZ-Q="
    });
    match fields.get("authorizer") {
        None => {}
        Some(Value::Object(authorizer)) => {
            if let Value::Object(context) = &mut request_context {
                context.insert("authorizer".into(), Value::Object(authorizer.clone()));
            }
        }
        Some(other) => bail!("compact event: \"authorizer\" is an object, not {other}"),
    }
    Ok(json!({
        "resource": path,
        "path": path,
        "httpMethod": method,
        "multiValueHeaders": as_lists(&headers),
        "headers": headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": false
    }))
}

/// An optional object of string values.
fn strings(value: Option<&Value>, key: &str) -> anyhow::Result<Map<String, Value>> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(fields)) => {
            if let Some((name, value)) = fields.iter().find(|(_, value)| !value.is_string()) {
                bail!("compact event: {key}.{name} is a string, not {value}");
            }
            Ok(fields.clone())
        }
        Some(other) => bail!("compact event: {key:?} is an object of strings, not {other}"),
    }
}

/// Each value as a one-element list (API Gateway's `multiValue…` fields).
fn as_lists(fields: &Map<String, Value>) -> Map<String, Value> {
    fields.iter().map(|(name, value)| (name.clone(), Value::Array(vec![value.clone()]))).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn fixtures(binary: &str, expected: Value, files: &[(&str, &str)]) -> Fixtures {
        let files = files.iter().map(|(name, text)| (name.to_string(), text.to_string())).collect();
        Fixtures::parse(binary, &expected.to_string(), files).unwrap()
    }

    fn binaries(plan: &Plan) -> Vec<&str> {
        plan.groups().iter().map(|f| f.binary.as_str()).collect()
    }

    /// The verbose events/health/get-health.json, before it was written compactly.
    const VERBOSE_GET_HEALTH: &str = r#"{
      "resource": "/health", "path": "/health", "httpMethod": "GET",
      "headers": {
        "Accept": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "curl/8.5.0", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https", "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793"
      },
      "multiValueHeaders": {
        "Accept": ["application/json"], "Host": ["abc123.execute-api.us-east-1.amazonaws.com"],
        "User-Agent": ["curl/8.5.0"], "X-Forwarded-For": ["203.0.113.7"], "X-Forwarded-Port": ["443"],
        "X-Forwarded-Proto": ["https"], "X-Amzn-Trace-Id": ["Root=1-5759e988-bd862e3fe1be46a994272793"]
      },
      "queryStringParameters": null, "multiValueQueryStringParameters": null, "pathParameters": null,
      "stageVariables": null,
      "requestContext": {
        "accountId": "123456789012", "resourceId": "abc123", "stage": "dev",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "requestTimeEpoch": 1732435200000,
        "requestTime": "24/Nov/2024:08:00:00 +0000",
        "identity": {
          "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0", "accessKey": null, "accountId": null,
          "caller": null, "user": null, "userArn": null, "cognitoIdentityId": null, "cognitoIdentityPoolId": null
        },
        "resourcePath": "/health", "httpMethod": "GET", "path": "/dev/health", "apiId": "abc123",
        "protocol": "HTTP/1.1", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        "extendedRequestId": "BQGojGkMoAMFZ-Q="
      },
      "body": null, "isBase64Encoded": false
    }"#;

    #[test]
    fn a_compact_event_expands_to_the_verbose_event_it_stands_for() {
        let compact = json!({"compact": true, "method": "GET", "path": "/health"});
        let verbose: Value = serde_json::from_str(VERBOSE_GET_HEALTH).unwrap();
        assert_eq!(expand_compact(&compact).unwrap(), verbose);
    }

    #[test]
    fn a_compact_event_carries_its_query_headers_body_authorizer_and_request_id() {
        let compact = json!({
            "compact": true,
            "method": "post",
            "path": "/api/v1/things",
            "query": {"limit": "5"},
            "headers": {"content-type": "application/json", "x-forwarded-for": "198.51.100.1, 10.0.0.1"},
            "body": {"name": "a \"thing\"", "n": 1},
            "authorizer": {"user_id": "u1", "roles": "member"},
            "request_id": "r-1"
        });
        let event = expand_compact(&compact).unwrap();
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["resource"], "/api/v1/things");
        assert_eq!(event["queryStringParameters"], json!({"limit": "5"}));
        assert_eq!(event["multiValueQueryStringParameters"], json!({"limit": ["5"]}));
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["multiValueHeaders"]["content-type"], json!(["application/json"]));
        // A header given in any case replaces the default of that name.
        assert!(event["headers"].get("X-Forwarded-For").is_none());
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "198.51.100.1");
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({"name": "a \"thing\"", "n": 1}));
        assert_eq!(event["requestContext"]["authorizer"], json!({"user_id": "u1", "roles": "member"}));
        assert_eq!(event["requestContext"]["requestId"], "r-1");
        assert_eq!(event["requestContext"]["path"], "/dev/api/v1/things");
        // It is an API Gateway REST proxy event, as lambda_http reads one.
        let request: aws_lambda_events::apigw::ApiGatewayProxyRequest = serde_json::from_value(event).unwrap();
        assert_eq!(request.request_context.authorizer.fields["user_id"], "u1");
        assert_eq!(request.headers["content-type"], "application/json");
    }

    #[test]
    fn a_compact_event_with_an_unknown_key_or_a_non_string_query_is_refused() {
        let typo = json!({"compact": true, "method": "GET", "path": "/x", "header": {}});
        assert!(format!("{:#}", expand_compact(&typo).unwrap_err()).contains("unknown key \"header\""));
        let number = json!({"compact": true, "method": "GET", "path": "/x", "query": {"limit": 5}});
        assert!(format!("{:#}", expand_compact(&number).unwrap_err()).contains("query.limit"));
        let no_path = json!({"compact": true, "method": "GET"});
        assert!(expand_compact(&no_path).is_err());
    }

    #[test]
    fn a_fixture_file_in_the_compact_form_is_expanded_after_its_placeholders_are_replaced() {
        let dir = fixtures(
            "users",
            json!({"me.json": 200}),
            &[("me.json", r#"{"compact": true, "method": "GET", "path": "/me", "authorizer": {"user_id": "${ID}"}}"#)],
        );
        let captured = Captured::from([("ID".to_string(), "u\"1".to_string())]);
        let event = dir.events[0].event(&captured).unwrap();
        assert_eq!(event["requestContext"]["authorizer"]["user_id"], "u\"1");
        assert_eq!(event["multiValueHeaders"]["Accept"], json!(["application/json"]));
    }

    #[test]
    fn captured_values_replace_their_placeholders_as_json_string_content() {
        let captured = Captured::from([("TOKEN".to_string(), "a\"b".to_string())]);
        assert_eq!(substitute(r#"{"h": "Bearer ${TOKEN}"}"#, &captured).unwrap(), r#"{"h": "Bearer a\"b"}"#);
        let unknown = substitute(r#"{"h": "${NOPE}"}"#, &captured).unwrap_err().to_string();
        assert!(unknown.contains("${NOPE} was not captured"), "{unknown}");
        assert!(substitute(r#"{"h": "${TOKEN"}"#, &captured).is_err());
    }

    #[test]
    fn binaries_replay_after_what_they_list_ties_by_name() {
        let plan = Plan::new(vec![
            fixtures("admin", json!({"after": ["auth"]}), &[]),
            fixtures("auth", json!({}), &[]),
            fixtures("zeta", json!({}), &[]),
            fixtures("beta", json!({"after": ["zeta", "admin"]}), &[]),
        ])
        .unwrap();
        assert_eq!(binaries(&plan), ["auth", "admin", "zeta", "beta"]);
        assert_eq!(binaries(&plan.only(&["admin"]).unwrap()), ["auth", "admin"]);
        assert_eq!(binaries(&plan.only(&["beta"]).unwrap()), ["auth", "admin", "zeta", "beta"]);
    }

    #[test]
    fn a_cycle_or_an_unknown_binary_in_after_is_an_error() {
        let cycle = Plan::new(vec![
            fixtures("a", json!({"after": ["b"]}), &[]),
            fixtures("b", json!({"after": ["c"]}), &[]),
            fixtures("c", json!({"after": ["a"]}), &[]),
            fixtures("d", json!({}), &[]),
        ]);
        let message = cycle.unwrap_err().to_string();
        assert!(message.contains("a → b → c → a"), "{message}");
        let unknown = Plan::new(vec![fixtures("a", json!({"after": ["nope"]}), &[])]);
        assert!(unknown.unwrap_err().to_string().contains("\"nope\", which has no directory"));
        let itself = Plan::new(vec![fixtures("a", json!({"after": ["a"]}), &[])]);
        assert!(itself.unwrap_err().to_string().contains("a → a"));
    }

    #[test]
    fn a_placeholder_captured_by_a_binary_it_does_not_come_after_names_the_missing_dependency() {
        let auth = || {
            fixtures(
                "auth",
                json!({"login.json": {"statusCode": 200, "capture": {"TOKEN": "/body_json/t"}}}),
                &[("login.json", "{}")],
            )
        };
        let admin = |expected: Value| fixtures("admin", expected, &[("list.json", r#"{"h": "Bearer ${TOKEN}"}"#)]);

        let missing = Plan::new(vec![auth(), admin(json!({"list.json": 200}))]).unwrap_err().to_string();
        assert!(missing.contains("events/admin/list.json uses ${TOKEN}, captured by events/auth/"), "{missing}");
        assert!(missing.contains("add \"auth\" to \"after\" in events/admin/expected.json"), "{missing}");

        let uncaptured = Plan::new(vec![admin(json!({"list.json": 200}))]).unwrap_err().to_string();
        assert!(uncaptured.contains("which no event in events/ captures"), "{uncaptured}");

        let declared = Plan::new(vec![auth(), admin(json!({"after": ["auth"], "list.json": 200}))]).unwrap();
        assert_eq!(binaries(&declared), ["auth", "admin"]);
        // Transitively: through a binary in between.
        let middle = fixtures("middle", json!({"after": ["auth"]}), &[]);
        let through = Plan::new(vec![auth(), middle, admin(json!({"after": ["middle"], "list.json": 200}))]);
        assert_eq!(binaries(&through.unwrap()), ["auth", "middle", "admin"]);
    }

    #[test]
    fn every_file_needs_an_entry_and_every_entry_a_file() {
        let files = vec![("a.json".to_string(), "{}".to_string())];
        let missing = Fixtures::parse("x", "{}", files).unwrap_err().to_string();
        assert!(missing.contains("no entry for a.json"), "{missing}");
        let extra = Fixtures::parse("x", r#"{"b.json": 200}"#, Vec::new()).unwrap_err().to_string();
        assert!(extra.contains("b.json, which is not a file"), "{extra}");
        let bad = Fixtures::parse("x", r#"{"after": "auth"}"#, Vec::new()).unwrap_err().to_string();
        assert!(bad.contains("\"after\" is a list"), "{bad}");
    }

    #[test]
    fn answers_are_checked_against_each_kind_of_expectation() {
        let mut captured = Captured::new();
        let ok = json!({"statusCode": 200, "body": r#"{"id": "u1", "items": [{"a": 1, "b": 2}]}"#});
        let shape = json!({"statusCode": 200, "body_json": {"items": [{"a": 1}]}, "capture": {"ID": "/body_json/id"}});
        check(Outcome::Response(ok.clone()), &shape, &mut captured).unwrap();
        assert_eq!(captured["ID"], "u1");
        let wrong = json!({"body_json": {"items": [{"a": 2}]}});
        let message = format!("{:#}", check(Outcome::Response(ok.clone()), &wrong, &mut captured).unwrap_err());
        assert!(message.contains("/body_json/items/0/a: got 1, expected 2"), "{message}");
        let longer = json!({"body_json": {"items": []}});
        assert!(check(Outcome::Response(ok.clone()), &longer, &mut captured).is_err());
        let not_an_object = json!({"body_json": {"missing": {}}});
        assert!(check(Outcome::Response(ok), &not_an_object, &mut captured).is_err());

        let error = json!({"statusCode": 404, "body": r#"{"code": "not_found", "request_id": "r"}"#});
        check(Outcome::Response(error), &json!(404), &mut captured).unwrap();
        let bare = json!({"statusCode": 404, "body": "nope"});
        assert!(check(Outcome::Response(bare), &json!(404), &mut captured).is_err());
        assert!(check(Outcome::Response(json!({"statusCode": 200})), &json!(201), &mut captured).is_err());

        let refused = json!({"errorType": "&str", "errorMessage": "Unauthorized"});
        check(Outcome::Error(refused.clone()), &json!("Unauthorized"), &mut captured).unwrap();
        assert!(check(Outcome::Error(refused), &json!(200), &mut captured).is_err());
        // A response that is not an object is an error, not a panic.
        assert!(check(Outcome::Response(json!("text")), &json!({"statusCode": 200}), &mut captured).is_err());
    }
}
