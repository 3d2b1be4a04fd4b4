//! The local runner: reads `template.yaml` and runs every function it declares as a local Lambda
//! execution environment (the real binary behind an emulated Runtime API), fronted by an emulated
//! API Gateway HTTP API, Kafka event source mappings and EventBridge schedules.

pub mod kafka_trigger;
pub mod template;

use serde_json::Value;

/// Something that runs a function once: the environment pool in the runner, a single
/// environment in tests.
pub trait Invoke: Send + Sync + 'static {
    fn invoke(
        &self,
        payload: Value,
    ) -> impl Future<Output = Result<Value, local_lambda::InvokeError>> + Send;
}

pub mod gateway;
pub mod pool;
pub mod schedule;
