//! Consumer of `security-events`, `workflow-events` and `hr-events` (MSK or self-managed Kafka
//! trigger): contracts, completion acts and payment orders as PDFs in S3; payments of signed acts.

// The AWS SDK's futures nest deeper than the default limit allows when laid out.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_hr::files::DocumentFiles;
use servicehub_hr::generator::DocumentGenerator;
use servicehub_platform::consumer::{BatchReport, process_batch};
use servicehub_platform::{Services, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("hr-documents").await?;
    let files = DocumentFiles::from_env().await?;
    let (services, handler) = (
        &services,
        &DocumentGenerator {
            services: &services,
            files: &files,
        },
    );
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let report: BatchReport = process_batch(&event.payload, services, handler).await?;
        Ok::<_, Error>(report)
    }))
    .await
}
