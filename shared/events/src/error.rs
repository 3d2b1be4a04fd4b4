use thiserror::Error;

/// Why one Kafka record could not be turned into an [`crate::Envelope`]. It travels to the DLQ
/// as the reason, so it names the field or header at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the trigger record is malformed: {0}")]
    MalformedRecord(String),
    #[error("{field} is not valid base64: {error}")]
    BadBase64 { field: &'static str, error: String },
    #[error("the record has no value")]
    MissingValue,
    #[error("the value is not a CloudEvents JSON envelope: {0}")]
    NotAnEnvelope(String),
    #[error("unsupported CloudEvents specversion {0:?}")]
    UnsupportedSpecVersion(String),
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    #[error("dataschema {dataschema:?} does not name a known version of {event_type}")]
    UnsupportedVersion {
        event_type: String,
        dataschema: String,
    },
    #[error("the data of {event_type} does not match its schema: {error}")]
    InvalidData { event_type: String, error: String },
    #[error("header {header} is {header_value:?} but the envelope says {envelope_value:?}")]
    HeaderMismatch {
        header: &'static str,
        header_value: String,
        envelope_value: String,
    },
    #[error("the record key {key:?} is not the envelope subject {subject:?}")]
    KeyMismatch { key: String, subject: String },
}
