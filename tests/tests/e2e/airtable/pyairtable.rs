//! The real pyairtable, installed from PyPI into the repo's venv (infra/scripts/requirements.txt), pointed
//! at the runner with `Api(api_key, endpoint_url=…)`: tests/python/pyairtable_session.py.

use std::path::PathBuf;

use super::{BASE, Client};
use crate::support::TestApp;

crate::both_adapters!(real_pyairtable_from_pypi_works_unchanged_against_the_v0_surface);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

async fn real_pyairtable_from_pypi_works_unchanged_against_the_v0_surface(app: TestApp) {
    let client = Client::start(app).await;
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "no {}: run infra/scripts/services.sh install (it installs pyairtable)", python.display());
    let args = [
        repo().join("tests/python/pyairtable_session.py").display().to_string(),
        client.app.url.clone(),
        client.api_key.clone(),
        BASE.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || std::process::Command::new(python).args(args).output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pyairtable session failed:\n{stderr}");
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["listed"], 30);
    assert_eq!(seen["deleted"], 28);
    assert_eq!(seen["whoami"], client.account.user_id.as_str());
}
