//! Small helpers for the markdown the benchmarks print.

use std::time::Duration;

pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// target/<profile>/ — where this binary's sibling executables are.
pub fn binaries_dir() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent().map(std::path::Path::to_path_buf).ok_or_else(|| anyhow::anyhow!("no parent dir for {}", exe.display()))
}

pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// target/bench-work/ — scratch space for the runs (data dirs, logs, the wrk script); created on demand.
pub fn work_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = repo_root().join("target/bench-work");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `part / whole` as a percentage with no decimals.
pub fn percent(part: f64, whole: f64) -> String {
    format!("{:.0}%", 100.0 * part / whole.max(1e-9))
}

/// The 1-minute load average, from /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

/// One budget of the issue, as measured.
pub struct Budget {
    pub what: String,
    pub measured: String,
    pub met: bool,
    /// Why, when missed (numbers from the same run).
    pub why: String,
}

impl Budget {
    pub fn new(what: impl Into<String>, measured: impl Into<String>, met: bool, why: impl Into<String>) -> Self {
        Self { what: what.into(), measured: measured.into(), met, why: if met { String::new() } else { why.into() } }
    }
}

/// The budgets table: every budget, met or missed, and why a miss happened.
pub fn summary(budgets: &[Budget]) -> String {
    if budgets.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Budgets\n\n| budget | measured | verdict | why missed |\n|---|---|---|---|\n");
    for b in budgets {
        out.push_str(&format!("| {} | {} | {} | {} |\n", b.what, b.measured, verdict(b.met), b.why));
    }
    out.push('\n');
    out
}

/// The results file: how it was made, the machine, the budgets, then every section.
pub fn document(machine: &str, summary: &str, sections: &str) -> String {
    format!(
        "# Benchmark results\n\n\
         Written by `infra/bench/run.sh` (builds what it needs in release, starts moto, runs every benchmark). \
         Benchmarks, not tests: nothing here runs in `cargo test`. Numbers are from one run on the machine below; \
         the load generator, the servers and any other work on the machine share its cores.\n\n\
         {machine}{summary}{sections}"
    )
}
