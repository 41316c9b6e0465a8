//! Airtable economics: what the gateway costs upstream, counted at the emulator (`/_emulator/stats`) behind
//! a fresh release runner with the shipped settings (5 requests/second per base, 30 s records TTL). The
//! writers run against the emulator's strict mode (at most 5 arrivals in any sliding second, else 429 and a
//! 30 s penalty), as an upstream that counts a sliding window would.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;

use crate::report::{Budget, verdict};
use crate::runner::Runner;

/// (reads, distinct queries): each query asked in two spellings (parameter order), which normalise to one key.
const READ_MIXES: [(usize, usize); 3] = [(100, 1), (200, 10), (500, 50)];
/// Reads in flight at once in the mixes.
const READ_CONCURRENCY: usize = 8;
const IDENTICAL_MISSES: usize = 100;
const WRITERS: usize = 50;
const MIN_WRITE_RATE: f64 = 4.5;
/// Airtable's limit per base: the most requests that may arrive in any sliding second.
const MAX_PER_SECOND: usize = 5;

pub async fn run(budgets: &mut Vec<Budget>) -> anyhow::Result<String> {
    let runner = Runner::start("economics", &[]).await?;
    let mut out = String::from("## Airtable economics (release runner → emulator, 5 requests/s per base)\n\n");
    out.push_str(&identical_misses(&runner, budgets).await?);
    out.push_str(&read_mixes(&runner).await?);
    out.push_str(&writers(&runner, budgets).await?);
    Ok(out)
}

async fn base_requests(runner: &Runner) -> anyhow::Result<u64> {
    Ok(runner.upstream().await?.base(&runner.base).requests)
}

async fn identical_misses(runner: &Runner, budgets: &mut Vec<Budget>) -> anyhow::Result<String> {
    // A slow upstream (500 ms) so all hundred arrive while the first is still in flight.
    runner.stage(json!({"latency_ms": 500})).await?;
    let path = runner.records("?pageSize=7&sort%5B0%5D%5Bfield%5D=Name");
    let before = base_requests(runner).await?;
    let started = Instant::now();
    let replies = futures::future::join_all((0..IDENTICAL_MISSES).map(|_| runner.read(&path))).await;
    let elapsed = started.elapsed();
    let upstream = base_requests(runner).await? - before;
    runner.stage(json!({"latency_ms": 0})).await?;
    let replies: Vec<(u16, String)> = replies.into_iter().collect::<Result<_, _>>()?;
    let ok = replies.iter().filter(|(s, _)| *s == 200).count();
    let misses = replies.iter().filter(|(_, c)| c == "MISS").count();
    let met = upstream == 1 && ok == IDENTICAL_MISSES;
    budgets.push(Budget::new(
        "100 concurrent identical misses → 1 upstream call",
        format!("{upstream} upstream call(s), {ok} of {IDENTICAL_MISSES} answered 200"),
        met,
        "see 'concurrent identical misses'",
    ));
    Ok(format!(
        "### {IDENTICAL_MISSES} concurrent identical misses\n\n\
         The emulator answers after 500 ms, so every read arrives while the first is in flight.\n\n\
         | reads | 200s | answered MISS | upstream calls | all answered in | budget: 1 upstream call |\n\
         |---|---|---|---|---|---|\n\
         | {IDENTICAL_MISSES} | {ok} | {misses} | {upstream} | {:.0} ms | {} |\n\n",
        elapsed.as_secs_f64() * 1000.0,
        verdict(met)
    ))
}

async fn read_mixes(runner: &Runner) -> anyhow::Result<String> {
    let mut out = format!(
        "### N reads over K distinct queries\n\n\
         Reads issued {READ_CONCURRENCY} at a time, cycling over K list queries; each query is asked in two \
         spellings (parameter order swapped), which the gateway normalises to one cache key. Within the 30 s TTL, \
         the ideal is one upstream call per distinct query.\n\n\
         | reads N | distinct K | upstream calls | upstream calls per read | hits | took |\n|---|---|---|---|---|---|\n"
    );
    for (row, (reads, distinct)) in READ_MIXES.into_iter().enumerate() {
        let page_size = row + 2; // a page size per row: no row reuses another's entries
        let paths: Vec<String> = (0..reads)
            .map(|i| {
                let q = i % distinct + 1;
                if (i / distinct) % 2 == 0 {
                    runner.records(&format!("?pageSize={page_size}&maxRecords={q}"))
                } else {
                    runner.records(&format!("?maxRecords={q}&pageSize={page_size}"))
                }
            })
            .collect();
        let before = base_requests(runner).await?;
        let started = Instant::now();
        let replies: Vec<anyhow::Result<(u16, String)>> = futures::stream::iter(paths.iter().map(|p| runner.read(p)))
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let took = started.elapsed();
        let upstream = base_requests(runner).await? - before;
        let replies: Vec<(u16, String)> = replies.into_iter().collect::<Result<_, _>>()?;
        let failed = replies.iter().filter(|(s, _)| *s != 200).count();
        if failed > 0 {
            anyhow::bail!("{failed} of {reads} reads failed in the N={reads}, K={distinct} mix");
        }
        let hits = replies.iter().filter(|(_, c)| c == "HIT").count();
        out.push_str(&format!(
            "| {reads} | {distinct} | {upstream} | {:.3} | {hits} | {:.2} s |\n",
            upstream as f64 / reads as f64,
            took.as_secs_f64()
        ));
    }
    out.push('\n');
    Ok(out)
}

async fn writers(runner: &Runner, budgets: &mut Vec<Budget>) -> anyhow::Result<String> {
    // Airtable's writes are slow; a little latency keeps several in flight at once. Strict: a sixth request
    // within any sliding second is refused (and the base penalised).
    runner.stage(json!({"write_latency_ms": 150, "sliding_window": true})).await?;
    let before = runner.upstream().await?.base(&runner.base);
    let path = runner.records("");
    let started = Instant::now();
    let writes = (0..WRITERS).map(|i| {
        runner.request(Method::POST, &path).json(&json!({"fields": {"Name": format!("Bench writer {i}")}})).send()
    });
    let responses = futures::future::join_all(writes).await;
    let elapsed = started.elapsed();
    let stats = runner.upstream().await?;
    runner.stage(json!({"write_latency_ms": 0, "sliding_window": false})).await?;
    let after = stats.base(&runner.base);
    let created = responses.iter().filter(|r| r.as_ref().is_ok_and(|r| r.status() == 201)).count();
    let throttled = responses.iter().filter(|r| r.as_ref().is_ok_and(|r| r.status() == 429)).count();
    let upstream_429 = after.rate_limited - before.rate_limited;
    let admitted =
        after.admitted_at_ms.get(before.admitted_at_ms.len()..).context("the emulator's counters went back")?;
    let span = Duration::from_millis(admitted.last().copied().unwrap_or(0) - admitted.first().copied().unwrap_or(0));
    let rate = admitted.len().saturating_sub(1) as f64 / span.as_secs_f64().max(1e-9);
    let busiest = max_in_window(admitted, 1000);
    budgets.push(Budget::new(
        "50 concurrent writers → 0 upstream 429s",
        format!("{upstream_429} (of {} upstream requests; {created} of {WRITERS} created)", admitted.len()),
        upstream_429 == 0,
        "see '50 concurrent writers'",
    ));
    budgets.push(Budget::new(
        "50 concurrent writers → ≤ 5 upstream requests in any sliding 1 s",
        format!("{busiest}"),
        busiest <= MAX_PER_SECOND,
        "see '50 concurrent writers'",
    ));
    budgets.push(Budget::new(
        "50 concurrent writers → ≥ 4.5 upstream requests/s per base",
        format!("{rate:.2}/s"),
        rate >= MIN_WRITE_RATE,
        "see '50 concurrent writers'",
    ));
    Ok(format!(
        "### {WRITERS} concurrent writers (one base)\n\n\
         Each creates a record through `/api/v1/airtable/…/records` at once, against the emulator's strict \
         sliding-window mode (a sixth arrival within any second is a 429 and a 30 s penalty); the emulator adds \
         150 ms to each write. Rate = (admitted − 1) / (last − first admission time), at the emulator; max in any \
         1 s = the most admissions within any sliding second.\n\n\
         | writers | 201s | 429s to clients | upstream requests | upstream 429s | upstream rate | max in any 1 s | all done in | budget: 0 upstream 429s | budget: ≤ 5 in any 1 s | budget: ≥ 4.5/s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n\
         | {WRITERS} | {created} | {throttled} | {} | {upstream_429} | {rate:.2}/s | {busiest} | {:.2} s | {} | {} | {} |\n\n",
        admitted.len(),
        elapsed.as_secs_f64(),
        verdict(upstream_429 == 0),
        verdict(busiest <= MAX_PER_SECOND),
        verdict(rate >= MIN_WRITE_RATE),
    ))
}

/// The most admissions within any window of `window_ms` (of these writes only).
fn max_in_window(times: &[u64], window_ms: u64) -> usize {
    (0..times.len()).map(|i| times[i..].iter().take_while(|t| **t < times[i] + window_ms).count()).max().unwrap_or(0)
}
