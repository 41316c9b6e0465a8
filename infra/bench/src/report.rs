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
