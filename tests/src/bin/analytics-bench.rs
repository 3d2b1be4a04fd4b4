//! How fast `GET /analytics/requests` computes its figures, printing them, never asserting on
//! them: a ClickHouse database of its own filled with about 100,000 audit rows (`[rows]`) as
//! audit-sink stores them (10,000 requests over the last 30 days in 10 regions, each created,
//! given a manager, moved on, some assigned, completed or cancelled, with their notifications),
//! then the endpoint's two queries, as an admin (every region) and as a manager (two regions),
//! `[runs]` times each. Prints p50, p95 and the slowest, and the figures of the last run.
//!
//! Needs ClickHouse (`eval "$(tools/dev-services env)"`):
//!   cargo build --workspace --bins && "$CARGO_TARGET_DIR/debug/analytics-bench" [rows] [runs]
//! `ANALYTICS_BENCH_KEEP=1` keeps the database afterwards, to profile the queries by hand.

use chrono::{Duration, Utc};
use servicehub_audit::analytics::{AnalyticsQuery, analytics};
use servicehub_audit::row::{AuditRow, Position};
use servicehub_audit::schema::EVENTS;
use servicehub_events::Envelope;
use servicehub_events::catalog::{
    ContractorAssigned, EmailSent, ManagerAssigned, NotificationContext, NotificationFailed,
    RequestCancelled, RequestCreated, StatusChanged, WorkCompleted,
};
use servicehub_events::values::{
    Actor, Money, NotificationChannel, Priority, RequestStatus, Role, Urgency,
};
use servicehub_platform::http::Identity;
use servicehub_tests::{audit_database, build_profile};
use std::time::Instant;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let target_rows: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);

    let clickhouse = audit_database().await;

    let now = Utc::now();
    let regions: Vec<String> = (0..10).map(|i| format!("region-{i}")).collect();
    let position = Position {
        topic: "bench".into(),
        partition: 0,
        offset: Some(0),
    };
    let mut rows: Vec<AuditRow> = Vec::with_capacity(target_rows + 16);
    let mut requests = 0usize;
    let started = Instant::now();
    while rows.len() < target_rows {
        let i = requests;
        requests += 1;
        let request_id = Uuid::now_v7();
        let (customer, manager, contractor) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let region = regions[i % regions.len()].clone();
        let created_at = now - Duration::seconds(((i * 7919) % (30 * 86_400)) as i64);
        let at = |seconds: i64| created_at + Duration::seconds(seconds);
        let mut push = |envelope: Envelope, time: chrono::DateTime<Utc>| {
            let mut envelope = envelope;
            envelope.meta.time = time;
            rows.push(AuditRow::new(&envelope, &position, now));
        };
        let status = |from: Option<RequestStatus>, to: RequestStatus, t| StatusChanged {
            request_id,
            from,
            to,
            actor: Actor::system("bench"),
            reason: None,
            changed_at: t,
        };
        push(
            Envelope::new(
                "create-request",
                RequestCreated {
                    request_id,
                    customer_id: customer,
                    title: format!("Заявка {i}"),
                    description: "—".into(),
                    category: ["appliance-repair", "plumbing", "electrics"][i % 3].into(),
                    urgency: Urgency::Normal,
                    region: region.clone(),
                    city: region.clone(),
                    address: "—".into(),
                    preferred_time_window: None,
                    budget: None,
                    created_at,
                },
            ),
            created_at,
        );
        let notify = |channel: NotificationChannel, failed: bool, t| -> Envelope {
            let context = NotificationContext {
                recipient_user_id: customer,
                template: "request_created.customer".into(),
                language: "ru".into(),
                cause_event_id: request_id,
                request_id: Some(request_id),
            };
            if failed {
                Envelope::new(
                    "notify",
                    NotificationFailed {
                        notification_id: Uuid::now_v7(),
                        context,
                        channel,
                        reason: "bench".into(),
                        permanent: true,
                        attempts: 1,
                        failed_at: t,
                    },
                )
            } else {
                Envelope::new(
                    "notify",
                    EmailSent {
                        notification_id: Uuid::now_v7(),
                        context,
                        to_address: "bench@example.test".into(),
                        subject: "bench".into(),
                        provider_message_id: "bench".into(),
                        sent_at: t,
                    },
                )
            }
        };
        push(
            notify(NotificationChannel::Email, i.is_multiple_of(50), at(2)),
            at(2),
        );
        push(
            Envelope::new(
                "assign-manager",
                ManagerAssigned {
                    request_id,
                    manager_id: manager,
                    customer_id: customer,
                    region: region.clone(),
                    priority: Priority::Normal,
                    reason: "bench".into(),
                    assigned_at: at(1),
                },
            ),
            at(1),
        );
        push(
            Envelope::new(
                "assign-manager",
                status(None, RequestStatus::ManagerAssigned, at(1)),
            ),
            at(1),
        );
        if i.is_multiple_of(5) {
            push(
                Envelope::new(
                    "cancel-request",
                    RequestCancelled {
                        request_id,
                        customer_id: customer,
                        cancelled_by: Actor::user(customer, Role::Customer),
                        previous_status: RequestStatus::ManagerAssigned,
                        reason: "bench".into(),
                        cancelled_at: at(600),
                    },
                ),
                at(600),
            );
            push(
                Envelope::new(
                    "cancel-request",
                    status(
                        Some(RequestStatus::ManagerAssigned),
                        RequestStatus::Cancelled,
                        at(600),
                    ),
                ),
                at(600),
            );
            continue;
        }
        push(
            Envelope::new(
                "dispatch-request",
                status(
                    Some(RequestStatus::ManagerAssigned),
                    RequestStatus::SentToContractors,
                    at(900),
                ),
            ),
            at(900),
        );
        if i % 5 == 1 {
            continue;
        }
        let took = 1800 + (i % 600) as i64 * 10;
        push(
            Envelope::new(
                "accept-request",
                ContractorAssigned {
                    request_id,
                    contractor_id: contractor,
                    manager_id: manager,
                    customer_id: customer,
                    region: region.clone(),
                    category: "appliance-repair".into(),
                    assigned_by: Actor::user(contractor, Role::Contractor),
                    assigned_at: at(took),
                },
            ),
            at(took),
        );
        push(
            notify(NotificationChannel::Email, false, at(took + 1)),
            at(took + 1),
        );
        push(
            Envelope::new(
                "accept-request",
                status(
                    Some(RequestStatus::SentToContractors),
                    RequestStatus::ContractorAssigned,
                    at(took),
                ),
            ),
            at(took),
        );
        if i % 5 == 2 {
            continue;
        }
        let done = took + 86_400;
        push(
            Envelope::new(
                "complete-work",
                WorkCompleted {
                    request_id,
                    contractor_id: contractor,
                    manager_id: manager,
                    customer_id: customer,
                    completion_report: "bench".into(),
                    final_price: Money {
                        amount_minor: 100_000,
                        currency: "RUB".into(),
                    },
                    completed_at: at(done),
                },
            ),
            at(done),
        );
        push(
            Envelope::new(
                "complete-work",
                status(
                    Some(RequestStatus::InProgress),
                    RequestStatus::Completed,
                    at(done),
                ),
            ),
            at(done),
        );
        push(
            notify(NotificationChannel::Email, false, at(done + 1)),
            at(done + 1),
        );
    }
    let generated = started.elapsed();
    let started = Instant::now();
    for chunk in rows.chunks(10_000) {
        let body: String = chunk
            .iter()
            .map(|row| serde_json::to_string(row).unwrap() + "\n")
            .collect();
        clickhouse.insert_json_each_row(EVENTS, body).await.unwrap();
    }
    println!(
        "analytics-bench ({} build): {} audit rows for {requests} requests, generated in {:.1} s, stored in {:.1} s",
        build_profile(),
        rows.len(),
        generated.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    let callers = [
        (
            "admin, every region",
            Identity {
                user_id: Uuid::now_v7(),
                role: Role::Admin,
                regions: vec![],
            },
        ),
        (
            "manager, 2 regions",
            Identity {
                user_id: Uuid::now_v7(),
                role: Role::Manager,
                regions: regions[..2].to_vec(),
            },
        ),
    ];
    for (name, caller) in &callers {
        let query = AnalyticsQuery::parse([], caller, Utc::now() + Duration::seconds(1)).unwrap();
        let mut times = Vec::with_capacity(runs);
        let mut last = None;
        for _ in 0..runs {
            let started = Instant::now();
            last = Some(analytics(&clickhouse, &query).await.unwrap());
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let figures = last.unwrap();
        println!(
            "  {name}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {runs} runs; {} requests, cancellation rate {}, median to completion {:?} s",
            at(0.5),
            at(0.95),
            times[times.len() - 1],
            figures.requests,
            figures.cancellation_rate,
            figures.time_to_completion.median_seconds
        );
    }
    if std::env::var("ANALYTICS_BENCH_KEEP").as_deref() == Ok("1") {
        // For profiling the queries by hand; prune-test-data drops it later.
        println!("  kept the database {}", clickhouse.database());
        return;
    }
    clickhouse
        .execute(&format!("DROP DATABASE {}", clickhouse.database()), false)
        .await
        .unwrap();
}
