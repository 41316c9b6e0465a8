//! Cold start of every function: exec its release binary against a loopback Lambda Runtime API and time
//! exec → first `invocation/next` (Lambda's Init Duration), the first invoke and warm invokes, and peak RSS;
//! the same for a bare lambda_runtime hello built with the same profile, as the floor.

use std::path::Path;
use std::time::{Duration, Instant};

use lambda_sim::{Function, RuntimeApi};
use serde_json::Value;

use crate::report::{binaries_dir, median, ms, repo_root, verdict};

const TRIALS: usize = 7;
const WARM_INVOKES: usize = 50;
/// Budget: every function's init ≤ 1.5× the bare hello's.
const INIT_RATIO_BUDGET: f64 = 1.5;

struct Figures {
    init: Duration,
    first: Duration,
    warm: Duration,
    rss_kib: u64,
}

pub async fn run() -> anyhow::Result<String> {
    let dir = binaries_dir()?;
    let mut functions: Vec<(String, Value)> = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("events"))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(String::from) else { continue };
        if path.is_dir() && dir.join(&name).exists() {
            functions.push((name, first_event(&path)?));
        }
    }
    functions.sort_by(|a, b| a.0.cmp(&b.0));

    let hello = measure(&dir.join("bench-hello-lambda"), "hello", &serde_json::json!({"hello": "world"})).await?;
    let mut out = String::from("## Cold start (release binaries, loopback Runtime API)\n\n");
    out.push_str(&format!("Median of {TRIALS} cold starts each; warm = median of {WARM_INVOKES} invokes after the first.\n\n"));
    out.push_str("| function | init ms | ×hello | first invoke ms | warm invoke ms | peak RSS MiB | init budget ≤ 1.5× |\n|---|---|---|---|---|---|---|\n");
    out.push_str(&row("bare lambda_runtime hello", &hello, 1.0, "—"));
    for (name, event) in &functions {
        let figures = measure(&dir.join(name), name, event).await?;
        let ratio = figures.init.as_secs_f64() / hello.init.as_secs_f64().max(1e-9);
        out.push_str(&row(name, &figures, ratio, verdict(ratio <= INIT_RATIO_BUDGET)));
    }
    out.push('\n');
    Ok(out)
}

fn row(name: &str, f: &Figures, ratio: f64, budget: &str) -> String {
    format!(
        "| {name} | {} | {ratio:.2} | {} | {} | {:.1} | {budget} |\n",
        ms(f.init),
        ms(f.first),
        ms(f.warm),
        f.rss_kib as f64 / 1024.0
    )
}

/// The first event file of a function (alphabetically), skipping expected.json.
fn first_event(dir: &Path) -> anyhow::Result<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("expected.json"))
        .collect();
    files.sort();
    let file = files.first().ok_or_else(|| anyhow::anyhow!("no event in {}", dir.display()))?;
    Ok(serde_json::from_str(&std::fs::read_to_string(file)?)?)
}

async fn measure(binary: &Path, name: &str, event: &Value) -> anyhow::Result<Figures> {
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("BENCH_FN_"))
        .map(|(k, v)| (k.trim_start_matches("BENCH_FN_").to_string(), v))
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (mut inits, mut firsts, mut warms, mut rss) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..TRIALS {
        let api = RuntimeApi::start().await?;
        let mut function = Function::spawn(binary, &api, name, &env)?;
        inits.push(function.wait_ready(&api, Duration::from_secs(30)).await?);
        let started = Instant::now();
        api.invoke(event.clone(), Duration::from_secs(30)).await?;
        firsts.push(started.elapsed());
        let mut warm = Vec::with_capacity(WARM_INVOKES);
        for _ in 0..WARM_INVOKES {
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
    Ok(Figures { init: median(inits), first: median(firsts), warm: median(warms), rss_kib: rss })
}

/// VmHWM: the process's peak resident set, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
