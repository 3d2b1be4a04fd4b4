//! Running a Kafka-triggered function over one batch: decode per record, hand each of our events
//! to the handler in partition order, dead-letter what cannot be processed, and fail the
//! invocation only for transient trouble (the event source mapping then retries the batch, and the
//! idempotency marks make the retry skip what was already applied).

use crate::Services;
use crate::kafka::EventProducer;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use servicehub_events::Envelope;
use servicehub_events::catalog::ErrorOccurred;
use servicehub_events::dlq::dead_letter;
use servicehub_events::lambda_kafka::{TriggerRecord, decode_trigger};
use thiserror::Error;
use tracing::Instrument as _;

/// What handling one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Handled before: nothing changed.
    Duplicate,
    /// Not an event this consumer acts on.
    Ignored,
}

/// Why handling one event failed.
#[derive(Debug, Error)]
pub enum HandlerError {
    /// Retrying may help (database or broker unavailable): the batch is retried.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help: the record is dead-lettered and the batch goes on.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> HandlerError {
        match &error {
            sqlx::Error::Database(db)
                if db.is_check_violation() || db.is_foreign_key_violation() =>
            {
                HandlerError::Permanent(error.to_string())
            }
            _ => HandlerError::Transient(error.to_string()),
        }
    }
}

/// One consumer's reaction to one event.
pub trait EventHandler {
    fn handle(&self, envelope: &Envelope) -> impl Future<Output = Result<Outcome, HandlerError>>;
}

/// What one batch did, returned as the invocation's result (and logged).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub records: usize,
    pub applied: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub dead_lettered: usize,
}

#[derive(Debug, Error)]
pub enum BatchError {
    #[error(transparent)]
    NotAKafkaTrigger(#[from] servicehub_events::lambda_kafka::TriggerError),
    #[error("record {position} failed transiently, the batch will be retried: {reason}")]
    Transient { position: String, reason: String },
    #[error("record {position} could not be dead-lettered, the batch will be retried: {reason}")]
    DeadLetterFailed { position: String, reason: String },
}

/// Processes one trigger payload with `handler` on behalf of the function `services` belong to,
/// and reports the batch's handling time as `audit.performance_metric` (`handle_batch`).
pub async fn process_batch(
    payload: &Value,
    services: &Services,
    handler: &impl EventHandler,
) -> Result<BatchReport, BatchError> {
    let started = std::time::Instant::now();
    let result = handle_records(payload, services, handler, started).await;
    let reporter = &services.reporter;
    let items = result.as_ref().map_or(0, |report| report.records as u64);
    reporter.record("handle_batch", started.elapsed(), items);
    reporter.flush_if_due();
    result
}

/// `started`: when the batch arrived; its log line and EMF metric share the reporter's clock.
async fn handle_records(
    payload: &Value,
    services: &Services,
    handler: &impl EventHandler,
    started: std::time::Instant,
) -> Result<BatchReport, BatchError> {
    let (consumer, producer) = (services.config.service_name.as_str(), &services.producer);
    let trigger = decode_trigger(payload)?;
    let mut report = BatchReport {
        records: trigger.records.len(),
        ..BatchReport::default()
    };
    for record in &trigger.records {
        let position = record.position.to_string();
        let failure = match &record.envelope {
            Err(error) => Some(error.to_string()),
            Ok(envelope) => {
                let span = tracing::info_span!(
                    "event",
                    event_id = %envelope.meta.id,
                    event_type = %envelope.meta.event_type,
                    correlation_id = %envelope.meta.correlation_id,
                    position = %position,
                );
                match handler.handle(envelope).instrument(span).await {
                    Ok(Outcome::Applied) => {
                        report.applied += 1;
                        None
                    }
                    Ok(Outcome::Duplicate) => {
                        report.duplicates += 1;
                        None
                    }
                    Ok(Outcome::Ignored) => {
                        report.ignored += 1;
                        None
                    }
                    Err(HandlerError::Permanent(reason)) => Some(reason),
                    Err(HandlerError::Transient(reason)) => {
                        tracing::warn!(%position, %reason, "transient failure, failing the batch for a retry");
                        let reporter = &services.reporter;
                        let mut error = reporter.error("transient_failure", &reason, true);
                        error.cause_event_id = Some(envelope.meta.id);
                        error.subject_id = Some(envelope.meta.subject.clone());
                        reporter.publish_error(Envelope::caused_by(
                            consumer,
                            &envelope.meta,
                            error,
                        ));
                        return Err(BatchError::Transient { position, reason });
                    }
                }
            }
        };
        if let Some(reason) = failure {
            send_to_dlq(record, consumer, &reason, producer).await?;
            report.dead_lettered += 1;
        }
    }
    tracing::info!(
        records = report.records,
        applied = report.applied,
        duplicates = report.duplicates,
        ignored = report.ignored,
        dead_lettered = report.dead_lettered,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "batch processed"
    );
    crate::telemetry::emit_metric(
        consumer,
        "BatchDurationMs",
        started.elapsed().as_secs_f64() * 1000.0,
        "Milliseconds",
    );
    Ok(report)
}

/// Dead-letters `record` and reports it as `audit.error_occurred`. Only the dead letter must
/// succeed (it is the record's only copy from now on); the audit event is best effort. Public for
/// consumers that handle a batch as a whole (the audit sink).
pub async fn send_to_dlq(
    record: &TriggerRecord,
    consumer: &str,
    reason: &str,
    producer: &EventProducer,
) -> Result<(), BatchError> {
    let position = record.position.to_string();
    tracing::error!(%position, %reason, "dead-lettering record");
    let letter = dead_letter(record, consumer, reason, Utc::now());
    producer
        .send(&letter)
        .await
        .map_err(|e| BatchError::DeadLetterFailed {
            position: position.clone(),
            reason: e.to_string(),
        })?;
    let error = ErrorOccurred {
        component: consumer.to_owned(),
        error_kind: "record_dead_lettered".to_owned(),
        message: format!("{position} sent to {}: {reason}", letter.topic),
        retryable: false,
        cause_event_id: record.envelope.as_ref().ok().map(|e| e.meta.id),
        subject_id: record
            .envelope
            .as_ref()
            .ok()
            .map(|e| e.meta.subject.clone()),
        at: Utc::now(),
    };
    let audit = match &record.envelope {
        Ok(cause) => Envelope::caused_by(consumer, &cause.meta, error),
        Err(_) => Envelope::new(consumer, error),
    };
    producer.send_detached(&audit.to_kafka());
    Ok(())
}
