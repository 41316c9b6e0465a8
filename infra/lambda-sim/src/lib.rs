//! A loopback stand-in for the Lambda Runtime API (`/2018-06-01/runtime/...`), so a function's real release
//! or debug binary runs exactly as on Lambda: it polls `invocation/next`, gets an event, posts a response or
//! an error; and the Extensions API's registration (an extension that subscribes to nothing). Used to replay
//! `events/` through each function's entry point ([`replay`]) and to time cold starts.

pub mod replay;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    /// `invocation/{id}/error`: the function failed (the authorizer's "Unauthorized" arrives this way).
    Error(Value),
}

struct Pending {
    id: String,
    event: Value,
}

#[derive(Default)]
struct Shared {
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    first_next: Option<Instant>,
    init_error: Option<Value>,
}

#[derive(Clone)]
struct AppState {
    shared: Arc<Mutex<Shared>>,
    queue: Arc<AsyncMutex<mpsc::Receiver<Pending>>>,
}

pub struct RuntimeApi {
    addr: std::net::SocketAddr,
    shared: Arc<Mutex<Shared>>,
    sender: mpsc::Sender<Pending>,
}

impl RuntimeApi {
    pub async fn start() -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::channel(16);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = AppState { shared: shared.clone(), queue: Arc::new(AsyncMutex::new(receiver)) };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // The Extensions API, as far as an internal extension that subscribes to nothing needs it (HTTP
            // functions register one so that Lambda sends them SIGTERM before shutting them down).
            .route("/2020-01-01/extension/register", post(register_extension))
            .route("/2020-01-01/extension/event/next", get(std::future::pending::<StatusCode>))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, sender })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for work (the end of its init phase), if it has.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().ok().and_then(|s| s.first_next)
    }

    pub fn init_error(&self) -> Option<Value> {
        self.shared.lock().ok().and_then(|s| s.init_error.clone())
    }

    /// Hands the function one event and waits for its answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> anyhow::Result<Outcome> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.waiting.insert(id.clone(), tx);
        self.sender.send(Pending { id, event }).await.context("the runtime API stopped")?;
        tokio::time::timeout(timeout, rx).await.context("the function did not answer in time")?.context("dropped")
    }
}

async fn next(State(state): State<AppState>) -> Response {
    if let Ok(mut shared) = state.shared.lock() {
        shared.first_next.get_or_insert_with(Instant::now);
    }
    let Some(pending) = state.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
    let deadline_ms = deadline.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    let pairs = [
        ("lambda-runtime-aws-request-id", pending.id.clone()),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:sim".into()),
        (
            "lambda-runtime-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (headers, axum::Json(pending.event)).into_response()
}

fn settle(state: &AppState, id: &str, outcome: Outcome) -> StatusCode {
    let waiter = state.shared.lock().ok().and_then(|mut s| s.waiting.remove(id));
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

async fn response(State(state): State<AppState>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    settle(&state, &id, Outcome::Response(parse(&body)))
}

async fn error(State(state): State<AppState>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    settle(&state, &id, Outcome::Error(parse(&body)))
}

async fn register_extension() -> Response {
    let body = serde_json::json!({"functionName": "sim", "functionVersion": "$LATEST", "handler": "bootstrap"});
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert("lambda-extension-identifier", HeaderValue::from_static("sim-extension-1"));
    response
}

async fn init_error(State(state): State<AppState>, body: Bytes) -> StatusCode {
    if let Ok(mut shared) = state.shared.lock() {
        shared.init_error = Some(parse(&body));
    }
    StatusCode::ACCEPTED
}

/// A function binary running against a [`RuntimeApi`]; killed on drop.
pub struct Function {
    pub child: tokio::process::Child,
    pub started: Instant,
}

impl Function {
    /// Execs `binary` as Lambda would (`AWS_LAMBDA_RUNTIME_API` and the usual variables), plus `env`.
    pub fn spawn(binary: &Path, api: &RuntimeApi, name: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        if !binary.exists() {
            bail!(
                "{} does not exist: build the function binaries first (cargo build --workspace --bins)",
                binary.display()
            );
        }
        let mut command = tokio::process::Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("Failed to exec {}", binary.display()))?;
        Ok(Self { child, started })
    }

    /// Waits until the function asks for its first event; returns the init duration.
    pub async fn wait_ready(&mut self, api: &RuntimeApi, timeout: Duration) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = api.first_next() {
                return Ok(at.saturating_duration_since(self.started));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the function exited during init ({status}); init error: {:?}", api.init_error());
            }
            if Instant::now() > deadline {
                bail!("the function did not finish init within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
