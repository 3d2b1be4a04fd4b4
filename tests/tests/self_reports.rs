//! Functions report on themselves to audit-events: `audit.performance_metric` with their own
//! timings, `audit.error_occurred` when they handle a failure. Real binaries, real Kafka; each
//! function runs under a service name of its own, which is the key of what it reports.

use serde_json::json;
use servicehub_events::catalog::{DomainEvent, ErrorOccurred, PerformanceMetric, RequestCreated};
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_events::values::Urgency;
use servicehub_events::{Envelope, Topic};
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use servicehub_tests::apigw::{claims, invoke, request};
use servicehub_tests::kafka::{KafkaProbe, msk_trigger};
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, insert_user, new_request, start_function};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);
/// Nothing listens on port 1 of the loopback: every connection is refused at once.
const UNREACHABLE_DATABASE: &str = "postgres://servicehub@127.0.0.1:1/servicehub";

/// Starts `function` as `<function>-<uuid>`, publishing its metrics after every invocation.
async fn start_reporting(
    function: &str,
    database_url: &str,
) -> (local_lambda::LambdaEnvironment, String) {
    let service_name = format!("{function}-{}", Uuid::new_v4().simple());
    let env = [
        ("SERVICE_NAME", service_name.as_str()),
        ("PERFORMANCE_METRICS_FLUSH_SECONDS", "0"),
    ];
    (
        start_function(function, database_url, &env).await,
        service_name,
    )
}

fn metrics(reports: &[Envelope]) -> Vec<&PerformanceMetric> {
    reports
        .iter()
        .filter_map(|e| match &e.data {
            DomainEvent::PerformanceMetric(metric) => Some(metric),
            _ => None,
        })
        .collect()
}

/// The `audit.error_occurred` reports, each with its envelope (for the correlation).
fn errors(reports: &[Envelope]) -> Vec<(&Envelope, &ErrorOccurred)> {
    reports
        .iter()
        .filter_map(|e| match &e.data {
            DomainEvent::ErrorOccurred(error) => Some((e, error)),
            _ => None,
        })
        .collect()
}

fn get_request(id: Uuid) -> serde_json::Value {
    request(
        "GET",
        "GET /requests/{id}",
        &format!("/requests/{id}"),
        Some(json!({"id": id.to_string()})),
        None,
        None,
        Some(claims(Uuid::now_v7(), "customer", &[])),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_function_reports_each_requests_timing_under_its_route_and_a_5xx_as_an_error() {
    let db = TestDatabase::new().await;
    let (healthy, healthy_name) = start_reporting("get-request", &db.url).await;
    let (cut_off, cut_off_name) = start_reporting("get-request", UNREACHABLE_DATABASE).await;
    let probe = KafkaProbe::new(Topic::AuditEvents.name());

    // A 404 is an answer, not a failure: a timing and no error.
    let missing = Uuid::now_v7();
    assert_eq!(invoke(&healthy, &get_request(missing)).await.status, 404);
    assert_eq!(invoke(&healthy, &get_request(missing)).await.status, 404);
    let reports = probe.envelopes(&healthy_name, 2, WAIT).await;
    let timings = metrics(&reports);
    assert_eq!(timings.len(), 2, "one metric per request: {reports:?}");
    for metric in timings {
        assert_eq!(metric.component, healthy_name);
        assert_eq!(metric.operation, "GET /requests/{id}");
        assert_eq!(metric.items, 1);
        assert!(metric.duration_ms > 0.0);
    }
    assert!(errors(&reports).is_empty());

    // Without its database the function answers 503 and says so on audit-events.
    let probe = KafkaProbe::new(Topic::AuditEvents.name());
    let correlation_id = Uuid::now_v7();
    let mut event = get_request(missing);
    event["headers"]["x-correlation-id"] = json!(correlation_id.to_string());
    let response = invoke(&cut_off, &event).await;
    assert_eq!(response.status, 503, "{:?}", response.body);
    let reports = probe.envelopes(&cut_off_name, 2, WAIT).await;
    let reported = errors(&reports);
    assert_eq!(reported.len(), 1, "{reports:?}");
    let (error_envelope, error) = reported[0];
    assert_eq!(error.error_kind, "service_unavailable");
    assert!(error.retryable);
    assert_eq!(
        error.subject_id.as_deref(),
        Some(format!("GET /requests/{{id}} /requests/{missing}").as_str())
    );
    assert_eq!(
        error_envelope.meta.correlation_id, correlation_id,
        "the error joins the request's correlation"
    );
    assert_eq!(
        metrics(&reports).len(),
        1,
        "the failed request was timed too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_reports_each_batch_and_a_transient_failure_with_its_cause() {
    let db = TestDatabase::new().await;
    let (assigner, assigner_name) = start_reporting("assign-manager", &db.url).await;
    let (cut_off, cut_off_name) = start_reporting("assign-manager", UNREACHABLE_DATABASE).await;

    // A request in a region without managers: handled (and audited) without an assignment.
    let (request_id, customer) = (Uuid::now_v7(), insert_user(&db.pool, "customer", &[]).await);
    let region = format!("nowhere-{}", Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency,
                                       region, city, address, status, created_at, updated_at)
         VALUES ($1, $2, 'x', 'x', 'plumbing', 'normal', $3, $3, 'addr', 'new', now(), now())",
    )
    .bind(request_id)
    .bind(customer)
    .bind(&region)
    .execute(&db.pool)
    .await
    .unwrap();
    let created = Envelope::new(
        "self-reports-test",
        RequestCreated {
            request_id,
            customer_id: customer,
            title: "Протекает кран".into(),
            description: "Капает из-под смесителя на кухне".into(),
            category: "plumbing".into(),
            urgency: Urgency::Normal,
            region,
            city: "Казань".into(),
            address: "ул. Баумана, 1".into(),
            preferred_time_window: None,
            budget: None,
            created_at: chrono::Utc::now(),
        },
    );
    let records_probe = KafkaProbe::new(Topic::RequestEvents.name());
    let producer = EventProducer::new(&Config::without_database_from_env("self-reports").unwrap())
        .expect("a producer");
    producer.send(&created.to_kafka()).await.unwrap();
    let key = created.meta.subject.clone();
    let records = tokio::task::spawn_blocking(move || records_probe.read_key(&key, 1, WAIT))
        .await
        .unwrap();
    let payload = msk_trigger(&records);

    let probe = KafkaProbe::new(Topic::AuditEvents.name());
    assigner
        .invoke(&payload)
        .await
        .expect("the batch is handled");
    let reports = probe.envelopes(&assigner_name, 1, WAIT).await;
    let timings = metrics(&reports);
    assert_eq!(timings.len(), 1, "{reports:?}");
    assert_eq!(timings[0].operation, "handle_batch");
    assert_eq!(timings[0].items, 1);

    // The database is gone: the batch fails for a retry, and the error names the event.
    let probe = KafkaProbe::new(Topic::AuditEvents.name());
    cut_off
        .invoke(&payload)
        .await
        .expect_err("a transient failure fails the invocation");
    let reports = probe.envelopes(&cut_off_name, 2, WAIT).await;
    let reported = errors(&reports);
    assert_eq!(reported.len(), 1, "{reports:?}");
    let (error_envelope, error) = reported[0];
    assert_eq!(error.error_kind, "transient_failure");
    assert!(error.retryable);
    assert_eq!(error.cause_event_id, Some(created.meta.id));
    assert_eq!(error_envelope.meta.causation_id, Some(created.meta.id));
    assert_eq!(
        error_envelope.meta.correlation_id,
        created.meta.correlation_id
    );
    assert_eq!(metrics(&reports).len(), 1, "the failed batch was timed too");
}

/// The real template through the runner: each function a login, a new user, a filed request and
/// its assignment pass through reports its own timing, the authorizer included.
#[tokio::test(flavor = "multi_thread")]
async fn through_the_runner_every_function_on_a_requests_path_reports_its_timings() {
    let db = TestDatabase::new().await;
    let stack =
        Stack::start_with_parameters(&db.url, &[], &[("PerformanceMetricsFlushSeconds", "0")])
            .await;
    let probe = KafkaProbe::new(Topic::AuditEvents.name());
    let region = format!("metrics-{}", stack.id);
    let admin = stack.admin().await;
    stack.create_manager(&admin, &[&region]).await;
    let customer = stack.customer().await;
    let (status, created) = stack
        .post(&customer, "/requests", &new_request(&region))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    stack
        .wait_for_status(&customer, id, "manager_assigned")
        .await;

    let expected = [
        ("auth-login", "POST /auth/login"),
        ("authorizer", "authorize"),
        ("create-user", "POST /users"),
        ("auth-register", "POST /auth/register"),
        ("create-request", "POST /requests"),
        ("get-request", "GET /requests/{id}"),
        ("assign-manager", "handle_batch"),
    ];
    let reported = |records: &[ConsumedRecord]| -> Vec<(String, String)> {
        records
            .iter()
            .filter_map(|r| Envelope::from_kafka(&r.message).ok())
            .filter_map(|e| match e.data {
                DomainEvent::PerformanceMetric(m) => Some((m.component, m.operation)),
                _ => None,
            })
            .collect()
    };
    let all_there = move |records: &[ConsumedRecord]| {
        let reported = reported(records);
        expected.iter().all(|(component, operation)| {
            reported
                .iter()
                .any(|(c, o)| c == component && o == operation)
        })
    };
    let records = tokio::task::spawn_blocking(move || probe.read_until(WAIT, all_there))
        .await
        .unwrap();
    let seen = reported(&records);
    for (component, operation) in expected {
        assert!(
            seen.iter().any(|(c, o)| c == component && o == operation),
            "no metric {operation} from {component}; seen: {seen:?}"
        );
    }
    assert!(stack.runner.stop().await.success());
}
