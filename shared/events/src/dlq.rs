//! The dead-letter record: the original key, value and headers, plus headers saying who gave up
//! on it, why, and where it came from, so that it can be inspected and replayed.

use crate::kafka::KafkaMessage;
use crate::lambda_kafka::TriggerRecord;
use crate::topic::DLQ_SUFFIX;
use chrono::{DateTime, Utc};
use lambda_kafka_event::on_failure::{Failure, failed_record};

// One format with the records the local runner writes to a mapping's on-failure destination.
pub use lambda_kafka_event::on_failure::{
    HEADER_CONSUMER, HEADER_FAILED_AT, HEADER_REASON, HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION, HEADER_SOURCE_TOPIC,
};

/// The record to produce to `<topic>.dlq` for a trigger record `consumer` could not process.
pub fn dead_letter(
    record: &TriggerRecord,
    consumer: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> KafkaMessage {
    dead_letter_of(
        &record.raw,
        &record.position.topic,
        record.position.partition,
        record.position.offset,
        consumer,
        reason,
        at,
    )
}

/// The record to produce to `<topic>.dlq` for `message`, read at `topic`/`partition`/`offset`
/// (an unknown offset stays empty): the original key, value and headers plus the `dlq_*` headers.
pub fn dead_letter_of(
    message: &KafkaMessage,
    topic: &str,
    partition: i64,
    offset: Option<i64>,
    consumer: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> KafkaMessage {
    let failure = Failure {
        topic,
        partition,
        offset,
        consumer,
        reason,
        at,
    };
    failed_record(message, failure, &format!("{topic}{DLQ_SUFFIX}"))
}

/// Set on a record replayed from a dead-letter topic: `<dlq topic>/<partition>/<offset>`.
pub const HEADER_REPLAYED_FROM: &str = "dlq_replayed_from";

/// A record read back from a `<topic>.dlq` topic: why and by whom it was given up on, where it
/// came from, and the original record as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub reason: String,
    pub consumer: String,
    pub source_topic: String,
    pub source_partition: Option<i64>,
    pub source_offset: Option<i64>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The original record: its topic, key, value and headers (the `dlq_*` ones removed).
    pub original: KafkaMessage,
}

impl DeadLetter {
    /// Reads a dead-letter record; `None` when it carries no `dlq_source_topic` (it is not one).
    pub fn parse(message: &KafkaMessage) -> Option<DeadLetter> {
        let text = |name: &str| {
            message
                .header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let number = |name: &str| text(name).and_then(|v| v.parse().ok());
        let source_topic = text(HEADER_SOURCE_TOPIC).filter(|t| !t.is_empty())?;
        Some(DeadLetter {
            reason: text(HEADER_REASON).unwrap_or_default(),
            consumer: text(HEADER_CONSUMER).unwrap_or_default(),
            source_partition: number(HEADER_SOURCE_PARTITION),
            source_offset: number(HEADER_SOURCE_OFFSET),
            failed_at: text(HEADER_FAILED_AT)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
            original: KafkaMessage {
                topic: source_topic.clone(),
                key: message.key.clone(),
                headers: message
                    .headers
                    .iter()
                    .filter(|(name, _)| !name.starts_with("dlq_"))
                    .cloned()
                    .collect(),
                value: message.value.clone(),
            },
            source_topic,
        })
    }

    /// The record that replays this one to its source topic: the original key, value and
    /// headers, plus where it was replayed from. Consumers are idempotent by event id, so a
    /// record they had applied after all changes nothing.
    pub fn replay(&self, dlq_topic: &str, partition: i32, offset: i64) -> KafkaMessage {
        let mut message = self.original.clone();
        message.headers.push((
            HEADER_REPLAYED_FROM.to_owned(),
            format!("{dlq_topic}/{partition}/{offset}").into_bytes(),
        ));
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_reads_back_and_replays_as_the_original() {
        let original = KafkaMessage {
            topic: "request-events".into(),
            key: Some(b"0190a5a4-7b1e-7cc0-8a2b-000000000001".to_vec()),
            headers: vec![("ce_type".into(), b"request.created".to_vec())],
            value: Some(b"{\"id\":1}".to_vec()),
        };
        let at = Utc::now();
        let letter = dead_letter_of(
            &original,
            "request-events",
            4,
            Some(17),
            "assign-manager",
            "request 1 does not exist",
            at,
        );
        assert_eq!(letter.topic, "request-events.dlq");
        let read = DeadLetter::parse(&letter).unwrap();
        assert_eq!(read.reason, "request 1 does not exist");
        assert_eq!(read.consumer, "assign-manager");
        assert_eq!(
            (read.source_partition, read.source_offset),
            (Some(4), Some(17))
        );
        assert_eq!(
            read.failed_at.map(|t| t.timestamp_micros()),
            Some(at.timestamp_micros())
        );
        assert_eq!(read.original, original);
        let replay = read.replay("request-events.dlq", 2, 9);
        assert_eq!(replay.topic, "request-events");
        assert_eq!(replay.key, original.key);
        assert_eq!(replay.value, original.value);
        assert_eq!(
            replay.header(HEADER_REPLAYED_FROM),
            Some(&b"request-events.dlq/2/9"[..])
        );
        assert_eq!(replay.header("ce_type"), Some(&b"request.created"[..]));
        assert!(replay.header(HEADER_REASON).is_none());
    }

    #[test]
    fn a_record_without_a_source_is_not_a_dead_letter() {
        let message = KafkaMessage {
            topic: "request-events.dlq".into(),
            key: None,
            headers: vec![],
            value: None,
        };
        assert!(DeadLetter::parse(&message).is_none());
    }
}
