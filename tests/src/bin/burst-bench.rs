//! The seeds' load test through the local runner on the real template.yaml: N request creations
//! sent at once (default 1,000), every answer counted, then the whole pipeline timed until it has
//! drained: each request `manager_assigned`, the customer's confirmation and the manager's notice
//! accepted by SES (moto), `request.created` in the audit log (ClickHouse). Prints the figures and
//! what is missing or arrived twice; asserts nothing about time.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --profile local --workspace --bins &&
//!     "$CARGO_TARGET_DIR/local/burst-bench" [requests]

use serde_json::Value;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, audit_database, new_request, required_env};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

const DRAIN_LIMIT: Duration = Duration::from_secs(180);

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let db = TestDatabase::new().await;
    let audit = audit_database().await;
    let stack = Stack::start_with_parameters(
        &db.url,
        &[
            ("LOCAL_RUNNER_LOG", "warn"),
            // The relay has been running all along, as in a deployed system.
            ("LOCAL_RUNNER_FIRE_SCHEDULES_AT_START", "1"),
        ],
        &[
            ("ClickHouseDatabase", audit.database()),
            // What a deployment gets, not the test stacks' patient 10 s.
            ("OutboxPublishBudgetMs", "200"),
        ],
    )
    .await;
    let region = format!("burst-{}", stack.id);
    let admin = stack.admin().await;
    let manager = stack.create_manager(&admin, &[&region]).await;
    let manager_email = manager["email"].as_str().unwrap_or_default().to_owned();
    let (customer, customer_email) = stack.verified_customer_with_email().await;
    let body = new_request(&region);
    let mails_before = servicehub_tests::moto::mails_per_address().await;

    let started = Instant::now();
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..requests {
        let (http, url, token, body) = (
            stack.http.clone(),
            stack.url("/requests"),
            customer.clone(),
            body.clone(),
        );
        posts.spawn(async move {
            let sent = Instant::now();
            let response = http
                .post(url)
                .header("authorization", token)
                .json(&body)
                .send()
                .await;
            let status = response.as_ref().map_or(0, |r| r.status().as_u16());
            let id = match response {
                Ok(r) if status == 201 => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok())),
                _ => None,
            };
            (status, id, sent.elapsed())
        });
    }
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut ids = Vec::new();
    let mut latencies = Vec::new();
    while let Some(done) = posts.join_next().await {
        let (status, id, latency) = done.expect("a POST task");
        *statuses.entry(status).or_default() += 1;
        ids.extend(id);
        latencies.push(latency);
    }
    let answered = started.elapsed();
    latencies.sort();
    let at = |p: f64| {
        latencies[((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1]
            .as_secs_f64()
            * 1000.0
    };

    let mut state = Drain::default();
    let drained = loop {
        state = drain_state(&db, &ids, audit.database())
            .await
            .unwrap_or(state);
        let expected = ids.len() as i64;
        if state.assigned == expected && state.sent == 2 * expected && state.audited == expected {
            break Some(started.elapsed() - answered);
        }
        if started.elapsed() - answered > DRAIN_LIMIT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mails_after = servicehub_tests::moto::mails_per_address().await;
    let new_mails = |address: &str| {
        mails_after.get(address).copied().unwrap_or(0)
            - mails_before.get(address).copied().unwrap_or(0)
    };
    println!(
        "burst-bench: {requests} POST /requests at once through the local runner ({} profile)",
        servicehub_tests::build_profile()
    );
    println!(
        "  answers {statuses:?} (0 = no answer), the last after {:.2} s; latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        answered.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    match drained {
        Some(after) => println!(
            "  drained {:.2} s after the last answer: {} manager_assigned, {} e-mails sent, {} request.created audited",
            after.as_secs_f64(),
            state.assigned,
            state.sent,
            state.audited
        ),
        None => println!(
            "  NOT drained within {DRAIN_LIMIT:?} of the last answer: {} of {} manager_assigned, {} of {} e-mails sent, {} audited",
            state.assigned,
            ids.len(),
            state.sent,
            2 * ids.len(),
            state.audited
        ),
    }
    println!(
        "  accepted by SES: the customer {} mails, the manager {} (for {} requests: missing or twice shows here)",
        new_mails(&customer_email),
        new_mails(&manager_email),
        ids.len()
    );
    let status = stack.runner.stop().await;
    assert!(status.success(), "the runner stopped with {status}");
}

#[derive(Default, Clone, Copy)]
struct Drain {
    assigned: i64,
    sent: i64,
    audited: i64,
}

async fn drain_state(db: &TestDatabase, ids: &[Uuid], audit_db: &str) -> Option<Drain> {
    let (assigned, sent): (i64, i64) = sqlx::query_as(
        "SELECT
            (SELECT count(*) FROM service_requests WHERE id = ANY($1) AND status = 'manager_assigned'),
            (SELECT count(*) FROM notifications WHERE request_id = ANY($1) AND state = 'sent')",
    )
    .bind(ids)
    .fetch_one(&db.pool)
    .await
    .ok()?;
    let query = format!(
        "SELECT uniqExact(request_id) FROM {audit_db}.events FINAL WHERE event_type = 'request.created'"
    );
    let audited = reqwest::Client::new()
        .post(required_env("CLICKHOUSE_URL"))
        .body(query)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Drain {
        assigned,
        sent,
        audited,
    })
}
