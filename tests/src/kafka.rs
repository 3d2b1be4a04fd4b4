//! Reading what functions produced: a probe remembers each partition's end offset, then reads
//! everything written after it. Records come back as the event source mapping would see them,
//! ready for [`servicehub_events::lambda_kafka::build_trigger`].

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use servicehub_events::Envelope;
use servicehub_events::lambda_kafka::{ConsumedRecord, KafkaSource, build_trigger};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The MSK cluster the tests' trigger payloads name.
pub const TEST_CLUSTER_ARN: &str =
    "arn:aws:kafka:eu-central-1:123456789012:cluster/servicehub/local";

/// An Amazon MSK trigger payload carrying `records`, as the event source mapping sends it.
pub fn msk_trigger(records: &[ConsumedRecord]) -> Value {
    serde_json::to_value(build_trigger(
        &KafkaSource::Msk {
            cluster_arn: TEST_CLUSTER_ARN.into(),
        },
        &crate::required_env("KAFKA_BOOTSTRAP_SERVERS"),
        records,
    ))
    .expect("a trigger payload serializes")
}

pub struct KafkaProbe {
    topic: String,
    start: BTreeMap<i32, i64>,
}

fn consumer() -> BaseConsumer {
    ClientConfig::new()
        .set(
            "bootstrap.servers",
            crate::required_env("KAFKA_BOOTSTRAP_SERVERS"),
        )
        .set(
            "group.id",
            format!("servicehub-tests-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("creating a Kafka consumer")
}

impl KafkaProbe {
    /// Remembers where every partition of `topic` ends now.
    pub fn new(topic: &str) -> KafkaProbe {
        let consumer = consumer();
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("reading topic metadata");
        let partitions: Vec<i32> = metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| p.id())
            .collect();
        assert!(
            !partitions.is_empty(),
            "topic {topic} does not exist: were the topics created?"
        );
        let start = partitions
            .into_iter()
            .map(|p| {
                let (_, high) = consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .expect("reading watermarks");
                (p, high)
            })
            .collect();
        KafkaProbe {
            topic: topic.to_owned(),
            start,
        }
    }

    /// Everything written since the probe was made, for as long as `wait` passes without
    /// `done` holding; returns as soon as `done` holds for the records read so far.
    pub fn read_until(
        &self,
        wait: Duration,
        done: impl Fn(&[ConsumedRecord]) -> bool,
    ) -> Vec<ConsumedRecord> {
        let consumer = self.consumer_from_the_start();
        let deadline = Instant::now() + wait;
        let mut records = Vec::new();
        while Instant::now() < deadline && !done(&records) {
            if let Some(result) = consumer.poll(Duration::from_millis(100)) {
                let message = result.expect("consuming");
                records.push(local_runner::kafka_trigger::to_record(&message));
            }
        }
        records
    }

    /// A consumer of the topic's partitions from where the probe was made.
    fn consumer_from_the_start(&self) -> BaseConsumer {
        let consumer = consumer();
        let mut assignment = TopicPartitionList::new();
        for (partition, offset) in &self.start {
            assignment
                .add_partition_offset(&self.topic, *partition, Offset::Offset(*offset))
                .expect("assigning a partition");
        }
        consumer.assign(&assignment).expect("assigning partitions");
        consumer
    }

    /// The records with `key`, waiting until `count` have arrived (or `wait` passed).
    pub fn read_key(&self, key: &str, count: usize, wait: Duration) -> Vec<ConsumedRecord> {
        let with_key = |r: &ConsumedRecord| r.message.key.as_deref() == Some(key.as_bytes());
        self.read_until(wait, |records| {
            records.iter().filter(|r| with_key(r)).count() >= count
        })
        .into_iter()
        .filter(with_key)
        .collect()
    }

    /// The envelopes with `key` (decoded), waiting up to `wait` until `count` have arrived.
    pub async fn envelopes(self, key: &str, count: usize, wait: Duration) -> Vec<Envelope> {
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || self.read_key(&key, count, wait))
            .await
            .expect("the Kafka reading task")
            .iter()
            .map(|r| {
                Envelope::from_kafka(&r.message).expect("our functions produce valid envelopes")
            })
            .collect()
    }

    /// The envelopes `select` picks among everything written since the probe was made (the
    /// aggregate's id is not always known beforehand: a document made by a consumer), waiting
    /// up to `wait` until `count` have arrived. Records that are no envelope (other tests write
    /// some on purpose) are skipped.
    pub async fn envelopes_where(
        self,
        count: usize,
        wait: Duration,
        select: impl Fn(&Envelope) -> bool + Send + 'static,
    ) -> Vec<Envelope> {
        tokio::task::spawn_blocking(move || {
            let consumer = self.consumer_from_the_start();
            let deadline = Instant::now() + wait;
            let mut picked = Vec::new();
            while Instant::now() < deadline && picked.len() < count {
                if let Some(result) = consumer.poll(Duration::from_millis(100)) {
                    let record =
                        local_runner::kafka_trigger::to_record(&result.expect("consuming"));
                    if let Ok(envelope) = Envelope::from_kafka(&record.message)
                        && select(&envelope)
                    {
                        picked.push(envelope);
                    }
                }
            }
            picked
        })
        .await
        .expect("the Kafka reading task")
    }
}

/// Deletes the consumer groups named with one of `prefixes` that have no members left (a group
/// still in use, e.g. by a runner someone left running, is not empty and stays); how many it
/// deleted. `prune-test-data` drops the test stacks' groups with it.
pub async fn delete_empty_groups(prefixes: &[&str]) -> usize {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set(
            "bootstrap.servers",
            crate::required_env("KAFKA_BOOTSTRAP_SERVERS"),
        )
        .create()
        .expect("a Kafka admin client");
    let names: Vec<String> = admin
        .inner()
        .fetch_group_list(None, Duration::from_secs(30))
        .expect("listing the consumer groups")
        .groups()
        .iter()
        .filter(|group| matches!(group.state(), "Empty" | "Dead"))
        .map(|group| group.name().to_owned())
        .filter(|name| prefixes.iter().any(|p| name.starts_with(p)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut deleted = 0;
    // One request per few hundred groups keeps each well inside the broker's limits.
    for chunk in names.chunks(500) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for result in admin
            .delete_groups(&chunk, &options)
            .await
            .expect("deleting consumer groups")
        {
            match result {
                Ok(_) => deleted += 1,
                // A member joined since the listing: it is in use after all.
                Err((name, error)) => eprintln!("kept consumer group {name}: {error}"),
            }
        }
    }
    deleted
}
