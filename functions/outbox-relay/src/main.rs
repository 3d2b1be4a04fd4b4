//! Scheduled (EventBridge, every minute): publishes outbox rows that were not published right
//! after their commit, for `OUTBOX_RELAY_DRAIN_SECONDS` (60: all of each minute; pass after pass while rows
//! wait, a poll of `OUTBOX_RELAY_POLL_MS` when none does), so rows left by a broker outage go out
//! within about a second of its end. Then it deletes published rows past their retention, forgets
//! Idempotency-Keys past theirs, and reports the outbox's backlog (EMF metrics the template's
//! alarms watch: the oldest unpublished row's age, the parked rows).

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use servicehub_platform::config::Vars;
use servicehub_platform::{Services, idempotency_key, outbox, telemetry};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("outbox-relay").await?;
    let vars = Vars::from_env();
    let batch_size = vars.number("OUTBOX_RELAY_BATCH_SIZE", 500, 0)?;
    let retention_hours = vars.number("OUTBOX_RETENTION_HOURS", 72, 0)?;
    let key_retention_hours = vars.number("IDEMPOTENCY_KEY_RETENTION_HOURS", 24, 0)?;
    let drain_for = Duration::from_secs(vars.number("OUTBOX_RELAY_DRAIN_SECONDS", 60, 0)?);
    let poll = Duration::from_millis(vars.number("OUTBOX_RELAY_POLL_MS", 1000, 0)?);
    run(service_fn(|_: LambdaEvent<Value>| async {
        let started = Instant::now();
        let report = outbox::drain(
            &services.pool,
            &services.producer,
            batch_size,
            retention_hours,
            started + drain_for,
            poll,
        )
        .await?;
        let forgotten_keys = idempotency_key::prune(&services.pool, key_retention_hours).await?;
        let backlog = outbox::backlog(&services.pool).await?;
        tracing::info!(
            published = report.published,
            parked = report.parked,
            deleted = report.deleted_published,
            forgotten_keys,
            unpublished = backlog.unpublished,
            oldest_unpublished_seconds = backlog.oldest_unpublished_seconds,
            parked_total = backlog.parked,
            "relay done"
        );
        let name = services.config.service_name.as_str();
        telemetry::emit_metric(
            name,
            "OutboxOldestUnpublishedSeconds",
            backlog.oldest_unpublished_seconds,
            "Seconds",
        );
        telemetry::emit_metric(name, "OutboxParkedRows", backlog.parked as f64, "Count");
        let reporter = &services.reporter;
        reporter.record("relay_pass", started.elapsed(), report.published as u64);
        reporter.flush_if_due();
        Ok::<_, Error>(json!({
            "published": report.published,
            "parked": report.parked,
            "deleted_published": report.deleted_published,
            "forgotten_keys": forgotten_keys,
            "backlog": backlog,
        }))
    }))
    .await
}
