//! The Kafka producer every function shares: `acks=all`, idempotent, compressed; every send is
//! awaited before a function returns, so an invocation that succeeded has its records on the broker.

use crate::config::Config;
use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaRespErr;
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
            .set("socket.keepalive.enable", "true")
            // librdkafka backs reconnects off up to 10 s by default: after a broker outage the
            // producer would sit idle for that long after the broker is back.
            .set("reconnect.backoff.max.ms", "1000");
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
        self.producer
            .send(Self::record(message), self.delivery_timeout)
            .await
            .map(|_| ())
            .map_err(|(error, _)| ProduceError {
                topic: message.topic.clone(),
                error,
            })
    }

    /// Hands one record to the producer without waiting for the broker: best effort, for what
    /// must never hold up an answer (metrics, error reports). The producer delivers it in the
    /// background with the same guarantees; a failure is only logged.
    pub fn send_detached(&self, message: &KafkaMessage) {
        let topic = message.topic.clone();
        match self.producer.send_result(Self::record(message)) {
            // The delivery future is dropped: librdkafka still delivers (or times out) the record.
            Ok(_delivery) => {}
            Err((error, _)) => {
                tracing::warn!(%topic, %error, "could not queue a best-effort record")
            }
        }
    }

    fn record(message: &KafkaMessage) -> FutureRecord<'_, [u8], [u8]> {
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
        record
    }

    /// Sends all records concurrently (one key's records keep their order: the producer is
    /// idempotent) and waits for every delivery. Returns one result per record, in order.
    pub async fn send_all<'a>(
        &self,
        messages: impl IntoIterator<Item = &'a KafkaMessage>,
    ) -> Vec<Result<(), ProduceError>> {
        join_all(messages.into_iter().map(|m| self.send(m))).await
    }

    /// Whether a reachable broker says `topic` does not exist. False when no broker answers:
    /// an outage is not a missing topic.
    pub async fn topic_is_missing(&self, topic: &str) -> bool {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            match producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
            {
                Ok(metadata) => metadata.topics().iter().any(|t| {
                    t.name() == topic
                        && t.error()
                            == Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                }),
                Err(_) => false,
            }
        })
        .await
        .unwrap_or(false)
    }
}
