//! The machine the numbers come from: CPU, cores, memory, kernel, OS, toolchain, load.

use crate::report::load_average;

pub async fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kib| kib.parse::<f64>().ok()))
        .map(|kib| format!("{:.1} GiB", kib / 1_048_576.0))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "unknown".into());
    let rustc = command("rustc", &["-V"]).await;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let at_start = std::env::var("BENCH_LOAD_AT_START").unwrap_or_else(|_| "not recorded".into());
    format!(
        "## Machine\n\n\
         | | |\n|---|---|\n\
         | date (UTC) | {} |\n\
         | CPU | {cpu} |\n\
         | cores (nproc) | {cores} |\n\
         | memory | {memory} |\n\
         | kernel | {kernel} |\n\
         | OS | {os} |\n\
         | rustc | {rustc} |\n\
         | load tool | {} |\n\
         | load average (1/5/15 min) when the command started | {at_start} |\n\
         | load average (1 min) when the measurements started | {} |\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        crate::wrk::version().await,
        load_average(),
    )
}

async fn command(program: &str, args: &[&str]) -> String {
    match tokio::process::Command::new(program).args(args).output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_string(),
        Err(_) => format!("{program} not found"),
    }
}
