//! outbox-relay's use case, run by its schedule (EventBridge, every minute): publishes outbox rows
//! that were not published right after their commit, for `OUTBOX_RELAY_DRAIN_SECONDS` (60: all
//! of each minute; pass after pass while rows wait, a poll of `OUTBOX_RELAY_POLL_MS` when none
//! does), so rows left by a broker outage go out within about a second of its end. Then it
//! deletes published rows past their retention, forgets Idempotency-Keys past theirs, and
//! reports the outbox's backlog (EMF metrics the template's alarms watch: the oldest unpublished
//! row's age, the parked rows).

use crate::config::{ConfigError, Vars};
use crate::outbox::{self, Backlog, OutboxError};
use crate::{Services, idempotency_key, telemetry};
use serde::Serialize;
use std::time::{Duration, Instant};

/// outbox-relay's settings, read once per execution environment.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub batch_size: i64,
    pub retention_hours: i64,
    pub key_retention_hours: i64,
    pub drain_for: Duration,
    pub poll: Duration,
}

impl RelayConfig {
    pub fn from_vars(vars: &Vars) -> Result<RelayConfig, ConfigError> {
        Ok(RelayConfig {
            batch_size: vars.number("OUTBOX_RELAY_BATCH_SIZE", 500, 0)?,
            retention_hours: vars.number("OUTBOX_RETENTION_HOURS", 72, 0)?,
            key_retention_hours: vars.number("IDEMPOTENCY_KEY_RETENTION_HOURS", 24, 0)?,
            drain_for: Duration::from_secs(vars.number("OUTBOX_RELAY_DRAIN_SECONDS", 60, 0)?),
            poll: Duration::from_millis(vars.number("OUTBOX_RELAY_POLL_MS", 1000, 0)?),
        })
    }
}

/// What one scheduled invocation did, and the backlog it left.
#[derive(Debug, Serialize)]
pub struct RelayRun {
    pub published: usize,
    pub parked: usize,
    pub deleted_published: u64,
    pub forgotten_keys: u64,
    pub backlog: Backlog,
}

/// One scheduled invocation: drain, prune, report.
pub async fn relay(services: &Services, config: &RelayConfig) -> Result<RelayRun, OutboxError> {
    let started = Instant::now();
    let report = outbox::drain(
        &services.pool,
        &services.producer,
        config.batch_size,
        config.retention_hours,
        started + config.drain_for,
        config.poll,
    )
    .await?;
    let forgotten_keys = idempotency_key::prune(&services.pool, config.key_retention_hours).await?;
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
    Ok(RelayRun {
        published: report.published,
        parked: report.parked,
        deleted_published: report.deleted_published,
        forgotten_keys,
        backlog,
    })
}
