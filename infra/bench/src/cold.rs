//! Cold start of every function: exec its release binary against a loopback Lambda Runtime API and time
//! exec → first `invocation/next` (Lambda's Init Duration), the first invoke and warm invokes, and peak RSS;
//! the same for a bare lambda_runtime hello built with the same profile, as the floor.
//!
//! The functions run as on Lambda: AWS adapters (against moto), no provisioning at init, the in-process
//! cache (template.yaml's default `CacheMode`), Airtable at an emulator. A seeding pass first replays
//! `events/auth/` through the auth binary with `lambda_sim::replay` (provisioning the tables and the queue,
//! and capturing the tokens and ids the other functions' events refer to as `${NAME}`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lambda_sim::replay::{self, Captured, Plan};
use lambda_sim::{Function, Outcome, RuntimeApi};
use serde_json::Value;

use crate::report::{Budget, binaries_dir, median, ms, repo_root, verdict};

const TRIALS: usize = 15;
const WARM_INVOKES: usize = 10;
/// Budget: every function's init ≤ 1.5× the bare hello's.
const INIT_RATIO_BUDGET: f64 = 1.5;
/// The HMAC key the functions share in the bench (auth signs, the authorizer verifies).
const JWT_SIGNING_KEY: &str = "bench-signing-key-0123456789abcdef0123456789abcdef";

/// Each function binary and the events its invokes replay: its main path, touching storage where it does —
/// the `"bench"` entries of every `events/<binary>/expected.json` (a test requires one per declared binary).
pub fn functions(plan: &Plan) -> Vec<(String, String)> {
    plan.groups().iter().flat_map(|f| f.bench.iter().map(|event| (f.binary.clone(), event.clone()))).collect()
}

pub struct Figures {
    pub init: Duration,
    pub init_min: Duration,
    pub init_max: Duration,
    pub first: Duration,
    pub warm: Duration,
    pub rss_kib: u64,
    pub answer: String,
}

pub async fn run(budgets: &mut Vec<Budget>) -> anyhow::Result<String> {
    let dir = binaries_dir()?;
    let emulator = airtable_emulator::spawn(
        airtable_emulator::Emulator::demo(airtable_emulator::DEV_TOKEN.into()),
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    // Each cold start is a new instance with its own in-process limiter: a few per second would exceed the
    // emulator's 5 requests/s per base (Airtable's), which is the economics section's subject, not this one's.
    let unlimited = serde_json::json!({"base_rps": 0.0, "token_rps": 0.0});
    reqwest::Client::new().patch(format!("{}/_emulator/config", emulator.url())).json(&unlimited).send().await?;
    let mut env = function_env(&emulator.url())?;
    let plan = Plan::load(&repo_root().join("events"))?;
    let captured = seed(&dir, &plan, &mut env).await?;
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // The same starts with one CA bundle as the trust store, close to Lambda's AL2023 image, whose certificate
    // directory holds bundles; this Debian's /etc/ssl/certs also holds a file per certificate, which
    // rustls-native-certs reads as well.
    let empty = crate::report::work_dir()?.join("empty-cert-dir");
    std::fs::create_dir_all(&empty)?;
    let empty = empty.to_string_lossy().to_string();
    let bundle: Vec<(&str, &str)> = match crate::init_steps::bundle_file() {
        Some(file) => vec![("SSL_CERT_FILE", file), ("SSL_CERT_DIR", empty.as_str())],
        None => Vec::new(),
    };
    let env_bundle: Vec<(&str, &str)> = env_refs.iter().chain(&bundle).copied().collect();

    let hello_binary = dir.join("bench-hello-lambda");
    let echo = serde_json::json!({"hello": "world"});
    let hello = measure(&hello_binary, "hello", &echo, &env_refs, WARM_INVOKES).await?;
    let hello_bundle = measure(&hello_binary, "hello", &echo, &env_bundle, 0).await?;
    let mut out = String::from("## Cold start (x86_64 release binaries, loopback Runtime API)\n\n");
    out.push_str(&format!(
        "Each row: {TRIALS} cold starts (a fresh process each); init = exec → first `invocation/next` (Lambda's Init \
         Duration), median and range; the same with one CA bundle as the trust store (`SSL_CERT_FILE`, empty \
         `SSL_CERT_DIR`: close to Lambda's AL2023 image, whose certificate directory holds bundles, not a file per \
         certificate as this Debian's does; see 'Where the init goes'); first invoke = the first \
         event's round trip; warm = median of {WARM_INVOKES} invokes after it, per start, median over starts; peak RSS \
         = VmHWM, highest over starts. Storage: DynamoDB and SQS in moto on loopback (a Python server: invokes that \
         touch storage mostly time moto), the in-process cache (template.yaml's default), Airtable at the emulator \
         with its rate limit off. auth's login verifies a bcrypt hash of cost 12 (the production cost) by design.\n\n"
    ));
    out.push_str(
        "| function | event (answer) | init ms | init range | ×hello | init ms, one CA bundle | ×hello | first invoke ms | warm invoke ms | peak RSS MiB | init ≤ 1.5× hello |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    out.push_str(&row("bare lambda_runtime hello", "echo", &hello, 1.0, &hello_bundle, 1.0, "—"));
    let mut worst: Option<(&str, f64, Duration)> = None;
    let mut worst_bundle = 0.0_f64;
    let mut missed = Vec::new();
    let timed = functions(&plan);
    for (name, event_file) in &timed {
        let (name, event_file) = (name.as_str(), event_file.as_str());
        let event = plan.fixture(name, event_file)?.event(&captured)?;
        let figures = measure(&dir.join(name), name, &event, &env_refs, WARM_INVOKES).await?;
        let with_bundle = measure(&dir.join(name), name, &event, &env_bundle, 0).await?;
        let ratio = figures.init.as_secs_f64() / hello.init.as_secs_f64().max(1e-9);
        let ratio_bundle = with_bundle.init.as_secs_f64() / hello_bundle.init.as_secs_f64().max(1e-9);
        let met = ratio <= INIT_RATIO_BUDGET;
        out.push_str(&row(name, event_file, &figures, ratio, &with_bundle, ratio_bundle, verdict(met)));
        if !met && !missed.contains(&name) {
            missed.push(name);
        }
        if worst.is_none_or(|(_, r, _)| ratio > r) {
            worst = Some((name, ratio, figures.init));
        }
        worst_bundle = worst_bundle.max(ratio_bundle);
    }
    out.push('\n');
    let steps = crate::init_steps::run(&dir, &env_refs, &bundle).await?;
    out.push_str(&steps.section);
    let (worst_name, worst_ratio, worst_init) = worst.unwrap_or(("none", 0.0, Duration::ZERO));
    let (trust, trust_bundle) = steps.get("the system trust store");
    let (config, config_bundle) = steps.get("aws_config::load");
    let (dynamodb, _) = steps.get("DynamoDB client");
    let why = format!(
        "{} over 1.5× (worst {worst_ratio:.2}×; {worst_bundle:.2}× with one CA bundle, close to Lambda's AL2023). The \
         hello's init is {} ms (exec, a tokio runtime, one HTTP request): 1.5× allows {} ms more. Measured (see \
         'Where the init goes'): reading the system trust store takes {} ms here ({} ms from one bundle); the AWS \
         SDK does it inside `aws_config::load` ({} ms; {} ms with one bundle), because it builds an HTTPS \
         connector when a client is created, on purpose; each SDK client then adds about {} ms. reqwest's client \
         (airtable) reads the same store. Deferring those clients to the first request would move this time into \
         the first invoke, not remove it.",
        missed.join(", "),
        ms(hello.init),
        ms(hello.init / 2),
        ms(trust),
        ms(trust_bundle),
        ms(config),
        ms(config_bundle),
        ms(dynamodb),
    );
    budgets.push(Budget::new(
        "every function's init ≤ 1.5× the bare hello's",
        format!("hello {} ms; worst {worst_name} {} ms ({worst_ratio:.2}×)", ms(hello.init), ms(worst_init)),
        missed.is_empty(),
        why,
    ));
    Ok(out)
}

fn row(name: &str, event: &str, f: &Figures, ratio: f64, bundle: &Figures, ratio_bundle: f64, budget: &str) -> String {
    format!(
        "| {name} | {event} ({}) | {} | {}–{} | {ratio:.2} | {} | {ratio_bundle:.2} | {} | {} | {:.1} | {budget} |\n",
        f.answer,
        ms(f.init),
        ms(f.init_min),
        ms(f.init_max),
        ms(bundle.init),
        ms(f.first),
        ms(f.warm),
        f.rss_kib as f64 / 1024.0
    )
}

/// What every function gets besides lambda-sim's Lambda variables: AWS adapters against moto, one signing
/// key, Airtable at the emulator; plus `BENCH_FN_*` from the bench's own environment, prefix removed.
fn function_env(airtable_url: &str) -> anyhow::Result<Vec<(String, String)>> {
    let moto = std::env::var("MOTO_ENDPOINT_URL")
        .context("MOTO_ENDPOINT_URL is not set: start moto first (eval \"$(infra/scripts/services.sh start)\")")?;
    let mut env: Vec<(String, String)> = vec![
        ("STORAGE".into(), "aws".into()),
        ("AWS_ENDPOINT_URL".into(), moto),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("TABLE_PREFIX".into(), format!("bench{}-", std::process::id())),
        ("JWT_SIGNING_KEY".into(), JWT_SIGNING_KEY.into()),
        ("AIRTABLE_ENDPOINT_URL".into(), airtable_url.into()),
        ("AIRTABLE_API_KEY".into(), airtable_emulator::DEV_TOKEN.into()),
        // health as template.yaml configures it.
        ("READY_TABLES".into(), "auth,audit".into()),
        ("READY_QUEUES".into(), "events".into()),
        // The shell may hold the tests' settings; the functions get the template's defaults instead.
        ("CACHE_URL".into(), String::new()),
        ("STORAGE_PROVISION".into(), String::new()),
    ];
    env.extend(
        std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("BENCH_FN_").map(|k| (k.to_string(), v.clone())))
            .collect::<Vec<_>>(),
    );
    Ok(env)
}

/// Provisions what the functions use (as a deployment would, before any cold start): starts `audit-api` with
/// `STORAGE_PROVISION=true` (its tables), then replays `events/auth/` (and whatever it replays after) through
/// the auth binary likewise, checking every answer and keeping the values the events capture; then points
/// the functions at the provisioned queue.
async fn seed(dir: &Path, plan: &Plan, env: &mut Vec<(String, String)>) -> anyhow::Result<Captured> {
    let mut provisioning = env.clone();
    provisioning.push(("STORAGE_PROVISION".into(), "true".into()));
    let refs: Vec<(&str, &str)> = provisioning.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    {
        let api = RuntimeApi::start().await?;
        let mut process = Function::spawn(&dir.join("audit-api"), &api, "audit-api", &refs)?;
        ready(&mut process, &api, "audit-api", Duration::from_secs(60)).await?;
    }
    let mut captured = Captured::new();
    for fixtures in plan.only(&["auth"])?.groups() {
        let function = fixtures.binary.as_str();
        let api = RuntimeApi::start().await?;
        let mut process = Function::spawn(&dir.join(function), &api, function, &refs)?;
        ready(&mut process, &api, function, Duration::from_secs(60)).await?;
        replay::replay(&api, fixtures, &mut captured, Duration::from_secs(60))
            .await
            .with_context(|| format!("seeding: replaying events/{function}/"))?;
    }
    let prefix = env.iter().find(|(k, _)| k == "TABLE_PREFIX").map(|(_, v)| v.clone()).unwrap_or_default();
    let moto = env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL").map(|(_, v)| v.clone()).unwrap_or_default();
    env.push(("QUEUE_URL_EVENTS".into(), queue_url(&moto, &format!("{prefix}events")).await?));
    for name in ["USER_ID", "TENANT_ID", "API_KEY", "ACCESS_TOKEN"] {
        if !captured.contains_key(name) {
            bail!("seeding did not capture {name}: did events/auth/ change? captured: {:?}", captured.keys());
        }
    }
    Ok(captured)
}

/// The queue's URL, asked of moto's SQS (query protocol; moto does not check signatures).
async fn queue_url(moto: &str, name: &str) -> anyhow::Result<String> {
    let body = reqwest::Client::new()
        .post(format!("{moto}/"))
        // moto routes a request to a service by its SigV4 credential scope (and checks no signature).
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("Action=GetQueueUrl&QueueName={name}&Version=2012-11-05"))
        .send()
        .await?
        .text()
        .await?;
    let url = body.split("<QueueUrl>").nth(1).and_then(|rest| rest.split("</QueueUrl>").next());
    url.map(String::from).ok_or_else(|| anyhow::anyhow!("no QueueUrl for {name} in moto's answer: {body}"))
}

/// A short description of an answer: the HTTP status, or `error`/`ok` for other functions.
fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Response(r) => match r.get("statusCode").and_then(Value::as_u64) {
            Some(status) => status.to_string(),
            None if r.get("policyDocument").is_some() => "allow".into(),
            None => "ok".into(),
        },
        Outcome::Error(e) => format!("error: {}", e["errorMessage"].as_str().unwrap_or("?")),
    }
}

pub async fn measure(
    binary: &Path,
    name: &str,
    event: &Value,
    env: &[(&str, &str)],
    warm_invokes: usize,
) -> anyhow::Result<Figures> {
    let (mut inits, mut firsts, mut warms, mut rss) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut answer = String::new();
    for _ in 0..TRIALS {
        let api = RuntimeApi::start().await?;
        let mut function = Function::spawn(binary, &api, name, env)?;
        inits.push(ready(&mut function, &api, name, Duration::from_secs(30)).await?);
        let started = Instant::now();
        answer = describe(&api.invoke(event.clone(), Duration::from_secs(30)).await?);
        firsts.push(started.elapsed());
        let mut warm = Vec::with_capacity(warm_invokes);
        for _ in 0..warm_invokes {
            let started = Instant::now();
            api.invoke(event.clone(), Duration::from_secs(30)).await?;
            warm.push(started.elapsed());
        }
        warms.push(median(warm));
        if let Some(pid) = function.child.id() {
            rss = rss.max(peak_rss_kib(pid).unwrap_or_default());
        }
        drop(function);
    }
    let (init_min, init_max) =
        (inits.iter().min().copied().unwrap_or_default(), inits.iter().max().copied().unwrap_or_default());
    Ok(Figures {
        init: median(inits),
        init_min,
        init_max,
        first: median(firsts),
        warm: median(warms),
        rss_kib: rss,
        answer,
    })
}

/// Waits for the function's first `invocation/next`; if it fails, says which function and what it printed.
async fn ready(function: &mut Function, api: &RuntimeApi, name: &str, timeout: Duration) -> anyhow::Result<Duration> {
    match function.wait_ready(api, timeout).await {
        Ok(init) => Ok(init),
        Err(e) => {
            use tokio::io::AsyncReadExt;
            let mut printed = String::new();
            if let Some(mut stdout) = function.child.stdout.take() {
                let _ = tokio::time::timeout(Duration::from_secs(1), stdout.read_to_string(&mut printed)).await;
            }
            if let Some(mut stderr) = function.child.stderr.take() {
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr.read_to_string(&mut printed)).await;
            }
            Err(e.context(format!("{name} failed to start; it printed: {}", printed.trim())))
        }
    }
}

/// VmHWM: the process's peak resident set, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
