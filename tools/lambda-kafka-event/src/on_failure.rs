//! A failed record as it goes to a Kafka on-failure destination: the original key, value and
//! headers, plus `dlq_*` headers saying who gave up on it, why, and where it came from, so that
//! it can be inspected and replayed (servicehub's consumers write their own dead letters the
//! same way, and `servicehub-admin dlq` reads both).

use crate::KafkaMessage;
use chrono::{DateTime, Utc};

pub const HEADER_REASON: &str = "dlq_reason";
pub const HEADER_CONSUMER: &str = "dlq_consumer";
pub const HEADER_SOURCE_TOPIC: &str = "dlq_source_topic";
pub const HEADER_SOURCE_PARTITION: &str = "dlq_source_partition";
pub const HEADER_SOURCE_OFFSET: &str = "dlq_source_offset";
pub const HEADER_FAILED_AT: &str = "dlq_failed_at";

/// Where a failure came from and why.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    pub topic: &'a str,
    pub partition: i64,
    /// `None` when the record was too broken to carry one (the header stays empty).
    pub offset: Option<i64>,
    pub consumer: &'a str,
    pub reason: &'a str,
    pub at: DateTime<Utc>,
}

/// The record to produce to `destination` for `message`, which failed as `failure` says.
pub fn failed_record(
    message: &KafkaMessage,
    failure: Failure<'_>,
    destination: &str,
) -> KafkaMessage {
    let mut headers = message.headers.clone();
    let offset = failure.offset.map(|o| o.to_string()).unwrap_or_default();
    for (name, value) in [
        (HEADER_REASON, failure.reason.to_owned()),
        (HEADER_CONSUMER, failure.consumer.to_owned()),
        (HEADER_SOURCE_TOPIC, failure.topic.to_owned()),
        (HEADER_SOURCE_PARTITION, failure.partition.to_string()),
        (HEADER_SOURCE_OFFSET, offset),
        (HEADER_FAILED_AT, failure.at.to_rfc3339()),
    ] {
        headers.push((name.to_owned(), value.into_bytes()));
    }
    KafkaMessage {
        topic: destination.to_owned(),
        key: message.key.clone(),
        headers,
        value: message.value.clone(),
    }
}
