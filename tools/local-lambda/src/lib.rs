//! Runs a real Lambda function binary locally: an emulated Lambda Runtime API
//! (`/2018-06-01/runtime/...`) that the binary's `lambda_runtime` talks to, exactly as in an AWS
//! execution environment. The tests drive functions through it; the local runner builds on it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Lambda's limit on a synchronous invocation's request and response payloads (6 MB).
pub const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;

/// How to start one function's execution environment.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: u32,
}

/// How an invocation ended, when it did not return a response.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum InvokeError {
    /// The handler returned an error (`/invocation/{id}/error`).
    #[error("function error {error_type}: {error_message}")]
    Function {
        error_type: String,
        error_message: String,
    },
    /// The function failed before it could take invocations (`/init/error`, or it exited).
    #[error("init error: {0}")]
    Init(String),
    #[error("the function did not respond within {0:?}")]
    Timeout(Duration),
    #[error("the execution environment exited: {0}")]
    Crashed(String),
    #[error("the response is not JSON: {0}")]
    NotJson(String),
    /// Lambda's `RequestEntityTooLargeException`: the payload is over the invocation's limit.
    #[error("the request payload is {size} bytes, over Lambda's limit of {limit}")]
    RequestTooLarge { size: usize, limit: usize },
    /// Lambda's `TooManyRequestsException`: the function's concurrency limit is reached.
    #[error("Rate Exceeded: {limit} invocations of the function are already under way")]
    Throttled { limit: usize },
}

/// What Lambda reports when a function's response is over [`SYNC_PAYLOAD_LIMIT`].
pub const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";

type Reply = oneshot::Sender<Result<Bytes, InvokeError>>;

struct Pending {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    reply: Reply,
}

struct Shared {
    function_arn: String,
    queue: Mutex<mpsc::Receiver<Pending>>,
    in_flight: Mutex<HashMap<String, Reply>>,
    init_error: Mutex<Option<String>>,
    /// Whether the binary has asked for an invocation yet: an exit before that is an init failure.
    initialized: std::sync::atomic::AtomicBool,
    started_at: std::time::Instant,
    /// From spawn to the first `/invocation/next`: Lambda's "Init Duration".
    init_duration: std::sync::OnceLock<Duration>,
    /// Whether the function is parked in `/invocation/next`, waiting for work.
    waiting: std::sync::atomic::AtomicBool,
}

/// One running execution environment: the function's process and its Runtime API endpoint.
pub struct LambdaEnvironment {
    spec: FunctionSpec,
    sender: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
    child: Mutex<Child>,
    /// Stopped with SIGSTOP between invocations, as Lambda freezes an idle environment.
    frozen: std::sync::atomic::AtomicBool,
    server: tokio::task::JoinHandle<()>,
    pub runtime_api: SocketAddr,
}

impl LambdaEnvironment {
    /// Starts the Runtime API on a free loopback port and the binary pointed at it.
    pub async fn start(spec: FunctionSpec) -> std::io::Result<LambdaEnvironment> {
        let (sender, receiver) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            function_arn: format!(
                "arn:aws:lambda:eu-central-1:000000000000:function:{}",
                spec.name
            ),
            queue: Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            initialized: std::sync::atomic::AtomicBool::new(false),
            started_at: std::time::Instant::now(),
            init_duration: std::sync::OnceLock::new(),
            waiting: std::sync::atomic::AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let runtime_api = listener.local_addr()?;
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                // The limit is checked by the handler, which fails the invocation as Lambda does.
                post(invocation_response).layer(axum::extract::DefaultBodyLimit::disable()),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .envs(
                std::env::vars()
                    .filter(|(k, _)| k == "PATH" || k == "HOME" || k == "RUST_BACKTRACE"),
            )
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", Uuid::new_v4().to_string())
            .env("AWS_REGION", "eu-central-1")
            .envs(spec.env.iter().cloned())
            .kill_on_drop(true);
        // If whoever started the environment dies without stopping it (SIGKILL, a panicking
        // test), the function goes with it instead of lingering as an orphan.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        Ok(LambdaEnvironment {
            spec,
            sender,
            shared,
            child: Mutex::new(child),
            frozen: std::sync::atomic::AtomicBool::new(false),
            server,
            runtime_api,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// How long the function took from its start to asking for its first invocation, once it has.
    pub fn init_duration(&self) -> Option<Duration> {
        self.shared.init_duration.get().copied()
    }

    /// Invokes the function with `payload` and waits for its response, its error, an init error,
    /// a crash, or the timeout (after which the environment is killed, as Lambda does).
    pub async fn invoke(&self, payload: &Value) -> Result<Value, InvokeError> {
        self.invoke_as(payload, &Uuid::new_v4().to_string()).await
    }

    /// [`Self::invoke`] with the `Lambda-Runtime-Aws-Request-Id` chosen by the caller, so that
    /// its own log lines can name the invocation the function logs under.
    pub async fn invoke_as(&self, payload: &Value, request_id: &str) -> Result<Value, InvokeError> {
        let bytes = self
            .invoke_raw(
                serde_json::to_vec(payload).unwrap_or_default().into(),
                request_id,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| InvokeError::NotJson(e.to_string()))
    }

    /// Freezes the environment as Lambda does between invocations: the process is stopped
    /// (SIGSTOP), so an idle function costs no CPU; its timers and background threads wait, as
    /// they do on AWS. Only an environment parked in `/invocation/next` is frozen, never one in
    /// its init or its invocation. Returns whether it froze.
    pub async fn freeze(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        if self.frozen.load(SeqCst) || !self.shared.waiting.load(SeqCst) {
            return false;
        }
        let mut child = self.child.lock().await;
        // A process that exited (and may be reaped, its pid reused) is not signalled.
        let (Ok(None), Some(pid)) = (child.try_wait(), child.id()) else {
            return false;
        };
        // SAFETY: kill(2) on our own running child's pid.
        let stopped = unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) } == 0;
        self.frozen.store(stopped, SeqCst);
        stopped
    }

    /// Thaws a frozen environment (SIGCONT); every invocation does it first.
    pub async fn thaw(&self) {
        if self.frozen.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let child = self.child.lock().await;
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on our own child's pid, not yet reaped (we hold its handle).
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) };
            }
        }
    }

    pub async fn invoke_raw(&self, payload: Bytes, request_id: &str) -> Result<Bytes, InvokeError> {
        self.thaw().await;
        if payload.len() > SYNC_PAYLOAD_LIMIT {
            return Err(InvokeError::RequestTooLarge {
                size: payload.len(),
                limit: SYNC_PAYLOAD_LIMIT,
            });
        }
        if let Some(error) = self.shared.init_error.lock().await.clone() {
            return Err(InvokeError::Init(error));
        }
        let (reply, response) = oneshot::channel();
        let deadline_ms = now_ms() + self.spec.timeout.as_millis() as u64;
        let pending = Pending {
            request_id: request_id.to_owned(),
            payload,
            deadline_ms,
            reply,
        };
        if self.sender.send(pending).await.is_err() {
            return Err(InvokeError::Crashed("the runtime API stopped".into()));
        }
        let exited = async {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if let Ok(Some(status)) = self.child.lock().await.try_wait() {
                    // Let an init error posted just before the exit win over "crashed".
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return match self.shared.init_error.lock().await.clone() {
                        Some(error) => InvokeError::Init(error),
                        None if !self
                            .shared
                            .initialized
                            .load(std::sync::atomic::Ordering::SeqCst) =>
                        {
                            InvokeError::Init(format!("the function exited during init ({status})"))
                        }
                        None => InvokeError::Crashed(status.to_string()),
                    };
                }
            }
        };
        tokio::select! {
            result = response => result.unwrap_or_else(|_| Err(InvokeError::Crashed("no reply".into()))),
            error = exited => Err(error),
            _ = tokio::time::sleep(self.spec.timeout) => {
                let _ = self.child.lock().await.kill().await;
                Err(InvokeError::Timeout(self.spec.timeout))
            }
        }
    }

    /// Stops the function process and the Runtime API.
    pub async fn stop(self) {
        let _ = self.child.lock().await.kill().await;
        self.server.abort();
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .initialized
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = shared.init_duration.set(shared.started_at.elapsed());
    shared
        .waiting
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let pending = shared.queue.lock().await.recv().await;
    shared
        .waiting
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let Some(pending) = pending else {
        // The environment is going away: like a frozen Lambda sandbox, never answer (an answer
        // without a request id makes lambda_runtime panic); the process is killed right after.
        return std::future::pending().await;
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", pending.request_id.clone());
    set(
        "lambda-runtime-deadline-ms",
        pending.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{};Parent={};Sampled=1",
            now_ms() / 1000,
            &Uuid::new_v4().simple().to_string()[..24],
            &Uuid::new_v4().simple().to_string()[..16]
        ),
    );
    set("content-type", "application/json".into());
    shared
        .in_flight
        .lock()
        .await
        .insert(pending.request_id, pending.reply);
    (StatusCode::OK, headers, pending.payload).into_response()
}

/// A response over [`SYNC_PAYLOAD_LIMIT`] fails the invocation with Lambda's
/// `Function.ResponseSizeTooLarge` (the runtime is told 413); the environment stays.
async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> StatusCode {
    let body = axum::body::to_bytes(body, SYNC_PAYLOAD_LIMIT).await;
    let Some(reply) = shared.in_flight.lock().await.remove(&id) else {
        return StatusCode::BAD_REQUEST;
    };
    match body {
        Ok(body) => {
            let _ = reply.send(Ok(body));
            StatusCode::ACCEPTED
        }
        Err(_) => {
            let _ = reply.send(Err(InvokeError::Function {
                error_type: RESPONSE_TOO_LARGE.to_owned(),
                error_message: format!(
                    "Response payload size exceeded maximum allowed payload size ({SYNC_PAYLOAD_LIMIT} bytes)."
                ),
            }));
            StatusCode::PAYLOAD_TOO_LARGE
        }
    }
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let (error_type, error_message) = parse_error_body(&body);
    match shared.in_flight.lock().await.remove(&id) {
        Some(reply) => {
            let _ = reply.send(Err(InvokeError::Function {
                error_type,
                error_message,
            }));
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let (error_type, error_message) = parse_error_body(&body);
    *shared.init_error.lock().await = Some(format!("{error_type}: {error_message}"));
    StatusCode::ACCEPTED
}

fn parse_error_body(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    (
        value["errorType"].as_str().unwrap_or("Unknown").to_owned(),
        value["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    )
}
