//! Where init time goes: runs `bench-init-steps` (a function's `main`, step by step) several times and reports
//! each step's median, with this machine's trust store and with one CA bundle (close to Lambda's AL2023 image,
//! whose certificate directory holds bundles, not a file per certificate), since reading it is the largest step.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::report::{median, ms};

const RUNS: usize = 9;

pub struct Steps {
    pub section: String,
    /// (step, median) with this machine's trust store, and with one CA bundle.
    pub here: Vec<(String, Duration)>,
    pub one_bundle: Vec<(String, Duration)>,
}

impl Steps {
    /// The median of the first step whose name starts with `prefix`: (this machine, one bundle).
    pub fn get(&self, prefix: &str) -> (Duration, Duration) {
        let find = |steps: &[(String, Duration)]| {
            steps.iter().find(|(n, _)| n.starts_with(prefix)).map(|(_, d)| *d).unwrap_or_default()
        };
        (find(&self.here), find(&self.one_bundle))
    }
}

pub async fn run(dir: &Path, env: &[(&str, &str)], bundle: &[(&str, &str)]) -> anyhow::Result<Steps> {
    let probe = dir.join("bench-init-steps");
    let (here, certs_here) = medians(&probe, env).await?;
    let with_bundle: Vec<(&str, &str)> = env.iter().chain(bundle).copied().collect();
    let (one_bundle, certs_bundle) = medians(&probe, &with_bundle).await?;
    let mut section = String::from("### Where the init goes\n\n");
    section.push_str(&format!(
        "`bench-init-steps` runs a function's init steps in order in a fresh process ({RUNS} runs, medians), \
         without the Runtime API: the system trust store read on its own (what `rustls-native-certs` does for the \
         AWS SDK's HTTPS client, and for reqwest's), then each AWS SDK client on its own (building one validates \
         its HTTPS client, which builds a TLS connector: the trust store is read once per process, inside \
         `aws_config::load`, and parsed into a root store per connector), then what health does (`Backend::open`, \
         its 2 tables and 1 queue: the SDK config, a DynamoDB and an SQS client of its own). Trust store here: {}, \
         {certs_here} certificates loaded; with one bundle ({}): {certs_bundle}.\n\n",
        trust_store(),
        bundle_file().map(|f| format!("SSL_CERT_FILE={f}, SSL_CERT_DIR an empty directory")).unwrap_or_default(),
    ));
    section.push_str("| step | ms, this machine's trust store | ms, one CA bundle (≈ AL2023) |\n|---|---|---|\n");
    for (name, d) in &here {
        let other = one_bundle.iter().find(|(n, _)| n == name).map(|(_, d)| ms(*d)).unwrap_or_else(|| "—".into());
        section.push_str(&format!("| {name} | {} | {other} |\n", ms(*d)));
    }
    section.push('\n');
    Ok(Steps { section, here, one_bundle })
}

async fn medians(probe: &Path, env: &[(&str, &str)]) -> anyhow::Result<(Vec<(String, Duration)>, u64)> {
    let mut order: Vec<String> = Vec::new();
    let mut samples: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut certs = 0;
    for _ in 0..RUNS {
        let output = tokio::process::Command::new(probe)
            .envs(env.iter().copied())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_LAMBDA_FUNCTION_NAME", "health")
            .output()
            .await?;
        if !output.status.success() {
            anyhow::bail!("bench-init-steps failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().find(|l| l.contains("\"steps\"")).unwrap_or("{}");
        let parsed: Value = serde_json::from_str(line)?;
        certs = parsed["certs"].as_u64().unwrap_or_default();
        for step in parsed["steps"].as_array().into_iter().flatten() {
            let (Some(name), Some(us)) = (step[0].as_str(), step[1].as_u64()) else { continue };
            if !order.iter().any(|n| n == name) {
                order.push(name.to_string());
            }
            samples.entry(name.to_string()).or_default().push(Duration::from_micros(us));
        }
    }
    let steps = order.into_iter().map(|name| (name.clone(), median(samples.remove(&name).unwrap_or_default())));
    Ok((steps.collect(), certs))
}

/// What `rustls-native-certs` reads on this machine (openssl-probe's bundle file and certificate directory).
fn trust_store() -> String {
    let file = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
        .into_iter()
        .find(|f| Path::new(f).exists());
    let certs = file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| t.matches("BEGIN CERTIFICATE").count())
        .unwrap_or_default();
    let dir_entries = std::fs::read_dir("/etc/ssl/certs").map(|d| d.count()).unwrap_or_default();
    format!(
        "{} ({certs} certificates) and the {dir_entries} entries of /etc/ssl/certs (a file per certificate, \
         plus hash-named links to them)",
        file.unwrap_or("no bundle")
    )
}

/// The bundle this machine has, for the "one CA bundle" runs.
pub fn bundle_file() -> Option<&'static str> {
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
        .into_iter()
        .find(|f| Path::new(f).exists())
}
