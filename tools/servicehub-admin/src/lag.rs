//! `servicehub-admin lag`: every Kafka event source mapping of a template with its consumer
//! group, and per partition the committed offset, the end, the lag and how old the oldest record
//! not yet consumed is. Read-only: it fetches offsets and peeks at one record per lagging
//! partition without joining the group.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use local_runner::template::{KafkaMappingDef, LocalTemplate, TemplateInput};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// One partition of one mapping's topic.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLag {
    pub mapping: String,
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// `None`: the group has committed nothing for the partition.
    pub committed: Option<i64>,
    pub end: i64,
    /// Age of the record at the committed offset, when there is one.
    pub oldest_unconsumed: Option<Duration>,
}

impl PartitionLag {
    pub fn lag(&self) -> Option<i64> {
        self.committed.map(|c| (self.end - c).max(0))
    }
}

/// The template as the local runner reads it, with the parameters file and `NAME=VALUE` pairs.
pub fn load_template(
    template: &Path,
    parameters_file: Option<&Path>,
    parameters: &[(String, String)],
    bootstrap_servers: &str,
) -> Result<LocalTemplate> {
    let mut values = match parameters_file {
        Some(file) => {
            local_runner::template::read_parameters_file(file).map_err(anyhow::Error::msg)?
        }
        None => BTreeMap::new(),
    };
    values
        .entry("KafkaBootstrapServers".into())
        .or_insert_with(|| bootstrap_servers.to_owned());
    values.extend(parameters.iter().cloned());
    local_runner::template::load(&TemplateInput {
        path: template.to_path_buf(),
        parameters: values,
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))
}

/// Every partition of every enabled mapping, in the template's order.
pub fn measure(bootstrap_servers: &str, mappings: &[KafkaMappingDef]) -> Result<Vec<PartitionLag>> {
    let mut rows = Vec::new();
    // One consumer, outside every group, peeks at the oldest unconsumed records.
    let peek = crate::kafka::consumer(
        crate::kafka::client_config()
            .set("bootstrap.servers", bootstrap_servers)
            .set("group.id", "servicehub-admin-lag")
            .set("enable.auto.commit", "false"),
    )?;
    for mapping in mappings.iter().filter(|m| m.enabled) {
        // Not subscribed: it reads the group's offsets without joining (nor rebalancing) it.
        let consumer = crate::kafka::consumer(
            crate::kafka::client_config()
                .set("bootstrap.servers", bootstrap_servers)
                .set("group.id", &mapping.consumer_group_id)
                .set("enable.auto.commit", "false")
                .set("enable.partition.eof", "false"),
        )?;
        for topic in &mapping.topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), TIMEOUT)
                .with_context(|| format!("reading the partitions of {topic}"))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            let mut wanted = TopicPartitionList::new();
            for &partition in &partitions {
                wanted.add_partition(topic, partition);
            }
            let committed = consumer
                .committed_offsets(wanted, TIMEOUT)
                .with_context(|| format!("reading the offsets of {}", mapping.consumer_group_id))?;
            for &partition in &partitions {
                let (_, end) = consumer
                    .fetch_watermarks(topic, partition, TIMEOUT)
                    .with_context(|| format!("reading the end of {topic}/{partition}"))?;
                let committed = match committed
                    .find_partition(topic, partition)
                    .map(|e| e.offset())
                {
                    Some(Offset::Offset(offset)) => Some(offset),
                    _ => None,
                };
                let oldest_unconsumed = match committed {
                    Some(offset) if offset < end => record_age(&peek, topic, partition, offset)?,
                    _ => None,
                };
                rows.push(PartitionLag {
                    mapping: mapping.id.clone(),
                    group: mapping.consumer_group_id.clone(),
                    topic: topic.clone(),
                    partition,
                    committed,
                    end,
                    oldest_unconsumed,
                });
            }
        }
    }
    Ok(rows)
}

/// How old the record at `offset` is (by its timestamp), peeked at by `peek`, which is assigned
/// that one partition.
fn record_age(
    peek: &crate::kafka::AdminConsumer,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<Duration>> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    peek.assign(&assignment)?;
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if let Some(message) = peek.poll(Duration::from_millis(200)) {
            let message = message.context("peeking at the oldest unconsumed record")?;
            // A record fetched for the partition assigned before is not this one.
            if message.topic() != topic || message.partition() != partition {
                continue;
            }
            let Some(millis) = message.timestamp().to_millis() else {
                return Ok(None);
            };
            let at = DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_else(Utc::now);
            return Ok(Some((Utc::now() - at).to_std().unwrap_or_default()));
        }
    }
    Ok(None)
}

/// The table `lag` prints.
pub fn render(rows: &[PartitionLag]) -> String {
    let mut out = format!(
        "{:<40} {:<44} {:<20} {:>4} {:>12} {:>12} {:>8} {:>10}\n",
        "mapping", "group", "topic", "part", "committed", "end", "lag", "oldest"
    );
    for row in rows {
        let committed = row.committed.map_or("-".to_owned(), |c| c.to_string());
        let lag = row.lag().map_or("-".to_owned(), |l| l.to_string());
        let oldest = row
            .oldest_unconsumed
            .map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
        out.push_str(&format!(
            "{:<40} {:<44} {:<20} {:>4} {:>12} {:>12} {:>8} {:>10}\n",
            row.mapping, row.group, row.topic, row.partition, committed, row.end, lag, oldest
        ));
    }
    let total: i64 = rows.iter().filter_map(PartitionLag::lag).sum();
    let mappings = rows
        .iter()
        .map(|r| r.mapping.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    out.push_str(&format!(
        "{mappings} mappings, {} partitions, total lag {total} (\"-\": nothing committed yet)\n",
        rows.len()
    ));
    out
}
