//! The Kafka producer every function shares: `acks=all`, idempotent, compressed; every send is
//! awaited before a function returns, so an invocation that succeeded has its records on the broker.

use crate::config::Config;
use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use servicehub_events::KafkaMessage;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("producing to {topic} failed: {error}")]
pub struct ProduceError {
    pub topic: String,
    pub error: rdkafka::error::KafkaError,
}

#[derive(Clone)]
pub struct EventProducer {
    producer: FutureProducer,
    delivery_timeout: Duration,
}

impl EventProducer {
    pub fn new(config: &Config) -> Result<EventProducer, rdkafka::error::KafkaError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.kafka_bootstrap_servers)
            .set("client.id", &config.service_name)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            // Lambda invocations are short: batch briefly, fail a delivery within the timeout.
            .set("linger.ms", "2")
            .set("message.timeout.ms", "10000")
            .set("socket.keepalive.enable", "true");
        for (name, value) in &config.kafka_properties {
            client.set(name, value);
        }
        Ok(EventProducer {
            producer: client.create()?,
            delivery_timeout: Duration::from_secs(10),
        })
    }

    /// Sends one record and waits until the broker has it.
    pub async fn send(&self, message: &KafkaMessage) -> Result<(), ProduceError> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
        for (name, value) in &message.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&message.topic).headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &message.value {
            record = record.payload(value.as_slice());
        }
        self.producer
            .send(record, self.delivery_timeout)
            .await
            .map(|_| ())
            .map_err(|(error, _)| ProduceError {
                topic: message.topic.clone(),
                error,
            })
    }

    /// Sends all records concurrently (one key's records keep their order: the producer is
    /// idempotent) and waits for every delivery. Returns one result per record, in order.
    pub async fn send_all(&self, messages: &[KafkaMessage]) -> Vec<Result<(), ProduceError>> {
        join_all(messages.iter().map(|m| self.send(m))).await
    }
}
