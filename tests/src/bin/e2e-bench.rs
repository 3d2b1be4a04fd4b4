//! End-to-end latency of the first seed scenario through the local runner on the real
//! template.yaml, printing figures (never asserting on them): from a customer's `POST /requests`
//! leaving the client to the confirmation e-mail accepted by SES (moto) — create-request, the
//! outbox, Kafka, the `notify` trigger, SES; and to the manager's assignment (assign-manager).
//!
//! Requests are sent at a steady rate; each one's latency is the `sent_at` of its confirmation in
//! the `notifications` table minus the moment its POST was sent (one machine, one clock).
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --profile local --workspace --bins &&
//!     "$CARGO_TARGET_DIR/local/e2e-bench" [requests] [per second]
//! (in the dev profile: `cargo build --workspace --bins`, `$CARGO_TARGET_DIR/debug/e2e-bench`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, new_request};
use std::collections::HashMap;
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
    let customer = stack.verified_customer().await;
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
    let posted_at: HashMap<Uuid, DateTime<Utc>> = sent.into_iter().collect();
    println!("through the local runner on the real template, {rate:.0} requests/s offered:");
    let assigned = wait_for(
        &db,
        &ids,
        "SELECT id, manager_assigned_at FROM service_requests
         WHERE id = ANY($1) AND manager_assigned_at IS NOT NULL",
    )
    .await;
    report(
        "POST /requests -> manager_assigned",
        &assigned,
        &posted_at,
        requests,
    );
    let confirmed = wait_for(
        &db,
        &ids,
        "SELECT request_id, sent_at FROM notifications
         WHERE request_id = ANY($1) AND template = 'request_created.customer' AND state = 'sent'",
    )
    .await;
    report(
        "POST /requests -> customer's e-mail accepted by SES (moto)",
        &confirmed,
        &posted_at,
        requests,
    );
    let status = stack.runner.stop().await;
    assert!(status.success(), "the runner stopped with {status}");
}

/// The (request id, moment) rows of `query` for `ids`, once all are there (or after 120 s).
async fn wait_for(db: &TestDatabase, ids: &[Uuid], query: &str) -> Vec<(Uuid, DateTime<Utc>)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(query)
            .bind(ids)
            .fetch_all(&db.pool)
            .await
            .expect("reading the pipeline's marks");
        if rows.len() == ids.len() || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn report(
    what: &str,
    reached: &[(Uuid, DateTime<Utc>)],
    posted_at: &HashMap<Uuid, DateTime<Utc>>,
    requests: usize,
) {
    let mut latencies: Vec<Duration> = reached
        .iter()
        .filter_map(|(id, at)| (*at - posted_at.get(id)?).to_std().ok())
        .collect();
    latencies.sort();
    if latencies.is_empty() {
        println!("  {what}: none of {requests} arrived");
        return;
    }
    let at = |p: f64| {
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {what}: {} of {requests}; p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        latencies.len(),
        ms(at(50.0)),
        ms(at(90.0)),
        ms(at(99.0)),
        ms(*latencies.last().unwrap())
    );
}
