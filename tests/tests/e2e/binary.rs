//! The `cargo run` binary itself: starts with no configuration but a port and a data dir, serves, and stops
//! cleanly on Ctrl-C (SIGINT) with what it acknowledged still there after a restart.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn runner_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join("pyairtable-local")
}

pub struct Runner {
    child: Child,
    pub url: String,
}

impl Runner {
    /// Starts the binary on a free port with JSON logs and reads its URL from the start-up line.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// [`Runner::start`] with more environment variables.
    pub async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let binary = runner_binary();
        assert!(binary.exists(), "{} missing: run `cargo build --workspace --bins` first", binary.display());
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("DATA_DIR", data_dir)
            .env("LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                if log["message"] != "PyAirtable local runner listening" {
                    continue;
                }
                if let Some(url) = log["url"].as_str() {
                    return url.to_string();
                }
            }
            panic!("the runner exited before printing its URL");
        })
        .await
        .unwrap();
        // Keep draining stdout so the runner never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, url }
    }

    /// The exit status of a runner that is ending by itself.
    pub async fn exited(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.expect("it exits").unwrap()
    }

    /// Ctrl-C, then the exit status.
    pub async fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        let killed = Command::new("kill").args(["-INT", &pid]).status().await.unwrap();
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.expect("exits after Ctrl-C").unwrap()
    }
}

#[tokio::test]
async fn cargo_run_serves_the_api_and_keeps_acknowledged_writes_across_a_ctrl_c_restart() {
    let data_dir = std::env::temp_dir().join(format!("pyairtable-binary-{}", uuid::Uuid::new_v4().simple()));
    let client = reqwest::Client::new();
    let credentials = serde_json::json!({"email": "restart@example.com", "password": "correct horse battery staple"});

    let runner = Runner::start(&data_dir).await;
    for path in ["/health", "/ready"] {
        let response = client.get(format!("{}{path}", runner.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let registered =
        client.post(format!("{}/api/v1/auth/register", runner.url)).json(&credentials).send().await.unwrap();
    assert_eq!(registered.status(), 201, "register");
    let status = runner.interrupt().await;
    assert!(status.success(), "exit status after Ctrl-C: {status}");

    let runner = Runner::start(&data_dir).await;
    let login = client.post(format!("{}/api/v1/auth/login", runner.url)).json(&credentials).send().await.unwrap();
    assert_eq!(login.status(), 200, "the user registered before Ctrl-C can log in after the restart");
    assert!(runner.interrupt().await.success());
    let _ = std::fs::remove_dir_all(data_dir);
}

/// No committed change without its event: the process dies right after a registration and its
/// `user.registered` event committed (the `EVENTS_FAILPOINT` fault injection aborts between commit and
/// publish); after the restart the account exists and the event reaches the audit trail, exactly once.
#[tokio::test]
async fn an_event_committed_before_a_crash_is_delivered_after_the_restart() {
    let data_dir = std::env::temp_dir().join(format!("pyairtable-crash-{}", uuid::Uuid::new_v4().simple()));
    let client = reqwest::Client::new();
    let credentials = serde_json::json!({"email": "crash@example.com", "password": "correct horse battery staple"});

    let runner = Runner::start_with(&data_dir, &[(events::publisher::FAILPOINT_VAR, "abort-after-commit")]).await;
    let registered = client.post(format!("{}/api/v1/auth/register", runner.url)).json(&credentials).send().await;
    assert!(registered.is_err(), "the process died before answering: {registered:?}");
    let status = runner.exited().await;
    assert!(!status.success(), "aborted: {status}");

    let runner = Runner::start(&data_dir).await;
    let login = client.post(format!("{}/api/v1/auth/login", runner.url)).json(&credentials).send().await.unwrap();
    assert_eq!(login.status(), 200, "the registration committed before the crash");
    let login: serde_json::Value = login.json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let audit = format!("{}/api/v1/audit-logs?action=user.registered", runner.url);
    let mut entries = serde_json::Value::Null;
    for _ in 0..100 {
        let page: serde_json::Value =
            client.get(&audit).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        entries = page["audit_logs"].clone();
        if entries.as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(entries.as_array().map(Vec::len), Some(1), "user.registered reached the audit trail once: {entries}");
    // Nothing left behind: a second restart publishes nothing more.
    assert!(runner.interrupt().await.success());
    let runner = Runner::start(&data_dir).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let audit = format!("{}/api/v1/audit-logs?action=user.registered", runner.url);
    let page: serde_json::Value = client.get(&audit).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["audit_logs"].as_array().map(Vec::len), Some(1), "{page}");
    assert!(runner.interrupt().await.success());
    let _ = std::fs::remove_dir_all(data_dir);
}
