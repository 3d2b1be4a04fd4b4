//! The event-schema crate: everything two servicehub functions must agree on to talk over Kafka.
//!
//! - [`topic`]: the topic table, the single source for topic creation.
//! - [`envelope`]: the CloudEvents 1.0 envelope with correlation, causation and trace context.
//! - [`catalog`]: one Rust type per event version, and [`DomainEvent`] over all of them.
//! - [`kafka`]: an envelope as a Kafka record (key, headers, JSON value) and back.
//! - [`lambda_kafka`]: the Lambda Kafka trigger payload (MSK and self-managed), decoded per record.
//! - [`schema`]: JSON Schema of every event, committed under `events/schemas/`.

pub mod catalog;
pub mod dlq;
pub mod envelope;
pub mod error;
pub mod kafka;
pub mod lambda_kafka;
pub mod schema;
pub mod topic;
pub mod values;

pub use catalog::{CATALOG, DomainEvent, Event, EventInfo};
pub use envelope::{Envelope, EventMeta, Traceparent};
pub use error::RecordError;
pub use kafka::KafkaMessage;
pub use topic::{Topic, TopicSpec};
