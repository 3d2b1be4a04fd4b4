//! End-to-end latency of the first seed scenario through the local runner on the real
//! template.yaml, printing figures (never asserting on them): from a customer's `POST /requests`
//! leaving the client to the confirmation e-mail accepted by SES (moto) — create-request, the
//! outbox, Kafka, the `notify` trigger (its 1 s batching window included), SES.
//!
//! Requests are sent at a steady rate; each one's latency is the `sent_at` of its confirmation in
//! the `notifications` table minus the moment its POST was sent (one machine, one clock).
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --workspace --bins && "$CARGO_TARGET_DIR/debug/e2e-bench" [requests] [per second]

use chrono::{DateTime, Utc};
use serde_json::Value;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, new_request};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let db = TestDatabase::new().await;
    let stack = Stack::start(&db.url, &[("LOCAL_RUNNER_LOG", "warn")]).await;
    let region = format!("e2e-{}", stack.id);
    let admin = stack.admin().await;
    stack.create_manager(&admin, &[&region]).await;
    let customer = stack.customer().await;
    let body = new_request(&region);

    let started = Instant::now();
    let mut sent: Vec<(Uuid, DateTime<Utc>)> = Vec::with_capacity(requests);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..requests {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, url, token, body) = (
            stack.http.clone(),
            stack.url("/requests"),
            customer.clone(),
            body.clone(),
        );
        tasks.spawn(async move {
            let at = Utc::now();
            let response = http
                .post(url)
                .header("authorization", token)
                .json(&body)
                .send()
                .await
                .expect("POST /requests");
            assert_eq!(response.status(), 201);
            let created: Value = response.json().await.expect("a request");
            (
                Uuid::parse_str(created["id"].as_str().unwrap()).unwrap(),
                at,
            )
        });
    }
    while let Some(result) = tasks.join_next().await {
        sent.push(result.expect("a POST task"));
    }
    let ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let confirmations: Vec<(Uuid, DateTime<Utc>)> = loop {
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "SELECT request_id, sent_at FROM notifications
             WHERE request_id = ANY($1) AND template = 'request_created.customer' AND state = 'sent'",
        )
        .bind(&ids)
        .fetch_all(&db.pool)
        .await
        .expect("reading notifications");
        if rows.len() == ids.len() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut latencies: Vec<Duration> = confirmations
        .iter()
        .filter_map(|(id, sent_at)| {
            let posted = sent.iter().find(|(r, _)| r == id)?.1;
            (*sent_at - posted).to_std().ok()
        })
        .collect();
    latencies.sort();
    let at = |p: f64| {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "POST /requests -> confirmation e-mail sent (SES/moto), through the local runner on the real template"
    );
    println!(
        "  {} of {} confirmed; {:.0} requests/s offered; p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        latencies.len(),
        requests,
        rate,
        ms(at(50.0)),
        ms(at(90.0)),
        ms(at(99.0)),
        ms(*latencies.last().unwrap())
    );
    let status = stack.runner.stop().await;
    assert!(status.success(), "the runner stopped with {status}");
}
