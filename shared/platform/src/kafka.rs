//! The Kafka producer every function shares: `acks=all`, idempotent, compressed; every send is
//! awaited before a function returns, so an invocation that succeeded has its records on the broker.

use crate::config::Config;
use crate::kafka_connection::{ClientSettings, IamTokens, KafkaAuth, KafkaSetupError};
use futures::channel::oneshot;
use futures::future::join_all;
use rdkafka::client::OAuthToken;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext};
use servicehub_events::KafkaMessage;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("producing to {topic} failed: {error}")]
pub struct ProduceError {
    pub topic: String,
    pub error: KafkaError,
}

/// How long one poll of the delivery reports blocks. rdkafka's own `FutureProducer` polls for
/// 100 ms at a time, and each poll spins through its last, sub-millisecond part (its timeout is
/// truncated to whole milliseconds, so the final waits are 0 ms): about 1 % of a core per idle
/// producer, far more on a busy machine. A poll still returns as soon as a report arrives; a
/// longer one only spins 1/10 as often.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a function's init waits for an authenticating cluster to accept or refuse it.
const ACCEPTANCE_BUDGET: Duration = Duration::from_secs(5);

type DeliverySender = oneshot::Sender<Result<(), KafkaError>>;

/// The context of every servicehub Kafka client: signs MSK IAM tokens when librdkafka asks for
/// one, remembers the cluster refusing the client, and (for the producer) completes each record's
/// delivery future from librdkafka's delivery report. Operator tools' consumers use it too, so
/// they authenticate exactly as the functions do.
pub struct KafkaClientContext {
    iam: Option<IamTokens>,
    refusal: std::sync::Mutex<Option<String>>,
}

impl KafkaClientContext {
    pub fn new(settings: &ClientSettings) -> KafkaClientContext {
        KafkaClientContext {
            iam: settings.iam.clone(),
            refusal: Default::default(),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for KafkaClientContext {}

impl ClientContext for KafkaClientContext {
    // Only OAUTHBEARER (KAFKA_AUTH=iam) ever asks for a token.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn error(&self, error: KafkaError, reason: &str) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
        ) || reason.contains("SSL handshake failed");
        if refused {
            *self.refusal.lock().expect("not poisoned") = Some(reason.to_owned());
        }
        tracing::warn!(%error, reason, "librdkafka");
    }

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let iam = self
            .iam
            .as_ref()
            .ok_or("OAUTHBEARER needs KAFKA_AUTH=iam")?;
        let (token, lifetime_ms) = iam.token()?;
        Ok(OAuthToken {
            token,
            principal_name: String::new(),
            lifetime_ms,
        })
    }
}

impl ProducerContext for KafkaClientContext {
    type DeliveryOpaque = Box<DeliverySender>;

    fn delivery(&self, result: &DeliveryResult<'_>, sender: Box<DeliverySender>) {
        // Nobody waits for a detached record's report.
        let _ = sender.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }
}

/// The producer and the thread that serves its delivery reports; the thread stops within a
/// poll once the last clone of the [`EventProducer`] is gone.
struct Polled {
    producer: Arc<BaseProducer<KafkaClientContext>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Polled {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone)]
pub struct EventProducer {
    polled: Arc<Polled>,
    delivery_timeout: Duration,
    /// Topics the cluster was seen to have (topics are not deleted under a running system).
    known_topics: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    bootstrap_servers: Arc<str>,
}

impl EventProducer {
    /// A producer for a configuration that needs nothing looked up in AWS (a bootstrap string,
    /// no secrets, no IAM): tests and local tools. Functions use [`EventProducer::connect`].
    pub fn new(config: &Config) -> Result<EventProducer, KafkaSetupError> {
        EventProducer::with_settings(&config.service_name, config.kafka.resolve_locally()?)
    }

    /// The producer a function builds once per execution environment: looks up what
    /// `KAFKA_AUTH`, `MSK_CLUSTER_ARN` and the secrets name, and when the cluster authenticates
    /// clients, checks that it accepts this one, so wrong credentials are an init error naming
    /// the setting to fix. An unreachable cluster is not an error here: the outbox keeps what
    /// cannot be published until it is back.
    pub async fn connect(config: &Config) -> Result<EventProducer, KafkaSetupError> {
        let settings = config.kafka.resolve().await?;
        let auth = settings.auth;
        let producer = EventProducer::with_settings(&config.service_name, settings.clone())?;
        if auth != KafkaAuth::Plaintext {
            producer.check_accepted(&settings).await?;
        }
        Ok(producer)
    }

    fn with_settings(
        service_name: &str,
        settings: ClientSettings,
    ) -> Result<EventProducer, KafkaSetupError> {
        let mut client = ClientConfig::new();
        client
            .set("client.id", service_name)
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
        settings.apply_to(&mut client);
        let context = KafkaClientContext::new(&settings);
        let producer: Arc<BaseProducer<KafkaClientContext>> =
            Arc::new(client.create_with_context(context)?);
        let stop = Arc::new(AtomicBool::new(false));
        let (polled_producer, polled_stop) = (producer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kafka-delivery".into())
            .spawn(move || {
                while !polled_stop.load(Ordering::Relaxed) {
                    polled_producer.poll(POLL_INTERVAL);
                }
            })
            .map_err(|e| KafkaError::ClientCreation(format!("the delivery thread: {e}")))?;
        Ok(EventProducer {
            bootstrap_servers: settings.properties["bootstrap.servers"].as_str().into(),
            polled: Arc::new(Polled { producer, stop }),
            known_topics: Default::default(),
            // librdkafka fails a record after message.timeout.ms (10 s): a little slack on top.
            delivery_timeout: Duration::from_secs(15),
        })
    }

    /// Waits (at most [`ACCEPTANCE_BUDGET`]) until a broker answers a metadata request or the
    /// cluster refuses the client. The connection it opens is the one the first send uses, so
    /// on a healthy cluster this moves work earlier rather than adding it.
    async fn check_accepted(&self, settings: &ClientSettings) -> Result<(), KafkaSetupError> {
        let deadline = Instant::now() + ACCEPTANCE_BUDGET;
        loop {
            let producer = self.polled.producer.clone();
            let answered = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, Duration::from_millis(500))
                    .is_ok()
            })
            .await
            .unwrap_or(false);
            if answered {
                return Ok(());
            }
            let refusal = self
                .polled
                .producer
                .context()
                .refusal
                .lock()
                .expect("not poisoned")
                .take();
            if let Some(reason) = refusal {
                return Err(settings.refused(reason));
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    "no Kafka broker answered within {ACCEPTANCE_BUDGET:?}; publishing goes on trying (the outbox keeps what waits)"
                );
                return Ok(());
            }
        }
    }

    /// The bootstrap string in use (given, or discovered from the MSK cluster).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// How many brokers and topics the cluster has (one metadata request).
    pub async fn describe_cluster(&self) -> Result<(usize, usize), KafkaError> {
        let producer = self.polled.producer.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(None, Duration::from_secs(5))?;
            Ok((metadata.brokers().len(), metadata.topics().len()))
        })
        .await
        .map_err(|_| KafkaError::MetadataFetch(RDKafkaErrorCode::Fail))?
    }

    /// Whether the cluster has `topic`, asked once per topic that exists: false only when a
    /// broker answers that it does not know the topic; an unreachable cluster is an error, not a
    /// "no" (an outage is not a missing topic). A send to a missing topic would wait
    /// `message.timeout.ms` for nothing; this answers within a metadata round trip.
    pub async fn has_topic(&self, topic: &str) -> Result<bool, KafkaError> {
        if self
            .known_topics
            .lock()
            .expect("not poisoned")
            .contains(topic)
        {
            return Ok(true);
        }
        let producer = self.polled.producer.clone();
        let name = topic.to_owned();
        let exists = tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&name), Duration::from_secs(2))?;
            Ok::<_, KafkaError>(!metadata.topics().iter().any(|t| {
                t.name() == name
                    && t.error() == Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            }))
        })
        .await
        .map_err(|_| KafkaError::MetadataFetch(RDKafkaErrorCode::Fail))??;
        if exists {
            self.known_topics
                .lock()
                .expect("not poisoned")
                .insert(topic.to_owned());
        }
        Ok(exists)
    }

    /// Sends one record and waits until the broker has it (or librdkafka gives up on it after
    /// `message.timeout.ms`).
    pub async fn send(&self, message: &KafkaMessage) -> Result<(), ProduceError> {
        let failed = |error| ProduceError {
            topic: message.topic.clone(),
            error,
        };
        let (sender, delivered) = oneshot::channel();
        self.enqueue(message, sender).await.map_err(failed)?;
        match tokio::time::timeout(self.delivery_timeout, delivered).await {
            Ok(Ok(result)) => result.map_err(failed),
            // The report was dropped (the producer is shutting down).
            Ok(Err(_)) => Err(failed(KafkaError::Canceled)),
            Err(_) => Err(failed(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            ))),
        }
    }

    /// Hands one record to the producer without waiting for the broker: best effort, for what
    /// must never hold up an answer (metrics, error reports). The producer delivers it in the
    /// background with the same guarantees; a failure is only logged.
    pub fn send_detached(&self, message: &KafkaMessage) {
        let (sender, _) = oneshot::channel();
        if let Err((error, _)) = self.polled.producer.send(Self::record(message, sender)) {
            tracing::warn!(topic = %message.topic, %error, "could not queue a best-effort record");
        }
    }

    /// Puts `message` on the producer's queue; a full queue is waited out (it drains as
    /// deliveries complete) for at most the delivery timeout.
    async fn enqueue(
        &self,
        message: &KafkaMessage,
        sender: DeliverySender,
    ) -> Result<(), KafkaError> {
        let deadline = Instant::now() + self.delivery_timeout;
        let mut record = Self::record(message, sender);
        loop {
            match self.polled.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    fn record(
        message: &KafkaMessage,
        sender: DeliverySender,
    ) -> BaseRecord<'_, [u8], [u8], Box<DeliverySender>> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
        for (name, value) in &message.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let mut record =
            BaseRecord::with_opaque_to(&message.topic, Box::new(sender)).headers(headers);
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
        matches!(self.has_topic(topic).await, Ok(false))
    }
}
