//! Consumer of request-events, workflow-events, security-events and hr-events (MSK or
//! self-managed Kafka trigger): tells customers, managers and contractors what happened, by
//! e-mail (SES), Telegram or SMS (SNS), once per message. Its schedule (every minute, input
//! `{"sweep": "notifications"}`) retries the messages a provider refused and settles claims an
//! invocation left mid-send.

#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use servicehub_notifications::{Channels, Notify, NotifyConfig};
use servicehub_platform::consumer::process_batch_concurrently;
use servicehub_platform::{Services, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("notify").await?;
    let config = NotifyConfig::from_env()?;
    let channels = Channels::from_config(&config).await?;
    let (services, config, handler) = (
        &services,
        &config,
        &Notify {
            services: &services,
            channels: &channels,
            config: &config,
            outages: Default::default(),
        },
    );
    run(service_fn(|event: LambdaEvent<Value>| async move {
        if event.payload.get("sweep").is_some() {
            return Ok::<_, Error>(json!(handler.sweep().await?));
        }
        let report =
            process_batch_concurrently(&event.payload, services, handler, config.concurrency)
                .await?;
        Ok(json!(report))
    }))
    .await
}
