//! The payload Lambda receives from a Kafka event source mapping (Amazon MSK: `eventSource`
//! `aws:kafka` with `eventSourceArn`; self-managed Kafka: `SelfManagedKafka`), decoded record by
//! record. One bad record never fails the batch: it comes back as an error with its position,
//! so the function can dead-letter it and go on.
//!
//! The wire types and the payload builder are `lambda-kafka-event`'s, which the local runner
//! shares without knowing servicehub.

use crate::envelope::Envelope;
use crate::error::RecordError;
use crate::kafka::KafkaMessage;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use thiserror::Error;

pub use lambda_kafka_event::{
    ConsumedRecord, EVENT_SOURCE_MSK, EVENT_SOURCE_SELF_MANAGED, KafkaEvent, KafkaRecord,
    KafkaSource, build_trigger,
};

/// Where a record sits in Kafka.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordPosition {
    pub topic: String,
    pub partition: i64,
    /// Absent only when the trigger record is too broken to carry one.
    pub offset: Option<i64>,
}

impl std::fmt::Display for RecordPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{}-{}@{}", self.topic, self.partition, offset),
            None => write!(f, "{}-{}@?", self.topic, self.partition),
        }
    }
}

/// One record of the batch: its position, its raw bytes (what a DLQ must keep) and the decoded
/// envelope or the reason it could not be decoded.
#[derive(Debug, Clone)]
pub struct TriggerRecord {
    pub position: RecordPosition,
    pub timestamp: Option<DateTime<Utc>>,
    pub raw: KafkaMessage,
    pub envelope: Result<Envelope, RecordError>,
}

/// A decoded Kafka trigger payload, records in partition order.
#[derive(Debug, Clone)]
pub struct KafkaTrigger {
    pub source: KafkaSource,
    pub bootstrap_servers: Option<String>,
    pub records: Vec<TriggerRecord>,
}

/// The payload as a whole is not a Kafka trigger: nothing can be attributed to a record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TriggerError {
    #[error("not a Kafka trigger payload: {0}")]
    NotAKafkaEvent(String),
    #[error("unknown eventSource {0:?}: expected aws:kafka or SelfManagedKafka")]
    UnknownEventSource(String),
}

/// Decodes a Kafka trigger payload. Fails only when the payload as a whole is not one.
pub fn decode_trigger(payload: &Value) -> Result<KafkaTrigger, TriggerError> {
    let object = payload
        .as_object()
        .ok_or_else(|| TriggerError::NotAKafkaEvent("the payload is not a JSON object".into()))?;
    let event_source = object.get("eventSource").and_then(Value::as_str);
    let source = match event_source {
        Some(EVENT_SOURCE_MSK) => KafkaSource::Msk {
            cluster_arn: object
                .get("eventSourceArn")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    TriggerError::NotAKafkaEvent("aws:kafka event without eventSourceArn".into())
                })?
                .to_owned(),
        },
        Some(EVENT_SOURCE_SELF_MANAGED) => KafkaSource::SelfManaged,
        Some(other) => return Err(TriggerError::UnknownEventSource(other.to_owned())),
        None => return Err(TriggerError::NotAKafkaEvent("no eventSource".into())),
    };
    let groups = match object.get("records") {
        Some(Value::Object(groups)) => groups,
        Some(Value::Null) | None => &serde_json::Map::new(),
        Some(_) => {
            return Err(TriggerError::NotAKafkaEvent(
                "records is not an object of topic-partition groups".into(),
            ));
        }
    };
    let mut records = Vec::new();
    // Sorted by group name for a stable order; each group keeps Lambda's (offset) order.
    let sorted: BTreeMap<&String, &Value> = groups.iter().collect();
    for (group, items) in sorted {
        let group_position = parse_group_name(group);
        match items.as_array() {
            Some(items) => records.extend(
                items
                    .iter()
                    .map(|item| decode_record(&group_position, item)),
            ),
            None => records.push(broken_record(
                &group_position,
                format!("group {group:?} is not an array of records"),
            )),
        }
    }
    Ok(KafkaTrigger {
        source,
        bootstrap_servers: object
            .get("bootstrapServers")
            .and_then(Value::as_str)
            .map(str::to_owned),
        records,
    })
}

/// `"request-events-3"` -> topic `request-events`, partition 3 (topic names may contain dashes).
fn parse_group_name(group: &str) -> RecordPosition {
    match group.rsplit_once('-') {
        Some((topic, partition)) if partition.parse::<i64>().is_ok() => RecordPosition {
            topic: topic.to_owned(),
            partition: partition.parse().unwrap_or_default(),
            offset: None,
        },
        _ => RecordPosition {
            topic: group.to_owned(),
            partition: -1,
            offset: None,
        },
    }
}

fn broken_record(position: &RecordPosition, reason: String) -> TriggerRecord {
    TriggerRecord {
        position: position.clone(),
        timestamp: None,
        raw: KafkaMessage {
            topic: position.topic.clone(),
            key: None,
            headers: vec![],
            value: None,
        },
        envelope: Err(RecordError::MalformedRecord(reason)),
    }
}

fn decode_record(group: &RecordPosition, item: &Value) -> TriggerRecord {
    let record: KafkaRecord = match serde_json::from_value(item.clone()) {
        Ok(record) => record,
        Err(error) => {
            let mut position = group.clone();
            position.offset = item.get("offset").and_then(Value::as_i64);
            // Keep the bytes so the dead letter still carries the payload: the record's value
            // when it decodes, else the whole trigger record as JSON.
            let mut broken = broken_record(&position, error.to_string());
            broken.raw.value = item
                .get("value")
                .and_then(Value::as_str)
                .and_then(|v| BASE64.decode(v).ok())
                .or_else(|| Some(item.to_string().into_bytes()));
            return broken;
        }
    };
    let position = RecordPosition {
        topic: record.topic.clone().unwrap_or_else(|| group.topic.clone()),
        partition: record.partition,
        offset: Some(record.offset),
    };
    let timestamp = DateTime::from_timestamp_millis(record.timestamp);
    let mut headers = Vec::new();
    for map in &record.headers {
        for (name, bytes) in map {
            headers.push((name.clone(), bytes.iter().map(|b| *b as u8).collect()));
        }
    }
    let key = record.key.as_deref().map(|k| BASE64.decode(k));
    let value = record.value.as_deref().map(|v| BASE64.decode(v));
    let mut raw = KafkaMessage {
        topic: position.topic.clone(),
        key: None,
        headers,
        value: None,
    };
    let envelope = (|| {
        raw.key = key.transpose().map_err(|e| RecordError::BadBase64 {
            field: "key",
            error: e.to_string(),
        })?;
        raw.value = value.transpose().map_err(|e| RecordError::BadBase64 {
            field: "value",
            error: e.to_string(),
        })?;
        Envelope::from_kafka(&raw)
    })();
    TriggerRecord {
        position,
        timestamp,
        raw,
        envelope,
    }
}
