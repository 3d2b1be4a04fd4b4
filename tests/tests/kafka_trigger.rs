//! The emulated Kafka event source mapping against the dev Kafka and a real lambda_runtime binary
//! (probe-function): batching and per-partition order, retries and commits, dead letters,
//! partial batch responses, resuming after a restart, and the payload's source fields.
//!
//! Every test has its own topics (deleted at the end) and consumer groups. Set `RUST_LOG` to see
//! the runner's log lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use local_lambda::{FunctionSpec, LambdaEnvironment};
use local_runner::kafka_trigger::MappingRunner;
use local_runner::template::{KafkaMappingDef, KafkaSourceDef, StartingPosition};
use local_runner::{Invoke, Invoked};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use servicehub_events::dlq;
use servicehub_events::lambda_kafka::{ConsumedRecord, KafkaSource, decode_trigger};
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::{binary_path, required_env};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The probe function in one execution environment, as the runner invokes it.
struct Probe(LambdaEnvironment);

impl Invoke for Probe {
    async fn invoke(&self, payload: Value) -> Invoked {
        let started = Instant::now();
        let request_id = Uuid::new_v4().to_string();
        let result = self.0.invoke_as(&payload, &request_id).await;
        Invoked {
            result,
            request_id,
            duration: started.elapsed(),
            cold_start: None,
        }
    }
}

/// One record as the probe logged it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Delivered {
    topic: String,
    partition: i32,
    offset: i64,
    value: String,
}

/// One logged invocation.
#[derive(Debug, Clone)]
struct Invocation {
    records: Vec<Delivered>,
    line: Value,
}

struct Running {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), local_runner::kafka_trigger::TriggerError>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle
            .await
            .expect("the mapping task")
            .expect("the mapping ran without error");
    }
}

/// A topic (and its `.dlq` twin) of its own, a consumer group of its own, and a folder for the
/// probe's log and state files.
struct Fixture {
    servers: String,
    topic: String,
    group: String,
    partitions: i32,
    dir: PathBuf,
    admin: AdminClient<DefaultClientContext>,
    producer: FutureProducer,
}

impl Fixture {
    async fn new(name: &str, partitions: i32) -> Fixture {
        if std::env::var("RUST_LOG").is_ok() {
            servicehub_platform::telemetry::init();
        }
        let servers = required_env("KAFKA_BOOTSTRAP_SERVERS");
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let topic = format!("kt-{name}-{id}");
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .create()
            .expect("creating the admin client");
        let dlq_topic = format!("{topic}.dlq");
        let results = admin
            .create_topics(
                &[
                    NewTopic::new(&topic, partitions, TopicReplication::Fixed(1)),
                    NewTopic::new(&dlq_topic, 1, TopicReplication::Fixed(1)),
                ],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("creating the topics");
        for result in results {
            result.expect("creating a topic");
        }
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &servers)
            .set("acks", "all")
            .create()
            .expect("creating the producer");
        let dir = std::env::temp_dir().join(format!("kafka-trigger-{id}"));
        std::fs::create_dir_all(&dir).expect("creating the probe folder");
        let fixture = Fixture {
            servers,
            group: format!("kt-{name}-{id}"),
            topic,
            partitions,
            dir,
            admin,
            producer,
        };
        // Wait until the broker serves both topics' metadata.
        let (topic, dlq_topic, servers) = (
            fixture.topic.clone(),
            dlq_topic.clone(),
            fixture.servers.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &servers)
                .create()
                .expect("creating a metadata consumer");
            let deadline = Instant::now() + WAIT;
            for name in [&topic, &dlq_topic] {
                loop {
                    let ready = consumer
                        .fetch_metadata(Some(name), Duration::from_secs(5))
                        .is_ok_and(|m| {
                            m.topics()
                                .iter()
                                .any(|t| t.error().is_none() && !t.partitions().is_empty())
                        });
                    if ready {
                        break;
                    }
                    assert!(Instant::now() < deadline, "topic {name} never appeared");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
        .await
        .expect("waiting for the topics");
        fixture
    }

    fn mapping(&self) -> KafkaMappingDef {
        KafkaMappingDef {
            id: "ProbeFunctionKafkaMapping".into(),
            function: "probe-function".into(),
            source: KafkaSourceDef::SelfManaged {
                bootstrap_servers: self.servers.clone(),
            },
            topics: vec![self.topic.clone()],
            consumer_group_id: self.group.clone(),
            batch_size: 10,
            maximum_batching_window: Duration::from_millis(200),
            starting_position: StartingPosition::TrimHorizon,
            on_failure_destination: None,
            report_batch_item_failures: false,
            maximum_retry_attempts: -1,
            source_access: Vec::new(),
            enabled: true,
        }
    }

    /// Produces `value` to `partition`; returns its offset.
    async fn produce(&self, partition: i32, value: &str) -> i64 {
        self.produce_with(partition, &format!("key-{partition}"), value, &[])
            .await
    }

    async fn produce_with(
        &self,
        partition: i32,
        key: &str,
        value: &str,
        headers: &[(&str, &[u8])],
    ) -> i64 {
        let mut owned = OwnedHeaders::new();
        for (name, bytes) in headers {
            owned = owned.insert(Header {
                key: name,
                value: Some(*bytes),
            });
        }
        let record = FutureRecord::to(&self.topic)
            .partition(partition)
            .key(key)
            .payload(value)
            .headers(owned);
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(error, _)| error)
            .expect("producing a record")
            .offset
    }

    /// Starts the probe function with its log in `<dir>/<log>.jsonl`.
    async fn probe(&self, log: &str, extra_env: &[(&str, &str)]) -> Arc<Probe> {
        let mut env = vec![
            (
                "PROBE_LOG".to_owned(),
                self.log_path(log).display().to_string(),
            ),
            (
                "PROBE_STATE".to_owned(),
                self.dir.join("state").display().to_string(),
            ),
            (
                "RUST_LOG".to_owned(),
                std::env::var("FUNCTION_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let environment = LambdaEnvironment::start(FunctionSpec {
            name: "probe-function".into(),
            binary: binary_path("probe-function"),
            env,
            timeout: Duration::from_secs(30),
            memory_mb: 128,
        })
        .await
        .expect("starting the probe function");
        Arc::new(Probe(environment))
    }

    fn start(&self, mapping: KafkaMappingDef, probe: &Arc<Probe>) -> Running {
        let runner =
            MappingRunner::new(mapping, self.servers.clone()).expect("creating the mapping");
        Self::run(runner, probe)
    }

    /// Runs a mapping made (and perhaps given its starting offsets) by the test.
    fn run(runner: MappingRunner, probe: &Arc<Probe>) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(runner.run(probe.clone(), async {
            let _ = stopped.await;
        }));
        Running { stop, handle }
    }

    fn log_path(&self, log: &str) -> PathBuf {
        self.dir.join(format!("{log}.jsonl"))
    }

    fn invocations(&self, log: &str) -> Vec<Invocation> {
        let text = std::fs::read_to_string(self.log_path(log)).unwrap_or_default();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let line: Value = serde_json::from_str(line).expect("a probe log line");
                let records = line["records"]
                    .as_array()
                    .expect("records")
                    .iter()
                    .map(|r| Delivered {
                        topic: r[0].as_str().unwrap().to_owned(),
                        partition: r[1].as_i64().unwrap() as i32,
                        offset: r[2].as_i64().unwrap(),
                        value: r[3].as_str().unwrap().to_owned(),
                    })
                    .collect();
                Invocation { records, line }
            })
            .collect()
    }

    /// The values `log`'s function was handed, sorted.
    fn sorted_values(&self, log: &str) -> Vec<String> {
        let mut values: Vec<String> = self.delivered(log).into_iter().map(|d| d.value).collect();
        values.sort();
        values
    }

    fn delivered(&self, log: &str) -> Vec<Delivered> {
        self.invocations(log)
            .into_iter()
            .flat_map(|i| i.records)
            .collect()
    }

    /// The group's committed offset of every partition (absent: nothing committed).
    async fn committed(&self) -> BTreeMap<i32, i64> {
        let (servers, group, topic, partitions) = (
            self.servers.clone(),
            self.group.clone(),
            self.topic.clone(),
            self.partitions,
        );
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &servers)
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .create()
                .expect("creating an offsets consumer");
            let mut list = TopicPartitionList::new();
            for partition in 0..partitions {
                list.add_partition(&topic, partition);
            }
            consumer
                .committed_offsets(list, Duration::from_secs(10))
                .expect("reading committed offsets")
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(offset) => Some((e.partition(), offset)),
                    _ => None,
                })
                .collect()
        })
        .await
        .expect("reading committed offsets")
    }

    /// Waits until the group has committed `expected` (partition -> next offset).
    async fn wait_committed(&self, expected: &BTreeMap<i32, i64>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let committed = self.committed().await;
            if &committed == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "committed offsets {committed:?}, expected {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads the records written to the `.dlq` twin, waiting until `count` have arrived.
    async fn dead_letters(&self, probe: KafkaProbe, count: usize) -> Vec<ConsumedRecord> {
        tokio::task::spawn_blocking(move || {
            probe.read_until(WAIT, |records| records.len() >= count)
        })
        .await
        .expect("reading the dead letters")
    }

    async fn cleanup(self) {
        let dlq_topic = format!("{}.dlq", self.topic);
        let _ = self
            .admin
            .delete_topics(&[&self.topic, &dlq_topic], &AdminOptions::new())
            .await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `done` every 50 ms until it holds; panics with `what` after a minute.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(delivered: &[Delivered], value: &str) -> usize {
    delivered.iter().filter(|d| d.value == value).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_partition_order_is_kept_and_batches_never_exceed_batch_size() {
    let fixture = Fixture::new("order", 3).await;
    let mut ends = BTreeMap::new();
    for i in 0..25 {
        let partition = i % 3;
        let offset = fixture.produce(partition, &format!("r{i}")).await;
        ends.insert(partition, offset + 1);
    }
    let probe = fixture.probe("log", &[]).await;
    let mapping = KafkaMappingDef {
        batch_size: 4,
        ..fixture.mapping()
    };
    let running = fixture.start(mapping, &probe);
    wait_until("all 25 records were delivered", || {
        fixture.delivered("log").len() >= 25
    })
    .await;
    fixture.wait_committed(&ends).await;
    running.stop().await;

    let invocations = fixture.invocations("log");
    let delivered = fixture.delivered("log");
    assert_eq!(
        delivered.len(),
        25,
        "each record exactly once: {delivered:?}"
    );
    let distinct: BTreeSet<_> = delivered.iter().map(|d| d.value.clone()).collect();
    assert_eq!(distinct.len(), 25);
    for invocation in &invocations {
        assert!(
            !invocation.records.is_empty() && invocation.records.len() <= 4,
            "a batch of {} records",
            invocation.records.len()
        );
    }
    assert_eq!(
        invocations.iter().map(|i| i.records.len()).max(),
        Some(4),
        "records waiting in Kafka are batched up to BatchSize"
    );
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for record in &delivered {
        if let Some(previous) = last.insert(record.partition, record.offset) {
            assert!(
                record.offset > previous,
                "partition {} went from offset {previous} to {}",
                record.partition,
                record.offset
            );
        }
    }
    fixture.cleanup().await;
}

/// A 0 s window (what the latency-critical triggers use) does not mean one record per
/// invocation: a backlog the poller has already fetched goes out in full batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zero_window_sends_a_backlog_in_full_batches() {
    let fixture = Fixture::new("zero-window", 1).await;
    let mut end = 0;
    for i in 0..30 {
        end = fixture.produce(0, &format!("r{i}")).await + 1;
    }
    let probe = fixture.probe("log", &[]).await;
    let mapping = KafkaMappingDef {
        maximum_batching_window: Duration::ZERO,
        ..fixture.mapping()
    };
    let running = fixture.start(mapping, &probe);
    wait_until("all 30 records were delivered", || {
        fixture.delivered("log").len() >= 30
    })
    .await;
    fixture.wait_committed(&BTreeMap::from([(0, end)])).await;
    running.stop().await;

    let sizes: Vec<usize> = fixture
        .invocations("log")
        .iter()
        .map(|i| i.records.len())
        .collect();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        30,
        "each record once: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|&n| n <= 10) && sizes.iter().filter(|&&n| n == 10).count() >= 2,
        "the fetched backlog goes out in batches of BatchSize (10): {sizes:?}"
    );
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_batch_is_retried_and_committed_only_after_it_succeeds() {
    let fixture = Fixture::new("retry", 1).await;
    for value in ["a0", "a1", "fail-once:t1 sleep:1500", "a3"] {
        fixture.produce(0, value).await;
    }
    let probe = fixture.probe("log", &[]).await;
    let running = fixture.start(fixture.mapping(), &probe);
    let failing = "fail-once:t1 sleep:1500";
    let attempts = |fixture: &Fixture| -> Vec<Invocation> {
        fixture
            .invocations("log")
            .into_iter()
            .filter(|i| i.records.iter().any(|r| r.value == failing))
            .collect()
    };
    // The second attempt logs itself, then sleeps 1.5 s before succeeding: nothing of its batch
    // can be committed yet.
    wait_until("the failed batch was invoked again", || {
        attempts(&fixture).len() >= 2
    })
    .await;
    let batch_start = attempts(&fixture)[0].records[0].offset;
    let committed = fixture.committed().await;
    assert!(
        committed.get(&0).is_none_or(|c| *c <= batch_start),
        "committed {committed:?} while the batch starting at {batch_start} was being retried"
    );
    fixture.wait_committed(&BTreeMap::from([(0, 4)])).await;
    running.stop().await;

    let attempts = attempts(&fixture);
    assert_eq!(attempts.len(), 2, "one failure, one successful retry");
    assert_eq!(
        attempts[0].records, attempts[1].records,
        "the retry carries the same records"
    );
    let delivered = fixture.delivered("log");
    for value in ["a0", "a1", failing, "a3"] {
        let expected = if attempts[0].records.iter().any(|r| r.value == value) {
            2
        } else {
            1
        };
        assert_eq!(count(&delivered, value), expected, "{value}: {delivered:?}");
    }
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_that_keeps_failing_is_dead_lettered_and_the_mapping_moves_on() {
    let fixture = Fixture::new("dlq", 1).await;
    let dlq_probe = KafkaProbe::new(&format!("{}.dlq", fixture.topic));
    let poison_offset = fixture
        .produce_with(0, "poison-key", "fail-always", &[("trace", b"abc")])
        .await;
    let probe = fixture.probe("log", &[]).await;
    let mapping = KafkaMappingDef {
        maximum_retry_attempts: 2,
        source_access: Vec::new(),
        on_failure_destination: Some(
            "arn:aws:sqs:eu-central-1:000000000000:servicehub-on-failure".into(),
        ),
        ..fixture.mapping()
    };
    let running = fixture.start(mapping, &probe);
    let dead = fixture.dead_letters(dlq_probe, 1).await;
    fixture.produce(0, "after").await;
    wait_until("the record after the poison one was delivered", || {
        count(&fixture.delivered("log"), "after") == 1
    })
    .await;
    fixture.wait_committed(&BTreeMap::from([(0, 2)])).await;
    running.stop().await;

    let delivered = fixture.delivered("log");
    assert_eq!(
        count(&delivered, "fail-always"),
        3,
        "the first invocation and two retries: {delivered:?}"
    );
    assert_eq!(dead.len(), 1, "{dead:?}");
    let letter = &dead[0].message;
    assert_eq!(letter.key.as_deref(), Some(&b"poison-key"[..]));
    assert_eq!(letter.value.as_deref(), Some(&b"fail-always"[..]));
    let header = |name: &str| {
        letter
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8(v.clone()).expect("a UTF-8 header"))
            .unwrap_or_else(|| panic!("no {name} header in {:?}", letter.headers))
    };
    assert_eq!(header("trace"), "abc", "the original headers are kept");
    let reason = header(dlq::HEADER_REASON);
    assert!(
        reason.contains("fail-always") && reason.contains("3 attempts"),
        "{reason}"
    );
    assert_eq!(header(dlq::HEADER_CONSUMER), "probe-function");
    assert_eq!(header(dlq::HEADER_SOURCE_TOPIC), fixture.topic);
    assert_eq!(header(dlq::HEADER_SOURCE_PARTITION), "0");
    assert_eq!(header(dlq::HEADER_SOURCE_OFFSET), poison_offset.to_string());
    chrono::DateTime::parse_from_rfc3339(&header(dlq::HEADER_FAILED_AT))
        .expect("dlq_failed_at is RFC 3339");
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn report_batch_item_failures_retries_from_the_reported_record() {
    let fixture = Fixture::new("partial", 2).await;
    for value in ["a0", "a1", "partial:t1", "a3"] {
        fixture.produce(0, value).await;
    }
    for value in ["b0", "b1"] {
        fixture.produce(1, value).await;
    }
    let probe = fixture.probe("log", &[]).await;
    let mapping = KafkaMappingDef {
        report_batch_item_failures: true,
        ..fixture.mapping()
    };
    let running = fixture.start(mapping, &probe);
    wait_until("the reported record was delivered again", || {
        count(&fixture.delivered("log"), "partial:t1") == 2
    })
    .await;
    fixture
        .wait_committed(&BTreeMap::from([(0, 4), (1, 2)]))
        .await;
    running.stop().await;

    let invocations = fixture.invocations("log");
    let first = invocations
        .iter()
        .position(|i| i.records.iter().any(|r| r.value == "partial:t1"))
        .expect("an invocation with the partial failure");
    let reported = invocations[first]
        .records
        .iter()
        .find(|r| r.value == "partial:t1")
        .unwrap()
        .clone();
    let retried: BTreeSet<String> = invocations[first]
        .records
        .iter()
        .filter(|r| r.partition == reported.partition && r.offset >= reported.offset)
        .map(|r| r.value.clone())
        .collect();
    let retry = &invocations[first + 1];
    assert_eq!(
        retry.records.first(),
        Some(&reported),
        "the retry starts with the reported record: {retry:?}"
    );
    let delivered = fixture.delivered("log");
    for value in ["a0", "a1", "partial:t1", "a3", "b0", "b1"] {
        let expected = if retried.contains(value) { 2 } else { 1 };
        assert_eq!(
            count(&delivered, value),
            expected,
            "{value}: {invocations:?}"
        );
    }
    assert_eq!(
        count(&delivered, "a0"),
        1,
        "records before the reported one are committed"
    );
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_runner_resumes_after_the_last_committed_batch() {
    let fixture = Fixture::new("resume", 2).await;
    let mut ends = BTreeMap::new();
    for i in 0..30 {
        let partition = i % 2;
        let offset = fixture.produce(partition, &format!("v{i} sleep:40")).await;
        ends.insert(partition, offset + 1);
    }
    let mapping = KafkaMappingDef {
        batch_size: 3,
        ..fixture.mapping()
    };
    let first_probe = fixture.probe("first", &[]).await;
    let first = fixture.start(mapping.clone(), &first_probe);
    wait_until("the first runner finished two batches", || {
        fixture.invocations("first").len() >= 2
    })
    .await;
    first.stop().await;
    let committed = fixture.committed().await;
    for i in 30..36 {
        let partition = i % 2;
        let offset = fixture.produce(partition, &format!("v{i} sleep:40")).await;
        ends.insert(partition, offset + 1);
    }
    let second_probe = fixture.probe("second", &[]).await;
    let second = fixture.start(mapping, &second_probe);
    fixture.wait_committed(&ends).await;
    second.stop().await;

    let offsets = |log: &str, partition: i32| -> Vec<i64> {
        fixture
            .delivered(log)
            .iter()
            .filter(|d| d.partition == partition)
            .map(|d| d.offset)
            .collect()
    };
    for partition in 0..2 {
        let resumed_at = committed.get(&partition).copied().unwrap_or(0);
        assert_eq!(
            offsets("first", partition),
            (0..resumed_at).collect::<Vec<_>>(),
            "the first runner delivered and committed exactly these (partition {partition})"
        );
        assert_eq!(
            offsets("second", partition),
            (resumed_at..ends[&partition]).collect::<Vec<_>>(),
            "the second runner resumed at the committed offset (partition {partition})"
        );
    }
    assert!(
        committed.values().sum::<i64>() > 0,
        "the first runner committed something before it stopped"
    );
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn latest_starts_at_the_end_of_each_partition_when_the_mapping_is_created() {
    let fixture = Fixture::new("latest", 2).await;
    for partition in 0..2 {
        fixture
            .produce(partition, &format!("old-{partition}"))
            .await;
    }
    let mapping = KafkaMappingDef {
        starting_position: StartingPosition::Latest,
        ..fixture.mapping()
    };
    let runner =
        MappingRunner::new(mapping.clone(), fixture.servers.clone()).expect("creating the mapping");
    runner
        .pin_starting_position()
        .await
        .expect("pinning LATEST");
    // Produced after the mapping was created but before its consumer joined the group: AWS
    // delivers these, and so must the runner.
    for partition in 0..2 {
        fixture
            .produce(partition, &format!("new-{partition}"))
            .await;
    }
    let probe = fixture.probe("latest", &[]).await;
    let running = Fixture::run(runner, &probe);
    fixture
        .wait_committed(&BTreeMap::from([(0, 2), (1, 2)]))
        .await;
    running.stop().await;
    assert_eq!(fixture.sorted_values("latest"), ["new-0", "new-1"]);

    // A restart finds committed offsets and leaves them alone.
    let restarted = MappingRunner::new(mapping, fixture.servers.clone()).expect("the mapping");
    restarted
        .pin_starting_position()
        .await
        .expect("pinning again");
    assert_eq!(fixture.committed().await, BTreeMap::from([(0, 2), (1, 2)]));
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skipping_the_backlog_starts_even_a_known_group_at_the_end_of_each_partition() {
    let fixture = Fixture::new("skip", 2).await;
    for partition in 0..2 {
        fixture
            .produce(partition, &format!("delivered-{partition}"))
            .await;
    }
    let first = fixture.probe("first", &[]).await;
    let running = fixture.start(fixture.mapping(), &first);
    fixture
        .wait_committed(&BTreeMap::from([(0, 1), (1, 1)]))
        .await;
    running.stop().await;
    // Produced while the runner was down: a restart that skips the backlog never delivers these.
    for partition in 0..2 {
        for i in 0..2 {
            fixture
                .produce(partition, &format!("backlog-{partition}-{i}"))
                .await;
        }
    }
    let restarted =
        MappingRunner::new(fixture.mapping(), fixture.servers.clone()).expect("the mapping");
    restarted
        .skip_backlog()
        .await
        .expect("skipping the backlog");
    assert_eq!(fixture.committed().await, BTreeMap::from([(0, 3), (1, 3)]));
    for partition in 0..2 {
        fixture
            .produce(partition, &format!("new-{partition}"))
            .await;
    }
    let probe = fixture.probe("second", &[]).await;
    let running = Fixture::run(restarted, &probe);
    fixture
        .wait_committed(&BTreeMap::from([(0, 4), (1, 4)]))
        .await;
    running.stop().await;
    assert_eq!(fixture.sorted_values("second"), ["new-0", "new-1"]);
    fixture.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_payload_names_its_source_as_msk_or_self_managed_kafka() {
    let fixture = Fixture::new("shape", 1).await;
    fixture
        .produce_with(0, "the-key", "hello", &[("h", &[0xff, 0x01])])
        .await;
    let cluster_arn = "arn:aws:kafka:eu-central-1:000000000000:cluster/servicehub/6357e0b2-0e6a-4b86-a0b4-70df934c2e31-1";
    let configured = "b-1.example.internal:9092,b-2.example.internal:9092";
    let msk_probe = fixture.probe("msk", &[("PROBE_LOG_PAYLOAD", "1")]).await;
    let self_managed_probe = fixture
        .probe("self-managed", &[("PROBE_LOG_PAYLOAD", "1")])
        .await;
    let msk = fixture.start(
        KafkaMappingDef {
            source: KafkaSourceDef::Msk {
                cluster_arn: cluster_arn.into(),
            },
            consumer_group_id: format!("{}-msk", fixture.group),
            ..fixture.mapping()
        },
        &msk_probe,
    );
    let self_managed = fixture.start(
        KafkaMappingDef {
            source: KafkaSourceDef::SelfManaged {
                bootstrap_servers: configured.into(),
            },
            consumer_group_id: format!("{}-self-managed", fixture.group),
            ..fixture.mapping()
        },
        &self_managed_probe,
    );
    wait_until("both mappings delivered the record", || {
        !fixture.invocations("msk").is_empty() && !fixture.invocations("self-managed").is_empty()
    })
    .await;
    msk.stop().await;
    self_managed.stop().await;

    let msk_payload = fixture.invocations("msk")[0].line["payload"].clone();
    let self_managed_payload = fixture.invocations("self-managed")[0].line["payload"].clone();
    assert_eq!(msk_payload["eventSource"], "aws:kafka");
    assert_eq!(msk_payload["eventSourceArn"], cluster_arn);
    assert_eq!(msk_payload["bootstrapServers"], fixture.servers.as_str());
    assert_eq!(self_managed_payload["eventSource"], "SelfManagedKafka");
    assert!(
        self_managed_payload.get("eventSourceArn").is_none(),
        "{self_managed_payload}"
    );
    assert_eq!(self_managed_payload["bootstrapServers"], configured);

    for payload in [&msk_payload, &self_managed_payload] {
        let groups = payload["records"]
            .as_object()
            .expect("records by partition");
        let group = format!("{}-0", fixture.topic);
        assert_eq!(groups.keys().collect::<Vec<_>>(), [&group], "{payload}");
        let record = &groups[&group][0];
        assert_eq!(record["topic"], fixture.topic.as_str());
        assert_eq!(record["partition"], 0);
        assert_eq!(record["offset"], 0);
        assert!(record["timestamp"].is_i64(), "{record}");
        assert_eq!(record["timestampType"], "CREATE_TIME");
        assert_eq!(record["key"], BASE64.encode("the-key"));
        assert_eq!(record["value"], BASE64.encode("hello"));
        assert_eq!(record["headers"], serde_json::json!([{"h": [-1, 1]}]));
    }
    let decoded = decode_trigger(&msk_payload).expect("the MSK payload decodes");
    assert_eq!(
        decoded.source,
        KafkaSource::Msk {
            cluster_arn: cluster_arn.into()
        }
    );
    let decoded = decode_trigger(&self_managed_payload).expect("the self-managed payload decodes");
    assert_eq!(decoded.source, KafkaSource::SelfManaged);
    assert_eq!(decoded.bootstrap_servers.as_deref(), Some(configured));
    fixture.cleanup().await;
}
