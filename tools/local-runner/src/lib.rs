//! The local runner: reads `template.yaml` and runs every function it declares as a local Lambda
//! execution environment (the real binary behind an emulated Runtime API), fronted by an emulated
//! API Gateway HTTP API, Kafka event source mappings and EventBridge schedules.

pub mod kafka_access;
pub mod kafka_trigger;
pub mod template;

use serde_json::Value;
use std::time::Duration;

/// Something that runs a function once: the environment pool in the runner, a single
/// environment in tests.
pub trait Invoke: Send + Sync + 'static {
    fn invoke(&self, payload: Value) -> impl Future<Output = Invoked> + Send;
}

/// The outcome of one invocation and what the runner's one-line log says about it.
#[derive(Debug)]
pub struct Invoked {
    pub result: Result<Value, local_lambda::InvokeError>,
    /// The `Lambda-Runtime-Aws-Request-Id` the function logged under.
    pub request_id: String,
    /// From the invoker's call to the result, including waiting for a free environment.
    pub duration: Duration,
    /// Set when this invocation started a new environment: its init duration.
    pub cold_start: Option<Duration>,
}

pub mod gateway;
pub mod pool;
pub mod schedule;
