//! Benchmark of the HTTP API through the local runner on the real template.yaml (JWT authorizer,
//! real functions, PostgreSQL, Kafka), printing figures, never asserting on them:
//! POST /requests, GET /requests/{id} and GET /requests (a page of 20), one client at a time,
//! a warm-up first. The authorizer's answers are cached per token as API Gateway does.
//! Each POST sets the event-driven half going (manager assignment, two e-mails through moto,
//! the audit sink), on the same 2 cores: the POSTs are timed with it running, as in life; the
//! GETs after it has drained (both e-mails of every request sent), so they time the API alone.
//! The drain time is printed too.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --workspace --bins && "$CARGO_TARGET_DIR/debug/api-bench" [samples]

use serde_json::Value;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, new_request};
use std::time::{Duration, Instant};

const WARMUP: usize = 20;

#[tokio::main]
async fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let db = TestDatabase::new().await;
    let stack = Stack::start(&db.url, &[("LOCAL_RUNNER_LOG", "warn")]).await;
    let region = format!("bench-{}", stack.id);
    let admin = stack.admin().await;
    stack.create_manager(&admin, &[&region]).await;
    let customer = stack.verified_customer().await;
    let body = new_request(&region);

    let mut post = Vec::new();
    let mut ids = Vec::new();
    for i in 0..WARMUP + samples {
        let started = Instant::now();
        let response = stack
            .http
            .post(stack.url("/requests"))
            .header("authorization", &customer)
            .json(&body)
            .send()
            .await
            .expect("POST /requests");
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("a request");
        if i >= WARMUP {
            post.push(started.elapsed());
        }
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let posted = Instant::now();
    let mails = 2 * ids.len() as i64;
    let mut sent: i64 = 0;
    while sent < mails && posted.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sent = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE state = 'sent'")
            .fetch_one(&db.pool)
            .await
            .expect("counting sent notifications");
    }
    let drained = posted.elapsed();
    let mut get_one = Vec::new();
    for (i, id) in ids.iter().enumerate().take(WARMUP + samples) {
        let started = Instant::now();
        let response = stack
            .http
            .get(stack.url(&format!("/requests/{id}")))
            .header("authorization", &customer)
            .send()
            .await
            .expect("GET /requests/{id}");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("the body");
        if i >= WARMUP {
            get_one.push(started.elapsed());
        }
    }
    let mut list = Vec::new();
    for i in 0..WARMUP + samples {
        let started = Instant::now();
        let response = stack
            .http
            .get(stack.url("/requests?limit=20"))
            .header("authorization", &customer)
            .send()
            .await
            .expect("GET /requests");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("the body");
        if i >= WARMUP {
            list.push(started.elapsed());
        }
    }
    println!(
        "API through the local runner (real template.yaml, {} profile binaries, {} requests in the table)",
        servicehub_tests::build_profile(),
        ids.len()
    );
    report("POST /requests", &mut post);
    println!(
        "  then {sent} of {mails} e-mails sent {:.1} s after the last POST (the pipeline drained)",
        drained.as_secs_f64()
    );
    report("GET /requests/{id}", &mut get_one);
    report("GET /requests?limit=20", &mut list);
    let status = stack.runner.stop().await;
    assert!(status.success(), "the runner stopped with {status}");
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| {
        let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    };
    println!(
        "  {what:<24} n={:<5} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        samples.len(),
        ms(at(50.0)),
        ms(at(90.0)),
        ms(at(99.0)),
        ms(*samples.last().unwrap()),
    );
}
