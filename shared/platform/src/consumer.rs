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
use servicehub_events::topic::{UNROUTED_DLQ, dead_letter_topic};
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
    /// Transient only when retrying may help ([`crate::db::is_transient`]); a deterministic
    /// failure (a unique violation, bad text, a decoding error) is dead-lettered with its reason
    /// rather than failing its batch for ever.
    fn from(error: sqlx::Error) -> HandlerError {
        if crate::db::is_transient(&error) {
            HandlerError::Transient(error.to_string())
        } else {
            HandlerError::Permanent(error.to_string())
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
/// one record after another in partition order, and reports the batch's handling time as
/// `audit.performance_metric` (`handle_batch`).
pub async fn process_batch(
    payload: &Value,
    services: &Services,
    handler: &impl EventHandler,
) -> Result<BatchReport, BatchError> {
    process_batch_concurrently(payload, services, handler, 1).await
}

/// [`process_batch`] with up to `in_flight` records handled at once. Records of one key (one
/// aggregate: a request's events) stay in partition order, one after another; only different
/// keys overlap. For handlers whose time goes to waiting on providers (notify): a batch then
/// takes about as long as its slowest key instead of the sum of all. With `in_flight` 1 the
/// records are handled strictly in partition order.
///
/// A transient failure stops its key's later records; the keys already under way finish, and
/// the batch fails for a retry (the idempotency marks make it skip what was applied).
pub async fn process_batch_concurrently(
    payload: &Value,
    services: &Services,
    handler: &impl EventHandler,
    in_flight: usize,
) -> Result<BatchReport, BatchError> {
    let started = std::time::Instant::now();
    let (result, keys) = DEFERRED_KEYS
        .scope(Default::default(), async {
            let result =
                handle_records(payload, services, handler, in_flight.max(1), started).await;
            (result, DEFERRED_KEYS.with(|keys| keys.take()))
        })
        .await;
    // What the records committed, published together (a failed batch's too: it is committed).
    services
        .publish_after_commit(&keys.into_iter().collect::<Vec<_>>())
        .await;
    let reporter = &services.reporter;
    let items = result.as_ref().map_or(0, |report| report.records as u64);
    reporter.record("handle_batch", started.elapsed(), items);
    reporter.flush_if_due();
    result
}

tokio::task_local! {
    /// The outbox keys the records of the batch being handled committed, for one publish at the
    /// end of the batch.
    static DEFERRED_KEYS: std::cell::RefCell<std::collections::BTreeSet<String>>;
}

/// Inside a batch, notes `keys` for the batch's publish and returns true; outside, false.
pub(crate) fn defer_publishing(keys: &[String]) -> bool {
    DEFERRED_KEYS
        .try_with(|deferred| deferred.borrow_mut().extend(keys.iter().cloned()))
        .is_ok()
}

/// What became of one record.
enum Handled {
    Done(Outcome),
    DeadLettered,
    Transient { position: String, reason: String },
}

/// The records of `records` grouped by key, each group in partition order, the groups in the
/// order of their first record. A record whose envelope did not decode is a group of its own.
fn by_key(records: &[TriggerRecord]) -> Vec<Vec<&TriggerRecord>> {
    let mut groups: Vec<Vec<&TriggerRecord>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for record in records {
        match &record.envelope {
            Ok(envelope) => match index.get(envelope.meta.subject.as_str()) {
                Some(&group) => groups[group].push(record),
                None => {
                    index.insert(envelope.meta.subject.as_str(), groups.len());
                    groups.push(vec![record]);
                }
            },
            Err(_) => groups.push(vec![record]),
        }
    }
    groups
}

async fn handle_one(
    record: &TriggerRecord,
    services: &Services,
    handler: &impl EventHandler,
) -> Result<Handled, BatchError> {
    let consumer = services.config.service_name.as_str();
    let position = record.position.to_string();
    let failure = match &record.envelope {
        Err(error) => error.to_string(),
        Ok(envelope) => {
            let span = tracing::info_span!(
                "event",
                event_id = %envelope.meta.id,
                event_type = %envelope.meta.event_type,
                correlation_id = %envelope.meta.correlation_id,
                position = %position,
            );
            match handler.handle(envelope).instrument(span).await {
                Ok(outcome) => return Ok(Handled::Done(outcome)),
                Err(HandlerError::Permanent(reason)) => reason,
                Err(HandlerError::Transient(reason)) => {
                    tracing::warn!(%position, %reason, "transient failure, failing the batch for a retry");
                    let reporter = &services.reporter;
                    let mut error = reporter.error("transient_failure", &reason, true);
                    error.cause_event_id = Some(envelope.meta.id);
                    error.subject_id = Some(envelope.meta.subject.clone());
                    reporter.publish_error(Envelope::caused_by(consumer, &envelope.meta, error));
                    return Ok(Handled::Transient { position, reason });
                }
            }
        }
    };
    send_to_dlq(record, consumer, &failure, &services.producer).await?;
    Ok(Handled::DeadLettered)
}

/// `started`: when the batch arrived; its log line and EMF metric share the reporter's clock.
async fn handle_records(
    payload: &Value,
    services: &Services,
    handler: &impl EventHandler,
    in_flight: usize,
    started: std::time::Instant,
) -> Result<BatchReport, BatchError> {
    use futures::StreamExt as _;
    let consumer = services.config.service_name.as_str();
    let trigger = decode_trigger(payload)?;
    let mut report = BatchReport {
        records: trigger.records.len(),
        ..BatchReport::default()
    };
    // One group in partition order, or a group per key handled `in_flight` at a time; each group
    // stops at its first record that must be retried.
    let groups = if in_flight == 1 {
        vec![trigger.records.iter().collect()]
    } else {
        by_key(&trigger.records)
    };
    let outcomes: Vec<Vec<Result<Handled, BatchError>>> =
        futures::stream::iter(groups.into_iter().map(|group| async move {
            let mut handled_group = Vec::with_capacity(group.len());
            for record in group {
                let handled = handle_one(record, services, handler).await;
                let stop = !matches!(handled, Ok(Handled::Done(_) | Handled::DeadLettered));
                handled_group.push(handled);
                if stop {
                    break;
                }
            }
            handled_group
        }))
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let mut retry = None;
    for handled in outcomes.into_iter().flatten() {
        match handled? {
            Handled::Done(Outcome::Applied) => report.applied += 1,
            Handled::Done(Outcome::Duplicate) => report.duplicates += 1,
            Handled::Done(Outcome::Ignored) => report.ignored += 1,
            Handled::DeadLettered => report.dead_lettered += 1,
            Handled::Transient { position, reason } => {
                retry.get_or_insert(BatchError::Transient { position, reason });
            }
        }
    }
    if let Some(error) = retry {
        return Err(error);
    }
    tracing::info!(
        records = report.records,
        applied = report.applied,
        duplicates = report.duplicates,
        ignored = report.ignored,
        dead_lettered = report.dead_lettered,
        in_flight,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "batch processed"
    );
    // DeadLettered feeds the per-consumer dead-letter alarm of template.yaml.
    crate::telemetry::emit_metrics(
        consumer,
        &[
            (
                "BatchDurationMs",
                started.elapsed().as_secs_f64() * 1000.0,
                "Milliseconds",
            ),
            ("DeadLettered", report.dead_lettered as f64, "Count"),
        ],
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
    let mut letter = dead_letter(record, consumer, reason, Utc::now());
    letter.topic = dead_letter_destination(&record.position.topic, producer)
        .await
        .map_err(|reason| BatchError::DeadLetterFailed {
            position: position.clone(),
            reason,
        })?;
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

/// Where a dead letter of a record of `topic` goes: the topic's `.dlq` twin when it is one of
/// ours and the cluster has it, else [`UNROUTED_DLQ`]. A record from someone else's topic, or
/// whose twin was never created, must not fail its batch for ever (nor wait out a send to a
/// topic that does not exist); only a cluster without either topic, or out of reach, fails it.
async fn dead_letter_destination(topic: &str, producer: &EventProducer) -> Result<String, String> {
    let own = dead_letter_topic(topic);
    let candidates = if own == UNROUTED_DLQ {
        vec![own]
    } else {
        vec![own, UNROUTED_DLQ.to_owned()]
    };
    for candidate in &candidates {
        match producer.has_topic(candidate).await {
            Ok(true) => return Ok(candidate.clone()),
            Ok(false) => tracing::warn!(topic = %candidate, "dead-letter topic missing"),
            Err(error) => return Err(format!("cannot look up {candidate}: {error}")),
        }
    }
    Err(format!(
        "the cluster has none of the dead-letter topics {} (servicehub-admin topics create makes them)",
        candidates.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use servicehub_events::catalog::WorkStarted;
    use servicehub_events::lambda_kafka::{ConsumedRecord, KafkaSource, build_trigger};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use uuid::Uuid;

    /// Takes 50 ms per event and notes when each one started and ended.
    struct Slow {
        seen: Mutex<Vec<(String, Uuid, Instant, Instant)>>,
    }

    impl EventHandler for Slow {
        async fn handle(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.seen.lock().unwrap().push((
                envelope.meta.subject.clone(),
                envelope.meta.id,
                started,
                Instant::now(),
            ));
            Ok(Outcome::Applied)
        }
    }

    fn services() -> Services {
        // Never contacted: the handler does no I/O and nothing is dead-lettered.
        let config = crate::Config::from_vars(
            [
                (
                    "DATABASE_URL".to_owned(),
                    "postgres://127.0.0.1:1/x".to_owned(),
                ),
                (
                    "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
                    "127.0.0.1:1".to_owned(),
                ),
            ],
            "consumer-tests",
        )
        .unwrap();
        let producer = EventProducer::new(&config).unwrap();
        Services {
            pool: crate::db::pool(&config).unwrap(),
            reporter: std::sync::Arc::new(crate::report::Reporter::from_config(&config, &producer)),
            producer,
            config,
            publish_gate: Default::default(),
        }
    }

    /// Three events each for two requests, interleaved in one partition.
    fn batch() -> (Value, Vec<Envelope>) {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let events: Vec<Envelope> = [a, b, a, b, a, b]
            .into_iter()
            .enumerate()
            .map(|(n, request_id)| {
                Envelope::new(
                    "tests",
                    WorkStarted {
                        request_id,
                        contractor_id: Uuid::from_u128(n as u128),
                        started_at: Utc::now(),
                    },
                )
            })
            .collect();
        let records: Vec<ConsumedRecord> = events
            .iter()
            .enumerate()
            .map(|(offset, e)| ConsumedRecord::new(e.to_kafka(), 0, offset as i64))
            .collect();
        let trigger = build_trigger(&KafkaSource::SelfManaged, "127.0.0.1:1", &records);
        (serde_json::to_value(trigger).unwrap(), events)
    }

    #[tokio::test]
    async fn keys_overlap_and_each_key_keeps_its_order() {
        let (payload, events) = batch();
        let services = services();
        for (in_flight, overlapping) in [(1, false), (4, true)] {
            let handler = Slow {
                seen: Mutex::default(),
            };
            let report = process_batch_concurrently(&payload, &services, &handler, in_flight)
                .await
                .unwrap();
            assert_eq!(report.applied, 6);
            let seen = handler.seen.into_inner().unwrap();
            for key in [&events[0].meta.subject, &events[1].meta.subject] {
                let of_key: Vec<_> = seen.iter().filter(|s| &s.0 == key).collect();
                let order: Vec<Uuid> = of_key.iter().map(|s| s.1).collect();
                let expected: Vec<Uuid> = events
                    .iter()
                    .filter(|e| &e.meta.subject == key)
                    .map(|e| e.meta.id)
                    .collect();
                assert_eq!(order, expected, "in_flight {in_flight}: one key in order");
                for pair in of_key.windows(2) {
                    assert!(pair[1].2 >= pair[0].3, "one key's events never overlap");
                }
            }
            let overlapped = seen
                .iter()
                .any(|x| seen.iter().any(|y| x.0 != y.0 && x.2 < y.3 && y.2 < x.3));
            assert_eq!(overlapped, overlapping, "in_flight {in_flight}");
        }
    }
}
