//! Each function's bootstrap size: the stripped release binary for x86_64 (target/release/) and for arm64
//! (what `cargo lambda build --release --arm64` leaves in target/lambda/<binary>/bootstrap — the command
//! `sam build` runs for each function, so the two share their build).

use std::path::Path;

use crate::report::{Budget, binaries_dir, repo_root, verdict};

/// Budget: every arm64 bootstrap ≤ 8 MB (taken as 8,000,000 bytes, the stricter reading).
const ARM64_BUDGET_BYTES: u64 = 8_000_000;

pub fn run(budgets: &mut Vec<Budget>) -> anyhow::Result<String> {
    let dir = binaries_dir()?;
    let lambda = repo_root().join("target/lambda");
    let mut out = String::from("## Bootstrap sizes (stripped release binaries: fat LTO, opt-level s, panic=abort)\n\n");
    out.push_str("| binary | x86_64 | arm64 | arm64 ≤ 8 MB |\n|---|---|---|---|\n");
    let hello = size(&dir.join("bench-hello-lambda"));
    out.push_str(&format!("| bare lambda_runtime hello | {} | — | — |\n", show(hello)));
    // Every binary with fixtures: every declared binary (tests/tests/e2e/lambda_entry.rs checks).
    let plan = lambda_sim::replay::Plan::load(&repo_root().join("events"))?;
    let mut names: Vec<&str> = plan.groups().iter().map(|f| f.binary.as_str()).collect();
    names.sort_unstable();
    let mut arm64_sizes = Vec::new();
    for name in names {
        let arm64 = size(&lambda.join(name).join("bootstrap"));
        let budget = arm64.map(|b| verdict(b <= ARM64_BUDGET_BYTES)).unwrap_or("not built");
        out.push_str(&format!("| {name} | {} | {} | {budget} |\n", show(size(&dir.join(name))), show(arm64)));
        arm64_sizes.push((name, arm64));
    }
    let storage = size(&dir.join("bench-size-storage"));
    out.push_str(&format!(
        "| *baseline:* the hello + one DynamoDB table read through `storage` | {} | — | — |\n\n",
        show(storage)
    ));
    let built: Vec<(&str, u64)> = arm64_sizes.iter().filter_map(|(n, s)| s.map(|s| (*n, s))).collect();
    let over: Vec<String> = built
        .iter()
        .filter(|(_, s)| *s > ARM64_BUDGET_BYTES)
        .map(|(n, s)| format!("{n} {:.2} MB", *s as f64 / 1e6))
        .collect();
    let smallest = built.iter().min_by_key(|(_, s)| *s);
    let largest = built.iter().max_by_key(|(_, s)| *s);
    let why = format!(
        "{} over 8 MB. On x86_64 the bare lambda_runtime hello is {}; the same hello reading one DynamoDB table \
         through the storage crate is {}: the AWS SDK (config and credential providers incl. SSO, the HTTPS client \
         with rustls and aws-lc, the DynamoDB client) and redb are most of every bootstrap. On top come the HTTP \
         shell (axum, lambda_http, utoipa, the platform: health, users, auth, airtable), the SQS client (auth, \
         users, health), bcrypt and JWT signing (auth), reqwest and the Redis client (airtable).",
        over.join(", "),
        show(hello),
        show(storage),
    );
    budgets.push(Budget::new(
        "every arm64 bootstrap ≤ 8 MB",
        match (smallest, largest) {
            (Some(s), Some(l)) => format!("{} {:.2} MB … {} {:.2} MB", s.0, s.1 as f64 / 1e6, l.0, l.1 as f64 / 1e6),
            _ => "not built".into(),
        },
        !built.is_empty() && over.is_empty(),
        why,
    ));
    Ok(out)
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn show(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.2} MB ({:.2} MiB)", b as f64 / 1e6, b as f64 / 1_048_576.0),
        None => "—".into(),
    }
}
