//! `servicehub-admin dlq`: inspect the dead-letter topics and replay chosen records to their
//! source topic with their original key, value and headers, each at most once.

use crate::kafka::AdminConsumer;
use anyhow::{Context, Result, bail};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use servicehub_events::KafkaMessage;
use servicehub_events::dlq::DeadLetter;
use servicehub_events::topic::all_topic_specs;
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A record of a dead-letter topic and where it sits.
pub struct Stored {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub message: KafkaMessage,
}

fn consumer(bootstrap_servers: &str) -> Result<AdminConsumer> {
    crate::kafka::consumer(
        crate::kafka::client_config()
            .set("bootstrap.servers", bootstrap_servers)
            .set("group.id", "servicehub-admin-dlq")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false"),
    )
}

/// Reads `topic` from `start` (per partition) up to the end each partition has now.
fn read(consumer: &AdminConsumer, topic: &str, start: &BTreeMap<i32, i64>) -> Result<Vec<Stored>> {
    let mut assignment = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for (&partition, &from) in start {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .with_context(|| format!("reading the end of {topic}/{partition}"))?;
        if from < high {
            assignment.add_partition_offset(topic, partition, Offset::Offset(from))?;
            remaining.insert(partition, high);
        }
    }
    let mut records = Vec::new();
    if remaining.is_empty() {
        return Ok(records);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + TIMEOUT;
    while !remaining.is_empty() && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message.context("reading a dead letter")?;
        let (partition, offset) = (message.partition(), message.offset());
        if remaining
            .get(&partition)
            .is_some_and(|&high| offset + 1 >= high)
        {
            remaining.remove(&partition);
        }
        records.push(Stored {
            topic: topic.to_owned(),
            partition,
            offset,
            message: KafkaMessage::from_rdkafka(&message),
        });
    }
    consumer.unassign()?;
    if !remaining.is_empty() {
        bail!("{topic}: not every record could be read within {TIMEOUT:?}");
    }
    Ok(records)
}

fn partitions(consumer: &AdminConsumer, topic: &str) -> Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .with_context(|| format!("reading the metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .map(|p| p.id())
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} does not exist");
    }
    Ok(partitions)
}

/// Every `<topic>.dlq` of the topic table, unless `chosen`.
fn dlq_topics(chosen: Vec<String>) -> Vec<String> {
    if chosen.is_empty() {
        all_topic_specs()
            .into_iter()
            .map(|spec| spec.name)
            .filter(|name| name.ends_with(servicehub_events::topic::DLQ_SUFFIX))
            .collect()
    } else {
        chosen
    }
}

/// The newest `limit` records of each partition of each dead-letter topic.
pub fn list(bootstrap_servers: &str, topics: Vec<String>, limit: i64) -> Result<Vec<Stored>> {
    let consumer = consumer(bootstrap_servers)?;
    let mut records = Vec::new();
    for topic in dlq_topics(topics) {
        let mut start = BTreeMap::new();
        for partition in partitions(&consumer, &topic)? {
            let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
            start.insert(partition, low.max(high - limit));
        }
        records.extend(read(&consumer, &topic, &start)?);
    }
    Ok(records)
}

/// The records of `topic` at `positions` (partition, offset).
pub fn fetch(
    bootstrap_servers: &str,
    topic: &str,
    positions: &[(i32, i64)],
) -> Result<Vec<Stored>> {
    let consumer = consumer(bootstrap_servers)?;
    let mut start: BTreeMap<i32, i64> = BTreeMap::new();
    for &(partition, offset) in positions {
        let from = start.entry(partition).or_insert(offset);
        *from = (*from).min(offset);
    }
    let records = read(&consumer, topic, &start)?;
    let mut found = Vec::new();
    for &(partition, offset) in positions {
        match records
            .iter()
            .position(|r| r.partition == partition && r.offset == offset)
        {
            Some(index) => found.push(Stored {
                topic: records[index].topic.clone(),
                partition,
                offset,
                message: records[index].message.clone(),
            }),
            None => bail!("{topic} has no record at partition {partition}, offset {offset}"),
        }
    }
    Ok(found)
}

/// Every record of `topic`.
pub fn fetch_all(bootstrap_servers: &str, topic: &str) -> Result<Vec<Stored>> {
    let consumer = consumer(bootstrap_servers)?;
    let mut start = BTreeMap::new();
    for partition in partitions(&consumer, topic)? {
        let (low, _) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        start.insert(partition, low);
    }
    read(&consumer, topic, &start)
}

/// One line per dead letter: where it sits, where it came from, who gave up on it, why.
pub fn summary(stored: &Stored) -> String {
    let event_type = stored
        .message
        .header("ce_type")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "-".into());
    match DeadLetter::parse(&stored.message) {
        Some(letter) => format!(
            "{}/{}/{}  from {}/{}/{}  {}  {}  {}  {}",
            stored.topic,
            stored.partition,
            stored.offset,
            letter.source_topic,
            letter
                .source_partition
                .map_or("?".into(), |p| p.to_string()),
            letter.source_offset.map_or("?".into(), |o| o.to_string()),
            letter.consumer,
            letter
                .failed_at
                .map_or("-".into(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            event_type,
            letter.reason.replace('\n', " "),
        ),
        None => format!(
            "{}/{}/{}  (not a dead letter: no dlq_source_topic header)",
            stored.topic, stored.partition, stored.offset
        ),
    }
}

/// Everything about one dead letter, for `dlq show`.
pub fn details(stored: &Stored) -> String {
    let mut out = summary(stored);
    out.push_str("\nheaders:\n");
    for (name, value) in &stored.message.headers {
        out.push_str(&format!("  {name}: {}\n", String::from_utf8_lossy(value)));
    }
    out.push_str(&format!(
        "key: {}\n",
        stored
            .message
            .key
            .as_deref()
            .map_or("-".into(), |k| String::from_utf8_lossy(k).into_owned())
    ));
    let value = stored.message.value.as_deref().unwrap_or_default();
    let shown = serde_json::from_slice::<serde_json::Value>(value)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(value).into_owned());
    out.push_str(&format!("value ({} bytes):\n{shown}\n", value.len()));
    out
}

/// What one replay did.
pub enum Replayed {
    Done { source_topic: String },
    AlreadyDone,
    NotADeadLetter,
}

/// Replays `stored` to its source topic unless it was replayed before. The row in `dlq_replays`
/// commits only once the broker has the record.
pub async fn replay(
    pool: &sqlx::PgPool,
    producer: &EventProducer,
    stored: &Stored,
) -> Result<Replayed> {
    let Some(letter) = DeadLetter::parse(&stored.message) else {
        return Ok(Replayed::NotADeadLetter);
    };
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(
        "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, source_topic)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(&stored.topic)
    .bind(stored.partition)
    .bind(stored.offset)
    .bind(&letter.source_topic)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(Replayed::AlreadyDone);
    }
    producer
        .send(&letter.replay(&stored.topic, stored.partition, stored.offset))
        .await
        .with_context(|| {
            format!(
                "replaying {}/{}/{}",
                stored.topic, stored.partition, stored.offset
            )
        })?;
    tx.commit().await?;
    Ok(Replayed::Done {
        source_topic: letter.source_topic,
    })
}

/// The producer of the replays: the Kafka settings of the environment (`KAFKA_AUTH`,
/// `KAFKA_PROPERTY_*`, ...), at `bootstrap_servers`.
pub async fn producer(bootstrap_servers: &str, database_url: &str) -> Result<EventProducer> {
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.push(("KAFKA_BOOTSTRAP_SERVERS".into(), bootstrap_servers.into()));
    vars.push(("DATABASE_URL".into(), database_url.into()));
    let config = Config::from_vars(vars, "servicehub-admin")?;
    Ok(EventProducer::connect(&config).await?)
}

/// `<partition>:<offset>`.
pub fn parse_position(text: &str) -> Result<(i32, i64), String> {
    let (partition, offset) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not <partition>:<offset>"))?;
    Ok((
        partition
            .parse()
            .map_err(|_| format!("{partition:?} is not a partition number"))?,
        offset
            .parse()
            .map_err(|_| format!("{offset:?} is not an offset"))?,
    ))
}
