//! The audit sink and GET /audit on real ClickHouse, real Kafka and the real function binaries.
//! Each test has a ClickHouse database of its own (`sh_audit_<uuid>`), migrated like production.

use chrono::{DateTime, Datelike, Duration as TimeDelta, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use servicehub_audit::ClickHouse;
use servicehub_events::catalog::{RequestCreated, StatusChanged, UserAction};
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_events::values::{Actor, AuditOutcome, RequestStatus, Role, Urgency};
use servicehub_events::{Envelope, KafkaMessage, dlq};
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use servicehub_tests::apigw::{HttpResponse, claims, invoke, request, with_query};
use servicehub_tests::kafka::{KafkaProbe, msk_trigger};
use servicehub_tests::{TestDatabase, audit_database, start_function};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);
// The sink needs no PostgreSQL; the harness passes some URL anyway.
const NO_DATABASE: &str = "postgres://unused@127.0.0.1:1/unused";

fn clickhouse_env(clickhouse: &ClickHouse) -> Vec<(&'static str, String)> {
    vec![
        ("CLICKHOUSE_URL", clickhouse.config().url.clone()),
        ("CLICKHOUSE_DATABASE", clickhouse.database().to_owned()),
    ]
}

async fn start(name: &str, env: &[(&'static str, String)]) -> local_lambda::LambdaEnvironment {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    start_function(name, NO_DATABASE, &env).await
}

fn producer() -> EventProducer {
    EventProducer::new(&Config::without_database_from_env("audit-tests").unwrap()).unwrap()
}

/// A record as if consumed from Kafka (for the tests that need no broker round trip).
fn consumed(message: KafkaMessage, partition: i32, offset: i64) -> ConsumedRecord {
    ConsumedRecord::new(message, partition, offset)
}

fn created(request_id: Uuid, customer: Uuid, at: DateTime<Utc>) -> Envelope {
    let mut envelope = Envelope::new(
        "create-request",
        RequestCreated {
            request_id,
            customer_id: customer,
            title: "Не работает холодильник".into(),
            description: "Не морозит".into(),
            category: "appliance-repair".into(),
            urgency: Urgency::Urgent,
            region: "Москва".into(),
            city: "Москва".into(),
            address: "ул. Ленина, 1".into(),
            preferred_time_window: None,
            budget: None,
            created_at: at,
        },
    );
    envelope.meta.time = at;
    envelope
}

fn status_changed(request_id: Uuid, manager: Uuid, at: DateTime<Utc>) -> Envelope {
    let mut envelope = Envelope::new(
        "dispatch-request",
        StatusChanged {
            request_id,
            from: Some(RequestStatus::ManagerAssigned),
            to: RequestStatus::SentToContractors,
            actor: Actor::user(manager, Role::Manager),
            reason: None,
            changed_at: at,
        },
    );
    envelope.meta.time = at;
    envelope
}

fn user_action(request_id: Uuid, user: Uuid, role: Role, at: DateTime<Utc>) -> Envelope {
    let mut envelope = Envelope::new(
        "create-request",
        UserAction {
            actor: Actor::user(user, role),
            action: "request.create".into(),
            resource_type: "service_request".into(),
            resource_id: request_id.to_string(),
            outcome: AuditOutcome::Success,
            details: json!({"region": "Москва"}),
            at,
        },
    );
    envelope.meta.time = at;
    envelope
}

async fn rows(clickhouse: &ClickHouse, sql: &str) -> Vec<Value> {
    clickhouse.select(sql).await.expect("querying ClickHouse")
}

async fn count(clickhouse: &ClickHouse, sql: &str) -> u64 {
    rows(clickhouse, &format!("{sql} FORMAT JSONEachRow")).await[0]["n"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_batch_from_three_topics_lands_with_its_columns_and_a_redelivery_adds_nothing() {
    let clickhouse = audit_database().await;
    let sink = start("audit-sink", &clickhouse_env(&clickhouse)).await;
    let (request_id, customer, manager) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let events = [
        created(request_id, customer, now),
        status_changed(request_id, manager, now + TimeDelta::seconds(1)),
        user_action(request_id, customer, Role::Customer, now),
    ];
    let probes = [
        KafkaProbe::new("request-events"),
        KafkaProbe::new("workflow-events"),
        KafkaProbe::new("audit-events"),
    ];
    let producer = producer();
    for event in &events {
        producer.send(&event.to_kafka()).await.unwrap();
    }
    // What the event source mapping would hand over: the records as consumed from Kafka.
    let key = request_id.to_string();
    let mut records = Vec::new();
    for probe in probes {
        let key = key.clone();
        records.extend(
            tokio::task::spawn_blocking(move || probe.read_key(&key, 1, WAIT))
                .await
                .unwrap(),
        );
    }
    assert_eq!(records.len(), 3);
    let payload = msk_trigger(&records);

    let report = sink.invoke(&payload).await.expect("the batch is stored");
    assert_eq!(
        report,
        json!({"records": 3, "stored": 3, "duplicates_in_batch": 0, "dead_lettered": 0})
    );
    let stored = rows(
        &clickhouse,
        "SELECT toString(event_id) AS id, event_type, event_version, source, subject, request_id,
                actor_user_id, actor_role, actor_service, correlation_id, toString(time) AS t,
                time_us, topic, partition, offset, payload
         FROM events FINAL ORDER BY time_us, event_type FORMAT JSONEachRow",
    )
    .await;
    assert_eq!(stored.len(), 3, "{stored:#?}");
    for event in &events {
        let row = stored
            .iter()
            .find(|r| r["id"] == event.meta.id.to_string())
            .unwrap_or_else(|| panic!("{} is stored", event.meta.event_type));
        let record = records
            .iter()
            .find(|r| Envelope::from_kafka(&r.message).unwrap().meta.id == event.meta.id)
            .unwrap();
        assert_eq!(row["event_type"], event.meta.event_type);
        assert_eq!(row["event_version"], 1);
        assert_eq!(row["source"], event.meta.source);
        assert_eq!(row["subject"], event.meta.subject);
        assert_eq!(row["request_id"], request_id.to_string());
        assert_eq!(row["correlation_id"], event.meta.correlation_id.to_string());
        assert_eq!(row["time_us"], event.meta.time.timestamp_micros());
        assert_eq!(
            row["t"],
            event.meta.time.format("%Y-%m-%d %H:%M:%S").to_string()
        );
        assert_eq!(row["topic"], record.message.topic);
        assert_eq!(row["partition"], record.partition);
        assert_eq!(row["offset"], record.offset);
        let payload: Value = serde_json::from_str(row["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["id"], event.meta.id.to_string());
        assert_eq!(payload["type"], event.meta.event_type);
    }
    let by_type = |t: &str| stored.iter().find(|r| r["event_type"] == t).unwrap();
    assert_eq!(
        by_type("request.created")["actor_user_id"],
        customer.to_string()
    );
    assert_eq!(by_type("request.created")["actor_role"], "customer");
    assert_eq!(
        by_type("workflow.status_changed")["actor_user_id"],
        manager.to_string()
    );
    assert_eq!(by_type("workflow.status_changed")["actor_role"], "manager");
    assert_eq!(by_type("workflow.status_changed")["actor_service"], "");
    assert_eq!(by_type("audit.user_action")["topic"], "audit-events");

    // The event source mapping delivers the same batch again (say, after a timeout).
    sink.invoke(&payload)
        .await
        .expect("the redelivery succeeds");
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events FINAL").await,
        3
    );
    assert_eq!(
        count(&clickhouse, "SELECT uniqExact(event_id) AS n FROM events").await,
        3
    );
    // After a merge even the raw table holds one row per event.
    clickhouse
        .execute("OPTIMIZE TABLE events FINAL", true)
        .await
        .unwrap();
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events").await,
        3
    );
    assert_eq!(
        count(
            &clickhouse,
            "SELECT count() AS n FROM events_by_request FINAL"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn a_malformed_record_goes_to_the_dlq_and_the_rest_of_the_batch_lands() {
    let clickhouse = audit_database().await;
    let sink = start("audit-sink", &clickhouse_env(&clickhouse)).await;
    let (request_id, customer) = (Uuid::now_v7(), Uuid::now_v7());
    let good = created(request_id, customer, Utc::now());
    let twice = user_action(request_id, customer, Role::Customer, Utc::now());
    let mut bad = good.to_kafka();
    bad.topic = "audit-events".into();
    bad.key = Some(format!("garbage-{request_id}").into_bytes());
    bad.value = Some(b"{\"specversion\": \"1.0\", \"id\": 42".to_vec());
    let dlq_probe = KafkaProbe::new("audit-events.dlq");
    let payload = msk_trigger(&[
        consumed(good.to_kafka(), 0, 100),
        consumed(bad, 3, 7),
        consumed(twice.to_kafka(), 3, 8),
        consumed(twice.to_kafka(), 3, 9),
    ]);

    let report = sink.invoke(&payload).await.expect("the batch succeeds");
    assert_eq!(
        report,
        json!({"records": 4, "stored": 2, "duplicates_in_batch": 1, "dead_lettered": 1})
    );
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events FINAL").await,
        2
    );
    let key = format!("garbage-{request_id}");
    let letters = tokio::task::spawn_blocking(move || dlq_probe.read_key(&key, 1, WAIT))
        .await
        .unwrap();
    assert_eq!(letters.len(), 1, "the bad record is dead-lettered once");
    let header =
        |name: &str| String::from_utf8(letters[0].message.header(name).unwrap().to_vec()).unwrap();
    assert_eq!(header(dlq::HEADER_CONSUMER), "audit-sink");
    assert_eq!(header(dlq::HEADER_SOURCE_TOPIC), "audit-events");
    assert_eq!(header(dlq::HEADER_SOURCE_PARTITION), "3");
    assert_eq!(header(dlq::HEADER_SOURCE_OFFSET), "7");
}

#[tokio::test]
async fn an_unreachable_clickhouse_fails_the_invocation_so_the_batch_is_retried() {
    let clickhouse = audit_database().await;
    let env = vec![
        // Nothing listens on port 9 (discard) of the loopback.
        ("CLICKHOUSE_URL", "http://127.0.0.1:9".to_owned()),
        ("CLICKHOUSE_DATABASE", clickhouse.database().to_owned()),
        ("CLICKHOUSE_TIMEOUT_MS", "2000".to_owned()),
    ];
    let sink = start("audit-sink", &env).await;
    let event = created(Uuid::now_v7(), Uuid::now_v7(), Utc::now());
    let payload = msk_trigger(&[consumed(event.to_kafka(), 0, 1)]);
    let error = sink
        .invoke(&payload)
        .await
        .expect_err("the invocation fails");
    assert!(
        format!("{error:?}").contains("ClickHouse"),
        "the error says why: {error:?}"
    );
    // Once ClickHouse is back, the retried batch lands.
    let healthy = start("audit-sink", &clickhouse_env(&clickhouse)).await;
    healthy.invoke(&payload).await.expect("the retry succeeds");
    assert_eq!(
        count(&clickhouse, "SELECT count() AS n FROM events FINAL").await,
        1
    );
}

fn get_audit(user: Uuid, role: &str, query: &str) -> Value {
    let mut event = request(
        "GET",
        "GET /audit",
        "/audit",
        None,
        None,
        None,
        Some(claims(user, role, &[])),
    );
    with_query(&mut event, query);
    event
}

fn ids(response: &HttpResponse) -> Vec<String> {
    response.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {:?}", response.body))
        .iter()
        .map(|i| i["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn get_audit_filters_pages_and_refuses_non_admins_and_bad_parameters() {
    let clickhouse = audit_database().await;
    let env = clickhouse_env(&clickhouse);
    let sink = start("audit-sink", &env).await;
    let audit = start("get-audit", &env).await;
    let (request_a, request_b) = (Uuid::now_v7(), Uuid::now_v7());
    let (customer, manager, admin) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    // Noon on the first of this month (from the clock, not the calendar of the day this was
    // written), so that two days back lies in the previous month's partition.
    let today = Utc::now().date_naive();
    let t0 = Utc
        .with_ymd_and_hms(today.year(), today.month(), 1, 12, 0, 0)
        .unwrap();
    let midnight = |t: DateTime<Utc>| format!("{}T00:00:00Z", t.format("%Y-%m-%d"));
    let at = |minutes: i64| t0 + TimeDelta::minutes(minutes) + TimeDelta::microseconds(123);
    // Newest first: e5 .. e0.
    let events = [
        created(request_a, customer, at(0)),
        user_action(request_a, customer, Role::Customer, at(1)),
        status_changed(request_a, manager, at(2)),
        created(request_b, customer, at(3)),
        status_changed(request_b, manager, at(4)),
        // The previous month's partition.
        user_action(request_b, customer, Role::Customer, at(-60 * 24 * 2)),
    ];
    let records: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, e)| consumed(e.to_kafka(), 0, i as i64))
        .collect();
    sink.invoke(&msk_trigger(&records)).await.unwrap();
    let id = |i: usize| events[i].meta.id.to_string();
    let ask = |query: &str| {
        let event = get_audit(admin, "admin", query);
        let audit = &audit;
        async move { invoke(audit, &event).await }
    };

    let all = ask("").await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(ids(&all), [id(4), id(3), id(2), id(1), id(0), id(5)]);
    assert_eq!(all.body["next_cursor"], Value::Null);
    let first = &all.body["items"][0];
    assert_eq!(first["event_type"], "workflow.status_changed");
    assert_eq!(first["actor"]["user_id"], manager.to_string());
    assert_eq!(first["actor"]["role"], "manager");
    assert_eq!(first["request_id"], request_b.to_string());
    assert_eq!(first["topic"], "workflow-events");
    assert_eq!(first["event"]["id"], id(4));
    assert_eq!(
        DateTime::parse_from_rfc3339(first["time"].as_str().unwrap()).unwrap(),
        at(4)
    );

    let by_type = ask("type=request.created").await;
    assert_eq!(ids(&by_type), [id(3), id(0)]);
    let by_actor = ask(&format!("actor={manager}")).await;
    assert_eq!(ids(&by_actor), [id(4), id(2)]);
    let by_request = ask(&format!("request_id={request_a}")).await;
    assert_eq!(ids(&by_request), [id(2), id(1), id(0)]);
    let combined = ask(&format!("actor={customer}&type=audit.user_action")).await;
    assert_eq!(ids(&combined), [id(1), id(5)]);
    // from inclusive, to exclusive, to the microsecond.
    let window = ask(&format!(
        "from={}&to={}",
        at(1).to_rfc3339_opts(SecondsFormat::Micros, true),
        at(3).to_rfc3339_opts(SecondsFormat::Micros, true)
    ))
    .await;
    assert_eq!(ids(&window), [id(2), id(1)]);
    let since = ask(&format!("from={}", midnight(t0))).await;
    assert_eq!(ids(&since).len(), 5);

    // Pages of two, newest first, through the cursor.
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = ask(&query).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let page_ids = ids(&page);
        assert!(page_ids.len() <= 2);
        seen.extend(page_ids);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ids(&all),
        "the pages add up to the whole log, in order"
    );

    // Only admins.
    for role in ["customer", "manager", "contractor", "security"] {
        let response = invoke(&audit, &get_audit(customer, role, "")).await;
        assert_eq!(response.status, 403, "{role}: {:?}", response.body);
    }
    // Bad parameters: 422 with every field.
    let bad =
        ask("actor=bob&type=request.exploded&from=yesterday&limit=501&cursor=%21%21&colour=red")
            .await;
    assert_eq!(bad.status, 422, "{:?}", bad.body);
    assert_eq!(bad.header("content-type"), Some("application/problem+json"));
    let mut fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["actor", "colour", "cursor", "from", "limit", "type"]
    );
    let range = ask(&format!(
        "from={}&to={}",
        midnight(t0 + TimeDelta::days(1)),
        midnight(t0)
    ))
    .await;
    assert_eq!(range.status, 422);
    assert_eq!(range.body["errors"][0]["code"], "invalid_range");
    assert_eq!(ask("limit=0").await.status, 422);
}

#[tokio::test]
async fn get_audit_answers_503_when_clickhouse_is_unreachable() {
    let env = vec![
        ("CLICKHOUSE_URL", "http://127.0.0.1:9".to_owned()),
        ("CLICKHOUSE_TIMEOUT_MS", "2000".to_owned()),
    ];
    let service_name = format!("get-audit-{}", Uuid::new_v4().simple());
    let mut env = env;
    env.push(("SERVICE_NAME", service_name.clone()));
    let audit = start("get-audit", &env).await;
    let probe = KafkaProbe::new("audit-events");
    let response = invoke(&audit, &get_audit(Uuid::now_v7(), "admin", "")).await;
    assert_eq!(response.status, 503, "{:?}", response.body);
    // The failure is reported on audit-events (the timing waits for the next flush).
    let reports = probe.envelopes(&service_name, 1, WAIT).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].meta.event_type, "audit.error_occurred");
}

/// The reads of the audit store are use cases a library calls with a caller and query pairs: no
/// Lambda event, no HTTP.
#[tokio::test]
async fn the_audit_reads_are_use_cases_that_need_no_http() {
    use servicehub_audit::analytics::request_analytics;
    use servicehub_audit::query::audit_log;
    use servicehub_audit::{AuditQueryError, AuditReader};
    use servicehub_platform::report::Reporter;

    let config = Config::without_database_from_env("audit-tests").unwrap();
    let reader = AuditReader {
        reporter: Reporter::from_config(&config, &producer()),
        clickhouse: Some(audit_database().await),
    };
    let caller = |role: Role, regions: &[&str]| TestDatabase::caller(Uuid::now_v7(), role, regions);
    let query = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    };

    let page = audit_log(&reader, caller(Role::Admin, &[]), query(&[]))
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
    let by_a_customer = audit_log(&reader, caller(Role::Customer, &[]), query(&[])).await;
    assert!(
        matches!(by_a_customer, Err(AuditQueryError::NotAllowed(_))),
        "{by_a_customer:?}"
    );
    let bad = audit_log(&reader, caller(Role::Admin, &[]), query(&[("limit", "0")])).await;
    assert!(matches!(bad, Err(AuditQueryError::Invalid(_))), "{bad:?}");
    let elsewhere = request_analytics(
        &reader,
        caller(Role::Manager, &["Москва"]),
        query(&[("region", "Казань")]),
    )
    .await;
    assert!(
        matches!(elsewhere, Err(AuditQueryError::NotAllowed(_))),
        "{elsewhere:?}"
    );
    let unconfigured = AuditReader {
        clickhouse: None,
        ..reader
    };
    let no_store = audit_log(&unconfigured, caller(Role::Admin, &[]), query(&[])).await;
    assert!(
        matches!(no_store, Err(AuditQueryError::StoreNotConfigured)),
        "{no_store:?}"
    );
}

/// The sink's own timings go straight into ClickHouse: published on audit-events, each would
/// trigger the sink again, for ever.
#[tokio::test]
async fn the_sink_stores_its_own_timings_in_clickhouse_and_not_on_kafka() {
    let clickhouse = audit_database().await;
    let service_name = format!("audit-sink-{}", Uuid::new_v4().simple());
    let mut env = clickhouse_env(&clickhouse);
    env.push(("SERVICE_NAME", service_name.clone()));
    env.push(("PERFORMANCE_METRICS_FLUSH_SECONDS", "0".to_owned()));
    let sink = start("audit-sink", &env).await;
    let probe = KafkaProbe::new("audit-events");
    let event = created(Uuid::now_v7(), Uuid::now_v7(), Utc::now());
    let payload = msk_trigger(&[consumed(event.to_kafka(), 0, 1)]);
    sink.invoke(&payload).await.expect("the batch is stored");

    let metrics = rows(
        &clickhouse,
        &format!(
            "SELECT actor_service, topic, payload FROM events FINAL
             WHERE event_type = 'audit.performance_metric' AND source = '{service_name}'
             FORMAT JSONEachRow"
        ),
    )
    .await;
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0]["actor_service"], service_name.as_str());
    assert_eq!(metrics[0]["topic"], "audit-events");
    let payload: Value = serde_json::from_str(metrics[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["data"]["operation"], "handle_batch");
    assert_eq!(payload["data"]["items"], 1);
    let published = tokio::task::spawn_blocking(move || {
        probe.read_key(&service_name, 1, Duration::from_secs(3))
    })
    .await
    .unwrap();
    assert!(published.is_empty(), "nothing on Kafka: {published:?}");
}

/// A store made before the analytics' derived columns existed gets them from `migrate`, and the
/// rows it already held read them computed from their payloads (as ClickHouse does for parts
/// written before an ADD COLUMN); a second migration changes nothing.
#[tokio::test]
async fn migrate_adds_the_derived_columns_to_an_older_store_and_its_rows_read_them() {
    use servicehub_audit::row::{AuditRow, Position};
    use servicehub_audit::schema::{DERIVED_COLUMNS, EVENTS, migrate};
    let clickhouse = audit_database().await;
    let database = clickhouse.database().to_owned();
    let drop = DERIVED_COLUMNS
        .iter()
        .map(|(name, _)| format!("DROP COLUMN {name}"))
        .collect::<Vec<_>>()
        .join(", ");
    clickhouse
        .execute(&format!("ALTER TABLE {database}.{EVENTS} {drop}"), false)
        .await
        .unwrap();
    let (request_id, customer, manager) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let position = Position {
        topic: "request-events".into(),
        partition: 0,
        offset: Some(0),
    };
    let body: String = [
        created(request_id, customer, now),
        status_changed(request_id, manager, now + TimeDelta::seconds(1)),
    ]
    .iter()
    .map(|e| serde_json::to_string(&AuditRow::new(e, &position, now)).unwrap() + "\n")
    .collect();
    clickhouse.insert_json_each_row(EVENTS, body).await.unwrap();

    migrate(&clickhouse).await.unwrap();
    migrate(&clickhouse)
        .await
        .expect("a second migration is a no-op");
    let read = rows(
        &clickhouse,
        &format!(
            "SELECT event_type, region, category, status_to, channel FROM {EVENTS} \
             ORDER BY time_us FORMAT JSONEachRow"
        ),
    )
    .await;
    assert_eq!(
        read,
        vec![
            json!({"event_type": "request.created", "region": "Москва",
                   "category": "appliance-repair", "status_to": "", "channel": ""}),
            json!({"event_type": "workflow.status_changed", "region": "", "category": "",
                   "status_to": "sent_to_contractors", "channel": ""}),
        ]
    );
    clickhouse
        .execute(&format!("DROP DATABASE {database}"), false)
        .await
        .unwrap();
}
