//! Throughput of the audit sink, printing figures, never asserting on them: N events produced to
//! audit-events (real Kafka), read back as the event source mapping would see them, then handed
//! to the real `audit-sink` binary (one execution environment, batches of B records, one after
//! the other, as one partition's poller does) which stores them in ClickHouse. Prints events per
//! second stored (invocations only, and end to end from the first produce), and checks the count.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --workspace --bins && "$CARGO_TARGET_DIR/debug/audit-bench" [events] [batch]

use chrono::Utc;
use serde_json::Value;
use servicehub_events::Envelope;
use servicehub_events::catalog::UserAction;
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use servicehub_tests::kafka::{KafkaProbe, msk_trigger};
use servicehub_tests::{audit_database, start_function};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);

    let clickhouse = audit_database().await;
    let sink = start_function(
        "audit-sink",
        "postgres://unused@127.0.0.1:1/unused",
        &[
            ("CLICKHOUSE_URL", clickhouse.config().url.as_str()),
            ("CLICKHOUSE_DATABASE", clickhouse.database()),
        ],
    )
    .await;
    let producer =
        EventProducer::new(&Config::without_database_from_env("audit-bench").unwrap()).unwrap();

    // One subject (the record key) for the run: every record in one partition, in order.
    let resource = Uuid::now_v7().to_string();
    let key = resource.clone();
    let probe = KafkaProbe::new("audit-events");
    let started = Instant::now();
    let messages: Vec<_> = (0..total)
        .map(|i| {
            Envelope::new(
                "audit-bench",
                UserAction {
                    actor: Actor::user(Uuid::now_v7(), Role::Customer),
                    action: "request.create".into(),
                    resource_type: "service_request".into(),
                    resource_id: resource.clone(),
                    outcome: AuditOutcome::Success,
                    details: serde_json::json!({"n": i, "region": "Москва"}),
                    at: Utc::now(),
                },
            )
            .to_kafka()
        })
        .collect();
    for chunk in messages.chunks(1000) {
        for result in producer.send_all(chunk).await {
            result.expect("producing");
        }
    }
    let produced = started.elapsed();
    let read_key = key.clone();
    let records = tokio::task::spawn_blocking(move || {
        probe.read_key(&read_key, total, Duration::from_secs(120))
    })
    .await
    .unwrap();
    assert_eq!(records.len(), total, "every produced record was read back");
    let payloads: Vec<Value> = records.chunks(batch).map(msk_trigger).collect();

    let mut latencies = Vec::with_capacity(payloads.len());
    let sink_started = Instant::now();
    for payload in &payloads {
        let t = Instant::now();
        sink.invoke(payload).await.expect("the batch is stored");
        latencies.push(t.elapsed());
    }
    let stored_in = sink_started.elapsed();
    let end_to_end = started.elapsed();
    let rows: Vec<Value> = clickhouse
        .select("SELECT count() AS n FROM events FINAL FORMAT JSONEachRow")
        .await
        .unwrap();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!(
        "audit-bench: {total} events (audit.user_action, {} bytes each on Kafka), batches of {batch}, one environment, {} profile",
        messages[0].value.as_ref().map_or(0, Vec::len),
        servicehub_tests::build_profile()
    );
    println!(
        "  produce to Kafka (acks=all):  {:>8.0} events/s ({:.2} s)",
        total as f64 / produced.as_secs_f64(),
        produced.as_secs_f64()
    );
    println!(
        "  audit-sink -> ClickHouse:     {:>8.0} events/s ({:.2} s, {} invocations; per batch p50 {:.1} ms, p99 {:.1} ms)",
        total as f64 / stored_in.as_secs_f64(),
        stored_in.as_secs_f64(),
        payloads.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
    println!(
        "  end to end (produce, read back, store): {:.0} events/s",
        total as f64 / end_to_end.as_secs_f64()
    );
    println!(
        "  rows in ClickHouse (FINAL): {} (database {})",
        rows[0]["n"],
        clickhouse.database()
    );
}
