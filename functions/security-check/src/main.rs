//! Consumer of `workflow-events` (MSK or self-managed Kafka trigger): checks every contractor
//! assignment and reverts those the contractor may not hold.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_contractors::assignment_check::AssignmentCheck;
use servicehub_platform::consumer::{BatchReport, process_batch};
use servicehub_platform::{Services, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("security-check").await?;
    let (services, handler) = (
        &services,
        &AssignmentCheck {
            services: &services,
        },
    );
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let report: BatchReport = process_batch(&event.payload, services, handler).await?;
        Ok::<_, Error>(report)
    }))
    .await
}
