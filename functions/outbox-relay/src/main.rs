//! Scheduled (EventBridge): publishes outbox rows that were not published right after their commit,
//! deletes published rows past their retention, and forgets Idempotency-Keys past theirs.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_platform::{Services, idempotency_key, outbox, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("outbox-relay")?;
    let batch_size = env_number("OUTBOX_RELAY_BATCH_SIZE", 500)?;
    let retention_hours = env_number("OUTBOX_RETENTION_HOURS", 72)?;
    let key_retention_hours = env_number("IDEMPOTENCY_KEY_RETENTION_HOURS", 24)?;
    run(service_fn(|_: LambdaEvent<Value>| async {
        let started = std::time::Instant::now();
        let report = outbox::relay(
            &services.pool,
            &services.producer,
            batch_size,
            retention_hours,
        )
        .await?;
        let forgotten_keys = idempotency_key::prune(&services.pool, key_retention_hours).await?;
        tracing::info!(
            published = report.published,
            deleted = report.deleted_published,
            forgotten_keys,
            "relay pass done"
        );
        let reporter = &services.reporter;
        reporter.record("relay_pass", started.elapsed(), report.published as u64);
        reporter.flush_if_due().await;
        Ok::<_, Error>(report)
    }))
    .await
}

fn env_number(name: &str, default: i64) -> Result<i64, Error> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name} must be an integer, got {value:?}").into()),
        Err(_) => Ok(default),
    }
}
