//! `servicehub-admin lag` against the real Kafka: a mapping of a template whose consumer group
//! is three records behind on a partition shows that lag, its committed offset and the age of
//! the oldest record not yet consumed; partitions the group never committed show "-".

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use servicehub_events::KafkaMessage;
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::{binary_path, repo_root, required_env};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread")]
async fn lag_shows_a_groups_lag_per_partition_and_the_age_of_its_oldest_record() {
    let servers = required_env("KAFKA_BOOTSTRAP_SERVERS");
    let group = format!("admin-lag-{}", Uuid::new_v4().simple());
    let key = Uuid::now_v7().to_string();
    let probe = KafkaProbe::new("request-events");
    let producer = EventProducer::new(
        &Config::without_database_from_env("admin-lag-tests").expect("the Kafka settings"),
    )
    .unwrap();
    for i in 0..3 {
        producer
            .send(&KafkaMessage {
                topic: "request-events".into(),
                key: Some(key.clone().into_bytes()),
                headers: Vec::new(),
                value: Some(format!("not an envelope {i}").into_bytes()),
            })
            .await
            .unwrap();
    }
    let ours = probe.read_key(&key, 3, Duration::from_secs(15));
    assert_eq!(ours.len(), 3);
    let (partition, first) = (ours[0].partition, ours[0].offset);

    // The group has consumed everything before our records on that partition.
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("request-events", partition, Offset::Offset(first))
        .unwrap();
    committer.commit(&offsets, CommitMode::Sync).unwrap();

    let no_parameters = std::env::temp_dir().join(format!("{group}.json"));
    std::fs::write(&no_parameters, "{}").unwrap();
    let output = std::process::Command::new(binary_path("servicehub-admin"))
        .current_dir(repo_root())
        .args(["lag", "--template", "tests/fixtures/runner-template.yaml"])
        .arg("--parameters-file")
        .arg(&no_parameters)
        .args(["--parameter", &format!("ConsumerGroupId={group}")])
        .env("KAFKA_BOOTSTRAP_SERVERS", &servers)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&no_parameters);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|line| line.contains(&group))
        .map(|line| line.split_whitespace().collect())
        .collect();
    // mapping, group, topic, partition, committed, end, lag, oldest ("<n> s" or "-").
    let ours: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|row| row[3] == partition.to_string())
        .collect();
    assert_eq!(ours.len(), 1, "{text}");
    let row = ours[0];
    assert_eq!(row[2], "request-events");
    assert_eq!(row[4], first.to_string(), "committed: {text}");
    let lag: i64 = row[6].parse().unwrap();
    assert!(lag >= 3, "lag {lag}: {text}");
    let age: f64 = row[7].parse().unwrap();
    assert!((0.0..600.0).contains(&age), "oldest {age} s: {text}");
    // Every other partition: nothing committed by this group.
    for row in rows.iter().filter(|row| row[3] != partition.to_string()) {
        assert_eq!((row[4], row[6], row[7]), ("-", "-", "-"), "{text}");
    }
}
