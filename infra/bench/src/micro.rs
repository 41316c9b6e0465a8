//! The criterion micro-benchmarks' results (run by `cargo bench` before this: see run.sh), read from
//! criterion's `estimates.json` files: the median time per iteration and its 95% confidence interval.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::report::repo_root;

/// The benchmark groups this suite defines (identity: `jwt_verify`, `api_key_lookup`; airtable: `cache_key`,
/// `enforcement`; access: `allows`, `effective`).
const GROUPS: [&str; 6] = ["jwt_verify", "api_key_lookup", "cache_key", "enforcement", "allows", "effective"];

pub fn run() -> anyhow::Result<String> {
    let home =
        std::env::var_os("CRITERION_HOME").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/criterion"));
    let mut rows = Vec::new();
    for group in GROUPS {
        let mut found = Vec::new();
        collect(&home.join(group), &mut found);
        found.sort();
        for dir in found {
            let (Some(benchmark), Some(estimates)) =
                (read(&dir.join("benchmark.json")), read(&dir.join("estimates.json")))
            else {
                continue;
            };
            let median = &estimates["median"];
            let ci = &median["confidence_interval"];
            rows.push(format!(
                "| {group} | {} | {} | {} – {} |\n",
                benchmark["function_id"].as_str().unwrap_or("?"),
                time(median["point_estimate"].as_f64()),
                time(ci["lower_bound"].as_f64()),
                time(ci["upper_bound"].as_f64()),
            ));
        }
    }
    if rows.is_empty() {
        anyhow::bail!(
            "no criterion results under {}: run the benches first (cargo bench -p identity -p airtable -p access)",
            home.display()
        );
    }
    let mut out = String::from("## Micro-benchmarks (criterion, `cargo bench` profile = release settings)\n\n");
    out.push_str("| group | benchmark | median | 95% CI |\n|---|---|---|---|\n");
    rows.iter().for_each(|r| out.push_str(r));
    out.push('\n');
    Ok(out)
}

/// Every `new/` directory (criterion's latest run) under `dir`.
fn collect(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                found.push(path);
            } else if path.file_name().is_none_or(|n| n != "base" && n != "change") {
                collect(&path, found);
            }
        }
    }
}

fn read(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn time(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} µs", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
        None => "?".into(),
    }
}
