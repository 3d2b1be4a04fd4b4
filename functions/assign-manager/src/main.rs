//! Consumer of `request-events` (MSK or self-managed Kafka trigger): assigns a manager to each new request.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_platform::consumer::{BatchReport, process_batch};
use servicehub_platform::{Services, telemetry};
use servicehub_requests::assign_manager::AssignManager;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("assign-manager").await?;
    let (services, handler) = (
        &services,
        &AssignManager {
            services: &services,
        },
    );
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let report: BatchReport = process_batch(&event.payload, services, handler).await?;
        Ok::<_, Error>(report)
    }))
    .await
}
