//! The real pyairtable (PyPI, 3.x — infra/scripts/requirements.txt, installed into the repo's venv) drives the
//! runner's /v0 surface unchanged: tests/python/pyairtable_suite.py (records, pagination, formulas, views,
//! cellFormat, field ids, typecast, comments, webhooks, schema, meta writes, uploadAttachment, the ORM and the
//! errors pyairtable surfaces). The suite runs every check and prints a JSON summary; this test fails on any
//! failed check, and when the number of checks changes (so none is dropped or skipped unnoticed).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::TestApp;
use crate::support::airtable::{BASE, Client};

use crate::support::airtable::gateway_settings;
crate::both_adapters_in!(gateway_settings;real_pyairtable_from_pypi_works_unchanged_against_the_v0_surface);

/// The checks in tests/python/pyairtable_suite.py.
const PYAIRTABLE_CHECKS: usize = 32;

pub(super) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

async fn real_pyairtable_from_pypi_works_unchanged_against_the_v0_surface(app: TestApp) {
    let client = Client::start(app).await;
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "no {}: run infra/scripts/services.sh install (it installs pyairtable)", python.display());
    let summary =
        run_suite(&client, &python, &repo().join("tests/python/pyairtable_suite.py"), PYAIRTABLE_CHECKS).await;
    assert!(summary["version"].as_str().is_some_and(|v| v.starts_with("3.")), "pyairtable 3.x: {summary}");
    assert_eq!(summary["observed"]["whoami"], client.account.user_id.as_str(), "whoami answers the caller");
}

/// Runs a client suite (`program script ENDPOINT KEY BASE`) against the runner and checks its JSON summary:
/// `{"client", "version", "checks", "passed": [...], "failed": [{"check", "error"}]}` on the last stdout line.
pub(super) async fn run_suite(client: &Client, program: &Path, script: &Path, checks: usize) -> Value {
    let mut command = tokio::process::Command::new(program);
    command
        .arg(script)
        .args([client.app.url.as_str(), client.api_key.as_str(), BASE])
        .current_dir(script.parent().unwrap())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish in 300 s", script.display()))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr.chars().rev().take(20_000).collect::<Vec<_>>().into_iter().rev().collect();
    let summary: Value = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| {
            panic!("{} printed no JSON summary ({}):\n{stdout}\n{tail}", script.display(), output.status)
        });
    let failed = summary["failed"].as_array().cloned().unwrap_or_default();
    let report: Vec<String> = failed
        .iter()
        .map(|f| format!("- {}: {}", f["check"].as_str().unwrap_or("?"), f["error"].as_str().unwrap_or("?")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} {}: {} of {} checks failed:\n{}\n\n--- stderr (tail) ---\n{tail}",
        summary["client"].as_str().unwrap_or("?"),
        summary["version"].as_str().unwrap_or("?"),
        failed.len(),
        summary["checks"],
        report.join("\n")
    );
    assert!(output.status.success(), "{} exited with {}:\n{tail}", script.display(), output.status);
    assert_eq!(summary["checks"], checks, "the number of checks in {} changed: update the count", script.display());
    assert_eq!(summary["passed"].as_array().map(Vec::len), Some(checks), "every check passed: {summary}");
    summary
}
