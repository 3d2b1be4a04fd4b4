//! What a Lambda Kafka event source mapping hands a function, built exactly as AWS shapes it
//! (Amazon MSK: `eventSource` `aws:kafka` with `eventSourceArn`; self-managed Kafka:
//! `SelfManagedKafka`), and the record it writes to a `kafka://` on-failure destination.
//!
//! The local runner builds these payloads; a function decodes them (servicehub's own decoding,
//! record by record into its event envelopes, lives in `servicehub-events`). Nothing here knows
//! servicehub.
//!
//! The wire types are ours rather than `aws_lambda_events`' because its `MillisecondTimestamp`
//! (1.2.1) writes the timestamp as a JSON string where AWS sends a number, reads it through an
//! `f64` (losing a millisecond), and panics on a fractional value.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod on_failure;

pub const EVENT_SOURCE_MSK: &str = "aws:kafka";
pub const EVENT_SOURCE_SELF_MANAGED: &str = "SelfManagedKafka";

/// A record as it is produced to or consumed from Kafka, independent of the client library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaMessage {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub value: Option<Vec<u8>>,
}

impl KafkaMessage {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A record an rdkafka consumer read (feature `rdkafka`): its topic, key, headers and value.
    #[cfg(feature = "rdkafka")]
    pub fn from_rdkafka(message: &impl rdkafka::Message) -> KafkaMessage {
        use rdkafka::message::Headers as _;
        KafkaMessage {
            topic: message.topic().to_owned(),
            key: message.key().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default(),
            value: message.payload().map(<[u8]>::to_vec),
        }
    }
}

/// Where the batch came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaSource {
    Msk { cluster_arn: String },
    SelfManaged,
}

/// The Kafka trigger payload exactly as AWS sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaEvent {
    pub event_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Keyed by `"<topic>-<partition>"`.
    pub records: BTreeMap<String, Vec<KafkaRecord>>,
}

/// One record of [`KafkaEvent`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRecord {
    #[serde(default)]
    pub topic: Option<String>,
    pub partition: i64,
    pub offset: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    #[serde(default)]
    pub timestamp_type: Option<String>,
    /// Base64.
    pub key: Option<String>,
    /// Base64.
    pub value: Option<String>,
    /// Each header a one-entry map of name to its bytes, as signed bytes (Java's `byte`).
    #[serde(default)]
    pub headers: Vec<BTreeMap<String, Vec<i8>>>,
}

/// One consumed record, as the event source mapping sees it, for [`build_trigger`].
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    pub message: KafkaMessage,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub timestamp_type: String,
}

impl ConsumedRecord {
    /// `message` as read from `partition` at `offset` just now (`CREATE_TIME`), for payloads a
    /// test or tool builds without a broker round trip.
    pub fn new(message: KafkaMessage, partition: i32, offset: i64) -> ConsumedRecord {
        ConsumedRecord {
            message,
            partition,
            offset,
            timestamp: Utc::now(),
            timestamp_type: "CREATE_TIME".into(),
        }
    }
}

/// Builds the payload an event source mapping sends for `records`, exactly as AWS shapes it:
/// grouped by `"<topic>-<partition>"`, base64 key and value, headers as signed bytes.
pub fn build_trigger(
    source: &KafkaSource,
    bootstrap_servers: &str,
    records: &[ConsumedRecord],
) -> KafkaEvent {
    let mut groups: BTreeMap<String, Vec<KafkaRecord>> = BTreeMap::new();
    for consumed in records {
        let record = KafkaRecord {
            topic: Some(consumed.message.topic.clone()),
            partition: i64::from(consumed.partition),
            offset: consumed.offset,
            timestamp: consumed.timestamp.timestamp_millis(),
            timestamp_type: Some(consumed.timestamp_type.clone()),
            key: consumed.message.key.as_ref().map(|k| BASE64.encode(k)),
            value: consumed.message.value.as_ref().map(|v| BASE64.encode(v)),
            headers: consumed
                .message
                .headers
                .iter()
                .map(|(name, value)| {
                    BTreeMap::from([(name.clone(), value.iter().map(|b| *b as i8).collect())])
                })
                .collect(),
        };
        groups
            .entry(format!("{}-{}", consumed.message.topic, consumed.partition))
            .or_default()
            .push(record);
    }
    let (event_source, event_source_arn) = match source {
        KafkaSource::Msk { cluster_arn } => (EVENT_SOURCE_MSK, Some(cluster_arn.clone())),
        KafkaSource::SelfManaged => (EVENT_SOURCE_SELF_MANAGED, None),
    };
    KafkaEvent {
        event_source: event_source.to_owned(),
        event_source_arn,
        bootstrap_servers: Some(bootstrap_servers.to_owned()),
        records: groups,
    }
}
