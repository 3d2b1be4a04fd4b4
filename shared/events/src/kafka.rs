//! An envelope as a Kafka record: key = subject (the aggregate id), value = CloudEvents JSON,
//! and the type, id and trace context repeated as headers so that brokers, tools and consumers
//! can route or trace without parsing the value.

use crate::envelope::Envelope;
use crate::error::RecordError;

pub const HEADER_TYPE: &str = "ce_type";
pub const HEADER_ID: &str = "ce_id";
pub const HEADER_TRACEPARENT: &str = "traceparent";

pub use lambda_kafka_event::KafkaMessage;

impl Envelope {
    /// The record to produce: to the event's topic, keyed by its subject.
    pub fn to_kafka(&self) -> KafkaMessage {
        let mut headers = vec![
            (
                HEADER_TYPE.to_owned(),
                self.meta.event_type.as_bytes().to_vec(),
            ),
            (HEADER_ID.to_owned(), self.meta.id.to_string().into_bytes()),
        ];
        if let Some(traceparent) = &self.meta.traceparent {
            headers.push((
                HEADER_TRACEPARENT.to_owned(),
                traceparent.as_str().as_bytes().to_vec(),
            ));
        }
        KafkaMessage {
            topic: self.data.topic().name().to_owned(),
            key: Some(self.meta.subject.as_bytes().to_vec()),
            headers,
            value: Some(self.to_json()),
        }
    }

    /// Decodes a consumed record, checking that key and headers agree with the envelope.
    pub fn from_kafka(message: &KafkaMessage) -> Result<Envelope, RecordError> {
        let value = message.value.as_deref().ok_or(RecordError::MissingValue)?;
        let envelope = Envelope::from_json(value)?;
        let check = |header: &'static str, expected: &str| -> Result<(), RecordError> {
            match message.header(header) {
                Some(bytes) if bytes == expected.as_bytes() => Ok(()),
                Some(bytes) => Err(RecordError::HeaderMismatch {
                    header,
                    header_value: String::from_utf8_lossy(bytes).into_owned(),
                    envelope_value: expected.to_owned(),
                }),
                // Headers are a convenience: a record without them is still ours.
                None => Ok(()),
            }
        };
        check(HEADER_TYPE, &envelope.meta.event_type)?;
        check(HEADER_ID, &envelope.meta.id.to_string())?;
        if let Some(key) = &message.key
            && key.as_slice() != envelope.meta.subject.as_bytes()
        {
            return Err(RecordError::KeyMismatch {
                key: String::from_utf8_lossy(key).into_owned(),
                subject: envelope.meta.subject.clone(),
            });
        }
        Ok(envelope)
    }
}
