//! The local runner over HTTP: an authorized `GET /api/v1/users/me` and a cached Airtable records list (a
//! HIT) at 1, 16 and 64 connections, with a bare axum hello as the ceiling in the same run.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::report::{Budget, binaries_dir, load_average, percent};
use crate::runner::{Runner, free_port};
use crate::wrk::{self, Load};

const CONNECTIONS: [u32; 3] = [1, 16, 64];
/// Budgets for the cached read at 64 connections.
const P50_BUDGET_US: u64 = 1_000;
const P99_BUDGET_US: u64 = 5_000;
const THROUGHPUT_BUDGET: f64 = 0.40;

struct Target {
    name: &'static str,
    url: String,
    headers: Vec<String>,
}

pub async fn run(budgets: &mut Vec<Budget>) -> anyhow::Result<String> {
    let seconds: u64 = std::env::var("BENCH_HTTP_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let duration = Duration::from_secs(seconds);
    // A long records TTL: every measured read is a HIT (refills are the economics section's subject).
    let runner = Runner::start("http", &[("AIRTABLE_CACHE_TTL_RECORDS_SECS", "3600")]).await?;
    let list = runner.records("?pageSize=10");
    let (me_status, _) = runner.read("/api/v1/users/me").await?;
    let warmed = (runner.read(&list).await?, runner.read(&list).await?);
    if me_status != 200 || warmed.0.0 != 200 || warmed.1.1 != "HIT" {
        bail!("set-up failed: /users/me {me_status}, records {:?} then {:?}", warmed.0, warmed.1);
    }
    let hello = Hello::start().await?;
    let auth = vec![format!("Authorization: Bearer {}", runner.api_key)];
    let targets = [
        Target { name: "bare axum hello (ceiling)", url: hello.url.clone(), headers: Vec::new() },
        Target { name: "GET /api/v1/users/me", url: runner.at("/api/v1/users/me"), headers: auth.clone() },
        Target { name: "cached Airtable records list (HIT)", url: runner.at(&list), headers: auth },
    ];
    let (hits_before, misses_before) = (runner.cache_count("hit").await?, runner.cache_count("miss").await?);
    let load_before = load_average();
    for target in &targets {
        wrk::run(&target.url, 16, Duration::from_secs(2), &target.headers).await?; // warm-up, discarded
    }
    // Connection counts outer, targets inner: drift in the machine's load touches all three alike.
    let mut results: Vec<(usize, u32, Load, String)> = Vec::new();
    for connections in CONNECTIONS {
        for (i, target) in targets.iter().enumerate() {
            let load = wrk::run(&target.url, connections, duration, &target.headers).await?;
            results.push((i, connections, load, load_average()));
        }
    }
    let (hits, misses) =
        (runner.cache_count("hit").await? - hits_before, runner.cache_count("miss").await? - misses_before);
    // Diagnostics, not budgets: a public route through the same runner (the platform shell and its log line,
    // no authorizer), and the cached read from a runner logging warnings only (no line per request).
    let public = wrk::run(&runner.at("/health"), 64, duration, &[]).await?;
    let public_after = load_average();
    drop(runner);
    let quiet =
        Runner::start("http-quiet", &[("AIRTABLE_CACHE_TTL_RECORDS_SECS", "3600"), ("RUST_LOG", "warn")]).await?;
    quiet.read(&list).await?;
    let quiet_headers = vec![format!("Authorization: Bearer {}", quiet.api_key)];
    wrk::run(&quiet.at(&list), 16, Duration::from_secs(2), &quiet_headers).await?; // warm-up, discarded
    let quiet_load = wrk::run(&quiet.at(&list), 64, duration, &quiet_headers).await?;
    let quiet_after = load_average();
    drop(quiet);

    let mut out = String::from("## The local runner over HTTP (release `pyairtable-local`, embedded storage)\n\n");
    out.push_str(&format!(
        "`wrk -t1 -c<N> -d{seconds}s` on loopback after a 2 s warm-up per target. Load generator and server share \
         the machine's {} cores (wrk on one thread; the runner's tokio runtime has one worker per core), so these are \
         a floor for the server alone. Authorization: a real API key (the authorizer hashes it and reads the key and \
         the user from the embedded table on every request, as the local gateway does). Records TTL raised to 1 h for \
         this run: {hits} of the Airtable reads were cache hits, {misses} misses. Runner log level: the default \
         (`info`, one line per request, to a file). Load average before: {load_before}.\n\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    ));
    out.push_str(
        "| target | connections | req/s | ×hello req/s | p50 ms | p90 ms | p99 ms | max ms | errors | load after |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, connections, load, load_after) in &results {
        let hello_rps = results
            .iter()
            .find(|(j, c, _, _)| *j == 0 && c == connections)
            .map(|(_, _, l, _)| l.rps())
            .unwrap_or(f64::NAN);
        out.push_str(&format!(
            "| {} | {connections} | {:.0} | {} | {} | {} | {} | {} | {} | {load_after} |\n",
            targets[*i].name,
            load.rps(),
            if *i == 0 { "—".to_string() } else { percent(load.rps(), hello_rps) },
            us_as_ms(load.p50_us),
            us_as_ms(load.p90_us),
            us_as_ms(load.p99_us),
            us_as_ms(load.max_us),
            load.socket_errors + load.non_2xx,
        ));
    }
    let at = |i: usize| results.iter().find(|(j, c, _, _)| *j == i && *c == 64).map(|(_, _, l, _)| l.clone());
    let (hello64, cached64) = (at(0).context("no hello run at 64")?, at(2).context("no cached run at 64")?);
    let at1 = |i: usize| results.iter().find(|(j, c, _, _)| *j == i && *c == 1).map(|(_, _, l, _)| l.p50_us);
    let (hello1, cached1) = (at1(0).unwrap_or_default(), at1(2).unwrap_or_default());
    let share = cached64.rps() / hello64.rps().max(1e-9);
    for (name, load, after) in [
        (
            "*diagnostic:* GET /health (public: the platform shell and a log line, no authorizer)",
            &public,
            &public_after,
        ),
        ("*diagnostic:* cached records list (HIT), runner with `RUST_LOG=warn`", &quiet_load, &quiet_after),
    ] {
        out.push_str(&format!(
            "| {name} | 64 | {:.0} | {} | {} | {} | {} | {} | {} | {after} |\n",
            load.rps(),
            percent(load.rps(), hello64.rps()),
            us_as_ms(load.p50_us),
            us_as_ms(load.p90_us),
            us_as_ms(load.p99_us),
            us_as_ms(load.max_us),
            load.socket_errors + load.non_2xx,
        ));
    }
    out.push('\n');
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let why_latency = format!(
        "wrk keeps 64 requests in flight, so the median waits behind the others: p50 ≈ 64 ÷ throughput = 64 ÷ \
         {:.0}/s = {:.2} ms; p50 ≤ 1 ms at 64 connections needs ≥ 64,000 req/s, the bare hello's rate ({:.0}/s here, \
         p50 {} ms). One request alone takes {} ms (hello {} ms). wrk and the runner share {cores} cores.",
        cached64.rps(),
        64_000.0 / cached64.rps().max(1e-9),
        hello64.rps(),
        us_as_ms(hello64.p50_us),
        us_as_ms(cached1),
        us_as_ms(hello1),
    );
    budgets.push(Budget::new(
        "cached Airtable read at 64 connections: p50 ≤ 1 ms",
        format!("{} ms", us_as_ms(cached64.p50_us)),
        cached64.p50_us <= P50_BUDGET_US,
        why_latency.clone(),
    ));
    budgets.push(Budget::new(
        "cached Airtable read at 64 connections: p99 ≤ 5 ms",
        format!("{} ms", us_as_ms(cached64.p99_us)),
        cached64.p99_us <= P99_BUDGET_US,
        why_latency,
    ));
    budgets.push(Budget::new(
        "cached Airtable read throughput ≥ 40% of the bare axum hello (64 connections)",
        format!("{} ({:.0} vs {:.0} req/s)", percent(cached64.rps(), hello64.rps()), cached64.rps(), hello64.rps()),
        share >= THROUGHPUT_BUDGET,
        format!(
            "the hello does nothing per request; the runner's public /health alone (request id, CORS, body limit, \
             route lookup, one log line) reaches {} of it. A cached read adds the local gateway's authorizer (API \
             key hash and two embedded-table reads, the authorizer event and its IAM policy), the credential and \
             the cache key (see Micro-benchmarks), and copies of the body; without the per-request log line \
             (`RUST_LOG=warn`) it reaches {}. wrk needs one of the {cores} cores.",
            percent(public.rps(), hello64.rps()),
            percent(quiet_load.rps(), hello64.rps())
        ),
    ));
    Ok(out)
}

fn us_as_ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// `bench-hello-axum` on a free port; killed on drop.
struct Hello {
    url: String,
    _child: tokio::process::Child,
}

impl Hello {
    async fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = tokio::process::Command::new(binaries_dir()?.join("bench-hello-axum"))
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("Failed to start bench-hello-axum")?;
        let url = format!("http://127.0.0.1:{port}/");
        let started = Instant::now();
        while reqwest::get(&url).await.is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("bench-hello-axum did not answer within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self { url, _child: child })
    }
}
