//! The dead-letter record: the original key, value and headers, plus headers saying who gave up
//! on it, why, and where it came from, so that it can be inspected and replayed.

use crate::kafka::KafkaMessage;
use crate::lambda_kafka::TriggerRecord;
use crate::topic::DLQ_SUFFIX;
use chrono::{DateTime, Utc};

pub const HEADER_REASON: &str = "dlq_reason";
pub const HEADER_CONSUMER: &str = "dlq_consumer";
pub const HEADER_SOURCE_TOPIC: &str = "dlq_source_topic";
pub const HEADER_SOURCE_PARTITION: &str = "dlq_source_partition";
pub const HEADER_SOURCE_OFFSET: &str = "dlq_source_offset";
pub const HEADER_FAILED_AT: &str = "dlq_failed_at";

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
    let mut headers = message.headers.clone();
    let offset = offset.map(|o| o.to_string()).unwrap_or_default();
    for (name, value) in [
        (HEADER_REASON, reason.to_owned()),
        (HEADER_CONSUMER, consumer.to_owned()),
        (HEADER_SOURCE_TOPIC, topic.to_owned()),
        (HEADER_SOURCE_PARTITION, partition.to_string()),
        (HEADER_SOURCE_OFFSET, offset),
        (HEADER_FAILED_AT, at.to_rfc3339()),
    ] {
        headers.push((name.to_owned(), value.into_bytes()));
    }
    KafkaMessage {
        topic: format!("{topic}{DLQ_SUFFIX}"),
        key: message.key.clone(),
        headers,
        value: message.value.clone(),
    }
}
