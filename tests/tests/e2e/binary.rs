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
        let binary = runner_binary();
        assert!(binary.exists(), "{} missing: run `cargo build --workspace --bins` first", binary.display());
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("DATA_DIR", data_dir)
            .env("LOG_FORMAT", "json")
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
