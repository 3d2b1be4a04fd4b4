//! Benchmark of the local runner, printing figures (never asserting on them):
//! - startup: from spawning `local-runner` to its "ready" line;
//! - HTTP: round trips of `GET /noop` through the runner's gateway to a function that does
//!   nothing, against the same function invoked straight through the Runtime API emulation
//!   (the difference is what the gateway adds);
//! - Kafka: from handing a record to the producer to the function's invocation starting,
//!   through the runner's event source mapping (BatchSize 100, no batching window).
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --workspace --bins && "$CARGO_TARGET_DIR/debug/runner-bench" [http samples] [kafka samples]

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use servicehub_tests::runner::LocalRunner;
use servicehub_tests::{binary_path, required_env};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const WARMUP: usize = 50;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let http_samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let kafka_samples: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let servers = required_env("KAFKA_BOOTSTRAP_SERVERS");

    let id = Uuid::new_v4().simple().to_string();
    let topic = format!("runner-bench-{}", &id[..12]);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .create()
        .expect("an admin client");
    for result in admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("creating the bench topic")
    {
        result.expect("creating the bench topic");
    }
    let dir = std::env::temp_dir().join(format!("runner-bench-{id}"));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let log = dir.join("probe.jsonl");

    let spawned = Instant::now();
    let runner = LocalRunner::start(
        "tests/fixtures/bench-template.yaml",
        &[
            ("BenchTopic", &topic),
            ("ConsumerGroupId", &format!("runner-bench-{id}")),
            ("ProbeLog", &log.display().to_string()),
            ("ProbeState", &dir.join("state").display().to_string()),
        ],
        &[("LOCAL_RUNNER_LOG", "warn")],
    )
    .await;
    let startup = spawned.elapsed();
    println!(
        "local runner benchmark ({} profile binaries)",
        servicehub_tests::build_profile()
    );
    println!(
        "  startup: spawn -> ready            {:>8.1} ms",
        ms(startup)
    );

    // HTTP through the gateway, one request at a time on a kept-alive connection.
    let http = reqwest::Client::new();
    let url = format!("{}/noop", runner.base_url);
    let mut gateway = Vec::with_capacity(http_samples);
    for i in 0..WARMUP + http_samples {
        let started = Instant::now();
        let response = http.get(&url).send().await.expect("GET /noop");
        assert_eq!(response.status(), 200, "GET /noop");
        response.bytes().await.expect("the body");
        if i >= WARMUP {
            gateway.push(started.elapsed());
        }
    }
    // The same function straight through the Runtime API emulation.
    let direct_environment = local_lambda::LambdaEnvironment::start(local_lambda::FunctionSpec {
        name: "noop".into(),
        binary: binary_path("runtime-probe"),
        env: vec![("RUST_LOG".into(), "warn".into())],
        timeout: Duration::from_secs(10),
        memory_mb: 128,
    })
    .await
    .expect("starting runtime-probe");
    let mut direct = Vec::with_capacity(http_samples);
    for i in 0..WARMUP + http_samples {
        let started = Instant::now();
        direct_environment
            .invoke(&json!({}))
            .await
            .expect("a direct invocation");
        if i >= WARMUP {
            direct.push(started.elapsed());
        }
    }
    direct_environment.stop().await;
    report("HTTP GET /noop through the runner", &mut gateway);
    report("the same, Runtime API only", &mut direct);
    let (g50, d50) = (percentile(&gateway, 50.0), percentile(&direct, 50.0));
    let (g99, d99) = (percentile(&gateway, 99.0), percentile(&direct, 99.0));
    println!(
        "  gateway share (p50 / p99)          {:>8.3} / {:.3} ms",
        ms(g50.saturating_sub(d50)),
        ms(g99.saturating_sub(d99))
    );

    // Kafka: produce one record, wait for the probe to log its invocation.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .expect("a producer");
    let mut kafka = Vec::with_capacity(kafka_samples);
    for i in 0..WARMUP.min(10) + kafka_samples {
        let value = format!("bench-{i}");
        let sent_at = now_us();
        producer
            .send(
                FutureRecord::to(&topic).key("bench").payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(error, _)| error)
            .expect("producing");
        let received_at = wait_for(&log, &value).await;
        if i >= WARMUP.min(10) {
            kafka.push(Duration::from_micros(received_at.saturating_sub(sent_at)));
        }
    }
    report("Kafka produce -> invocation", &mut kafka);

    let status = runner.stop().await;
    let _ = admin
        .delete_topics(&[topic.as_str()], &AdminOptions::new())
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "the runner stopped with {status}");
}

/// Polls the probe's log until an invocation carried `value`; returns when it arrived.
async fn wait_for(log: &std::path::Path, value: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().rev() {
            let Ok(line) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let carried = line["records"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r[3] == value);
            if carried {
                return line["received_at_us"].as_u64().expect("received_at_us");
            }
        }
        assert!(Instant::now() < deadline, "{value} never arrived");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    println!(
        "  {what:<34} n={:<5} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 90.0)),
        ms(percentile(samples, 99.0)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
    );
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}
