//! The audit sink's Kafka batch: every record decoded; what does not decode dead-lettered (as the
//! platform's per-record runner does); every good event stored with ONE `INSERT ... FORMAT
//! JSONEachRow` per invocation. A ClickHouse failure fails the invocation (the event source
//! mapping retries the batch; the ReplacingMergeTree makes the retry harmless).
//!
//! Order: the INSERT first, the dead letters after it. If dead-lettering fails the invocation
//! fails and the retry inserts the same rows again (idempotent); the other order would publish a
//! record's dead letter again on every retry caused by a ClickHouse outage.

use crate::clickhouse::{ClickHouse, ClickHouseError};
use crate::row::{AuditRow, Position};
use crate::schema::EVENTS;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use servicehub_events::Topic;
use servicehub_events::lambda_kafka::{TriggerError, TriggerRecord, decode_trigger};
use servicehub_platform::consumer::{BatchError, send_to_dlq};
use servicehub_platform::kafka::EventProducer;
use servicehub_platform::report::Reporter;
use std::collections::HashSet;
use thiserror::Error;

/// What one batch did, returned as the invocation's result (and logged).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SinkReport {
    pub records: usize,
    /// Rows sent to ClickHouse (one per distinct event id in the batch).
    pub stored: usize,
    /// Records whose event id appeared earlier in the same batch.
    pub duplicates_in_batch: usize,
    pub dead_lettered: usize,
}

#[derive(Debug, Error)]
pub enum SinkError {
    #[error(transparent)]
    NotAKafkaTrigger(#[from] TriggerError),
    /// Transient: the invocation fails and the batch is retried.
    #[error("storing {rows} events in ClickHouse failed, the batch will be retried: {source}")]
    Store {
        rows: usize,
        #[source]
        source: ClickHouseError,
    },
    #[error("record {position} could not be dead-lettered, the batch will be retried: {reason}")]
    DeadLetterFailed { position: String, reason: String },
}

/// The rows of a decoded batch (one per distinct event id, in batch order) and the records that
/// did not decode, with why.
pub struct Sorted<'a> {
    pub rows: Vec<AuditRow>,
    pub duplicates: usize,
    pub undecodable: Vec<(&'a TriggerRecord, String)>,
}

/// Splits `records` into rows to store and records to dead-letter, dropping repeated event ids.
pub fn sort_records(records: &[TriggerRecord]) -> Sorted<'_> {
    let ingested_at = Utc::now();
    let mut seen = HashSet::with_capacity(records.len());
    let mut sorted = Sorted {
        rows: Vec::with_capacity(records.len()),
        duplicates: 0,
        undecodable: Vec::new(),
    };
    for record in records {
        match &record.envelope {
            Err(error) => sorted.undecodable.push((record, error.to_string())),
            Ok(envelope) if !seen.insert(envelope.meta.id) => sorted.duplicates += 1,
            Ok(envelope) => {
                let position = Position {
                    topic: record.position.topic.clone(),
                    partition: i32::try_from(record.position.partition).unwrap_or(-1),
                    offset: record.position.offset,
                };
                sorted
                    .rows
                    .push(AuditRow::new(envelope, &position, ingested_at));
            }
        }
    }
    sorted
}

/// `JSONEachRow`: one object per line.
pub fn json_each_row(rows: &[AuditRow]) -> String {
    let mut body = String::with_capacity(rows.len() * 1024);
    for row in rows {
        // AuditRow has only strings and numbers: serializing cannot fail.
        body.push_str(&serde_json::to_string(row).unwrap_or_default());
        body.push('\n');
    }
    body
}

/// Processes one trigger payload on behalf of the sink `reporter` speaks for, and stores the
/// sink's own `audit.performance_metric` events when due. It stores them straight in ClickHouse
/// rather than publishing them: on audit-events each would trigger the sink again, for ever.
pub async fn process_batch(
    payload: &Value,
    producer: &EventProducer,
    reporter: &Reporter,
    clickhouse: &ClickHouse,
) -> Result<SinkReport, SinkError> {
    let started = std::time::Instant::now();
    let result = store_batch(payload, reporter.component(), producer, clickhouse, started).await;
    let items = result.as_ref().map_or(0, |report| report.records as u64);
    reporter.record("handle_batch", started.elapsed(), items);
    let own_metrics = reporter.take_due();
    if !own_metrics.is_empty() {
        // Never on Kafka, so no position; the table's key is the event id.
        let position = Position {
            topic: Topic::AuditEvents.name().to_owned(),
            partition: -1,
            offset: None,
        };
        let now = Utc::now();
        let rows: Vec<_> = own_metrics
            .iter()
            .map(|metric| AuditRow::new(metric, &position, now))
            .collect();
        if let Err(error) = clickhouse
            .insert_json_each_row(EVENTS, json_each_row(&rows))
            .await
        {
            tracing::warn!(%error, "could not store the sink's own performance metrics");
        }
    }
    result
}

/// `started`: when the batch arrived; its log line and EMF metric share the reporter's clock.
async fn store_batch(
    payload: &Value,
    consumer: &str,
    producer: &EventProducer,
    clickhouse: &ClickHouse,
    started: std::time::Instant,
) -> Result<SinkReport, SinkError> {
    let trigger = decode_trigger(payload)?;
    let sorted = sort_records(&trigger.records);
    let mut report = SinkReport {
        records: trigger.records.len(),
        stored: sorted.rows.len(),
        duplicates_in_batch: sorted.duplicates,
        dead_lettered: 0,
    };
    if !sorted.rows.is_empty() {
        let insert_started = std::time::Instant::now();
        if let Err(source) = clickhouse
            .insert_json_each_row(EVENTS, json_each_row(&sorted.rows))
            .await
        {
            tracing::warn!(rows = sorted.rows.len(), error = %source, "ClickHouse insert failed, failing the batch for a retry");
            return Err(SinkError::Store {
                rows: sorted.rows.len(),
                source,
            });
        }
        servicehub_platform::telemetry::emit_metric(
            consumer,
            "ClickHouseInsertMs",
            insert_started.elapsed().as_secs_f64() * 1000.0,
            "Milliseconds",
        );
    }
    for (record, reason) in &sorted.undecodable {
        send_to_dlq(record, consumer, reason, producer)
            .await
            .map_err(|e| match e {
                BatchError::DeadLetterFailed { position, reason } => {
                    SinkError::DeadLetterFailed { position, reason }
                }
                other => SinkError::DeadLetterFailed {
                    position: record.position.to_string(),
                    reason: other.to_string(),
                },
            })?;
        report.dead_lettered += 1;
    }
    tracing::info!(
        records = report.records,
        stored = report.stored,
        duplicates_in_batch = report.duplicates_in_batch,
        dead_lettered = report.dead_lettered,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "batch stored"
    );
    servicehub_platform::telemetry::emit_metrics(
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

#[cfg(test)]
mod tests {
    use super::*;
    use servicehub_events::Envelope;
    use servicehub_events::catalog::PerformanceMetric;
    use servicehub_events::lambda_kafka::{ConsumedRecord, KafkaSource, build_trigger};

    fn metric() -> Envelope {
        Envelope::new(
            "probe",
            PerformanceMetric {
                component: "probe".into(),
                operation: "op".into(),
                duration_ms: 1.5,
                items: 3,
                at: Utc::now(),
            },
        )
    }

    fn consumed(message: servicehub_events::KafkaMessage, offset: i64) -> ConsumedRecord {
        ConsumedRecord::new(message, 1, offset)
    }

    #[test]
    fn duplicates_are_dropped_and_bad_records_set_aside() {
        let (a, b) = (metric(), metric());
        let mut garbage = a.to_kafka();
        garbage.value = Some(b"{not json".to_vec());
        let records = vec![
            consumed(a.to_kafka(), 0),
            consumed(b.to_kafka(), 1),
            consumed(a.to_kafka(), 2),
            consumed(garbage, 3),
        ];
        let payload = serde_json::to_value(build_trigger(
            &KafkaSource::SelfManaged,
            "127.0.0.1:9092",
            &records,
        ))
        .unwrap();
        let trigger = decode_trigger(&payload).unwrap();
        let sorted = sort_records(&trigger.records);
        assert_eq!(sorted.rows.len(), 2);
        assert_eq!(sorted.rows[0].event_id, a.meta.id);
        assert_eq!(sorted.rows[1].event_id, b.meta.id);
        assert_eq!(sorted.rows[0].offset, 0);
        assert_eq!(sorted.duplicates, 1);
        assert_eq!(sorted.undecodable.len(), 1);
        let body = json_each_row(&sorted.rows);
        assert_eq!(body.lines().count(), 2);
        let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
        assert_eq!(first["event_type"], "audit.performance_metric");
        assert_eq!(first["actor_service"], "probe");
        assert_eq!(first["topic"], "audit-events");
    }
}
