//! The first slice end to end on real PostgreSQL, real Kafka and the real function binaries:
//! POST /requests -> row + request.created on Kafka -> assign-manager invoked with an MSK payload
//! built from the records consumed from Kafka -> manager assigned -> workflow events on Kafka.

use serde_json::{Value, json};
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_events::{DomainEvent, Envelope, KafkaMessage};
use servicehub_tests::apigw::{HttpResponse, claims, invoke, request};
use servicehub_tests::kafka::{KafkaProbe, msk_trigger};
use servicehub_tests::{TestDatabase, insert_user, repo_root, start_function};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);
const REGION: &str = "Москва";

fn new_request_body(region: &str, urgency: &str) -> String {
    let mut body = servicehub_tests::new_request(region);
    body["urgency"] = json!(urgency);
    body.to_string()
}

fn post_request(customer: Uuid, body: &str) -> Value {
    request(
        "POST",
        "POST /requests",
        "/requests",
        None,
        Some("application/json"),
        Some(body),
        Some(claims(customer, "customer", &[])),
    )
}

fn get_request(user: Uuid, role: &str, regions: &[&str], id: &str) -> Value {
    request(
        "GET",
        "GET /requests/{id}",
        &format!("/requests/{id}"),
        Some(json!({"id": id})),
        None,
        None,
        Some(claims(user, role, regions)),
    )
}

fn envelopes(records: &[ConsumedRecord]) -> Vec<Envelope> {
    records
        .iter()
        .map(|r| Envelope::from_kafka(&r.message).expect("our functions produce valid envelopes"))
        .collect()
}

async fn status_of(db: &TestDatabase, id: Uuid) -> (String, Option<Uuid>) {
    let row = sqlx::query("SELECT status, manager_id FROM service_requests WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    (row.get("status"), row.get("manager_id"))
}

async fn create(
    create_fn: &local_lambda::LambdaEnvironment,
    customer: Uuid,
    region: &str,
    urgency: &str,
) -> Uuid {
    let response = HttpResponse::from_invocation(
        create_fn
            .invoke(&post_request(customer, &new_request_body(region, urgency)))
            .await
            .unwrap(),
    );
    assert_eq!(response.status, 201, "{:?}", response.body);
    Uuid::parse_str(response.body["id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_new_request_reaches_manager_assigned_through_kafka_and_a_redelivery_changes_nothing() {
    let db = TestDatabase::new().await;
    let busy = insert_user(&db.pool, "manager", &[REGION]).await;
    let idle = insert_user(&db.pool, "manager", &[REGION, "Тверь"]).await;
    let elsewhere = insert_user(&db.pool, "manager", &["Казань"]).await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let get_fn = start_function("get-request", &db.url, &[]).await;
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;

    // The busy manager already has an open request in the region.
    sqlx::query("INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region, city, address, status, manager_id, manager_assigned_at, created_at, updated_at)
                 VALUES ($1, $2, 'x', 'x', 'plumbing', 'low', $3, $3, 'addr', 'manager_assigned', $4, now(), now(), now())")
        .bind(Uuid::now_v7()).bind(customer).bind(REGION).bind(busy)
        .execute(&db.pool).await.unwrap();

    let request_probe = KafkaProbe::new("request-events");
    let workflow_probe = KafkaProbe::new("workflow-events");
    let audit_probe = KafkaProbe::new("audit-events");

    // POST /requests
    let response = HttpResponse::from_invocation(
        create_fn
            .invoke(&post_request(customer, &new_request_body(REGION, "urgent")))
            .await
            .unwrap(),
    );
    assert_eq!(response.status, 201, "{:?}", response.body);
    let id = response.body["id"].as_str().unwrap().to_owned();
    let request_id = Uuid::parse_str(&id).unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/requests/{id}").as_str())
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.body["status"], "new");
    assert_eq!(response.body["title"], "Не работает холодильник");
    assert_eq!(response.body["customer_id"], customer.to_string());
    assert_eq!(status_of(&db, request_id).await, ("new".into(), None));

    // request.created is on Kafka, keyed by the request id, and the audit trail has the action.
    let created_records = request_probe.read_key(&id, 1, WAIT);
    assert_eq!(created_records.len(), 1, "exactly one request.created");
    let created = &envelopes(&created_records)[0];
    let DomainEvent::RequestCreated(data) = &created.data else {
        panic!("{created:?}")
    };
    assert_eq!(
        (data.request_id, data.customer_id, data.region.as_str()),
        (request_id, customer, REGION)
    );
    assert_eq!(created.meta.source, "create-request");
    let audit = envelopes(&audit_probe.read_key(&id, 1, WAIT));
    assert!(matches!(&audit[0].data, DomainEvent::UserAction(a) if a.action == "request.create"));
    assert_eq!(audit[0].meta.correlation_id, created.meta.correlation_id);

    // The consumer gets the MSK-shaped payload built from those very records.
    let batch = msk_trigger(&created_records);
    let report = assign_fn.invoke(&batch).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(
        status_of(&db, request_id).await,
        ("manager_assigned".into(), Some(idle))
    );
    let _ = elsewhere;

    let workflow = envelopes(&workflow_probe.read_key(&id, 2, WAIT));
    let types: Vec<&str> = workflow
        .iter()
        .map(|e| e.meta.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["workflow.manager_assigned", "workflow.status_changed"]
    );
    let DomainEvent::ManagerAssigned(assigned) = &workflow[0].data else {
        unreachable!()
    };
    assert_eq!(assigned.manager_id, idle);
    assert_eq!(
        assigned.priority.as_str(),
        "critical",
        "urgent requests are critical"
    );
    let DomainEvent::StatusChanged(changed) = &workflow[1].data else {
        unreachable!()
    };
    assert_eq!(
        (changed.from.map(|s| s.as_str()), changed.to.as_str()),
        (Some("new"), "manager_assigned")
    );
    for event in &workflow {
        assert_eq!(event.meta.causation_id, Some(created.meta.id));
        assert_eq!(event.meta.correlation_id, created.meta.correlation_id);
        assert_eq!(
            event.meta.traceparent.as_ref().unwrap().trace_id(),
            created.meta.traceparent.as_ref().unwrap().trace_id()
        );
    }

    // The same batch again: nothing changes, nothing is published.
    let workflow_after = KafkaProbe::new("workflow-events");
    let report = assign_fn.invoke(&batch).await.unwrap();
    assert_eq!(
        (report["applied"].as_u64(), report["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{report}"
    );
    assert_eq!(
        status_of(&db, request_id).await,
        ("manager_assigned".into(), Some(idle))
    );
    assert!(
        workflow_after
            .read_key(&id, 1, Duration::from_secs(2))
            .is_empty(),
        "a redelivery publishes nothing"
    );
    let history: i64 =
        sqlx::query_scalar("SELECT count(*) FROM request_status_history WHERE request_id = $1")
            .bind(request_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(history, 2, "new, then manager_assigned: once");
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        unpublished, 0,
        "everything was published right after commit"
    );

    // GET shows the new state to the customer and to a manager of the region; not to others.
    let response = HttpResponse::from_invocation(
        get_fn
            .invoke(&get_request(customer, "customer", &[], &id))
            .await
            .unwrap(),
    );
    assert_eq!(
        (response.status, response.body["status"].as_str()),
        (200, Some("manager_assigned"))
    );
    assert_eq!(response.body["manager_id"], idle.to_string());
    let response = HttpResponse::from_invocation(
        get_fn
            .invoke(&get_request(Uuid::now_v7(), "manager", &[REGION], &id))
            .await
            .unwrap(),
    );
    assert_eq!(response.status, 200);
    let response = HttpResponse::from_invocation(
        get_fn
            .invoke(&get_request(Uuid::now_v7(), "customer", &[], &id))
            .await
            .unwrap(),
    );
    assert_eq!(
        response.status, 404,
        "another customer's request does not exist for them"
    );

    for f in [create_fn, get_fn, assign_fn] {
        f.stop().await;
    }
}

#[tokio::test]
async fn ties_go_to_the_manager_idle_longest_so_a_batch_alternates() {
    let db = TestDatabase::new().await;
    let region = format!("Регион-{}", Uuid::new_v4().simple());
    let first = insert_user(&db.pool, "manager", &[&region]).await;
    let second = insert_user(&db.pool, "manager", &[&region]).await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;
    let probe = KafkaProbe::new("request-events");
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(create(&create_fn, customer, &region, "normal").await);
    }
    let mut records = Vec::new();
    for id in &ids {
        records.extend(probe.read_key(&id.to_string(), 1, WAIT));
    }
    // Lambda keeps order within a partition only: the batch is processed partition by partition.
    let batch = msk_trigger(&records);
    let processing_order: Vec<Uuid> = servicehub_events::lambda_kafka::decode_trigger(&batch)
        .unwrap()
        .records
        .iter()
        .map(|r| Uuid::parse_str(&r.envelope.as_ref().unwrap().meta.subject).unwrap())
        .collect();
    let report = assign_fn.invoke(&batch).await.unwrap();
    assert_eq!(report["applied"], 4, "{report}");
    let mut managers = Vec::new();
    for id in &processing_order {
        managers.push(status_of(&db, *id).await.1.unwrap());
    }
    // Both start at zero and never assigned (smallest id first), then load and idle time alternate.
    assert_eq!(processing_order.len(), 4);
    let (a, b) = if first < second {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(managers, vec![a, b, a, b]);
    create_fn.stop().await;
    assign_fn.stop().await;
}

#[tokio::test]
async fn a_region_without_managers_stays_new_and_an_audit_event_says_why() {
    let db = TestDatabase::new().await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;
    let requests = KafkaProbe::new("request-events");
    let audits = KafkaProbe::new("audit-events");
    let id = create(&create_fn, customer, "Нигде", "low").await;
    let records = requests.read_key(&id.to_string(), 1, WAIT);
    let report = assign_fn.invoke(&msk_trigger(&records)).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(status_of(&db, id).await, ("new".into(), None));
    let audit = envelopes(&audits.read_key(&id.to_string(), 2, WAIT));
    let reason = audit
        .iter()
        .find_map(|e| match &e.data {
            DomainEvent::SystemEvent(s) => Some(s.clone()),
            _ => None,
        })
        .expect("an audit.system_event");
    assert_eq!(reason.kind, "manager_assignment.no_manager_in_region");
    assert!(reason.message.contains("Нигде"), "{}", reason.message);
    create_fn.stop().await;
    assign_fn.stop().await;
}

#[tokio::test]
async fn malformed_records_are_dead_lettered_with_their_reason_and_the_rest_of_the_batch_is_processed()
 {
    let db = TestDatabase::new().await;
    insert_user(&db.pool, "manager", &[REGION]).await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;
    let requests = KafkaProbe::new("request-events");
    let dlq = KafkaProbe::new("request-events.dlq");
    let id = create(&create_fn, customer, REGION, "high").await;
    let good = requests.read_key(&id.to_string(), 1, WAIT).remove(0);

    let bad_key = Uuid::now_v7().to_string();
    let garbage = ConsumedRecord {
        message: KafkaMessage {
            topic: "request-events".into(),
            key: Some(bad_key.clone().into_bytes()),
            headers: vec![("ce_type".into(), b"request.created".to_vec())],
            value: Some("{not json at all".as_bytes().to_vec()),
        },
        partition: good.partition,
        offset: good.offset + 1_000_000,
        timestamp: good.timestamp,
        timestamp_type: "CREATE_TIME".into(),
    };
    // A well-formed envelope whose request does not exist: the handler refuses it for good.
    let mut orphan_event: Value =
        serde_json::from_slice(good.message.value.as_ref().unwrap()).unwrap();
    let orphan_id = Uuid::now_v7().to_string();
    orphan_event["id"] = json!(Uuid::now_v7().to_string());
    orphan_event["subject"] = json!(orphan_id);
    orphan_event["data"]["request_id"] = json!(orphan_id);
    let orphan = ConsumedRecord {
        message: KafkaMessage {
            topic: "request-events".into(),
            key: Some(orphan_id.clone().into_bytes()),
            headers: vec![],
            value: Some(serde_json::to_vec(&orphan_event).unwrap()),
        },
        partition: good.partition,
        offset: good.offset + 1_000_001,
        timestamp: good.timestamp,
        timestamp_type: "CREATE_TIME".into(),
    };
    let report = assign_fn
        .invoke(&msk_trigger(&[garbage, good, orphan]))
        .await
        .unwrap();
    assert_eq!(
        (report["applied"].as_u64(), report["dead_lettered"].as_u64()),
        (Some(1), Some(2)),
        "{report}"
    );
    assert_eq!(
        status_of(&db, id).await.0,
        "manager_assigned",
        "the good record in between was processed"
    );

    for (key, expected_reason) in [
        (bad_key.as_str(), "not a CloudEvents JSON envelope"),
        (orphan_id.as_str(), "does not exist"),
    ] {
        let letters = dlq.read_key(key, 1, WAIT);
        assert_eq!(letters.len(), 1, "one dead letter for {key}");
        let letter = &letters[0].message;
        let header = |name: &str| String::from_utf8(letter.header(name).unwrap().to_vec()).unwrap();
        assert!(
            header("dlq_reason").contains(expected_reason),
            "{}",
            header("dlq_reason")
        );
        assert_eq!(header("dlq_consumer"), "assign-manager");
        assert_eq!(header("dlq_source_topic"), "request-events");
        assert!(header("dlq_source_offset").parse::<i64>().is_ok());
        assert!(letter.value.is_some(), "the original value is kept");
    }
    create_fn.stop().await;
    assign_fn.stop().await;
}

#[tokio::test]
async fn a_transient_failure_fails_the_invocation_so_the_batch_is_retried_and_nothing_is_dead_lettered()
 {
    let db = TestDatabase::new().await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let requests = KafkaProbe::new("request-events");
    let id = create(&create_fn, customer, REGION, "high").await;
    let records = requests.read_key(&id.to_string(), 1, WAIT);
    // The consumer's database is unreachable: nothing is wrong with the record.
    let unreachable = "postgres://servicehub:servicehub@127.0.0.1:9/nowhere";
    let assign_fn = start_function("assign-manager", unreachable, &[]).await;
    let dlq = KafkaProbe::new("request-events.dlq");
    let error = assign_fn.invoke(&msk_trigger(&records)).await.unwrap_err();
    assert!(
        matches!(error, local_lambda::InvokeError::Function { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("retried"), "{error}");
    assert!(
        dlq.read_key(&id.to_string(), 1, Duration::from_secs(2))
            .is_empty()
    );
    // Once the database is back, the retried batch applies.
    assign_fn.stop().await;
    insert_user(&db.pool, "manager", &[REGION]).await;
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;
    let report = assign_fn.invoke(&msk_trigger(&records)).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    create_fn.stop().await;
    assign_fn.stop().await;
}

#[tokio::test]
async fn bad_http_input_gets_precise_problem_json() {
    let db = TestDatabase::new().await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let get_fn = start_function("get-request", &db.url, &[]).await;
    let post = |content_type: Option<&str>, body: Option<&str>, authorizer: Option<Value>| {
        request(
            "POST",
            "POST /requests",
            "/requests",
            None,
            content_type,
            body,
            authorizer,
        )
    };
    let me = Some(claims(customer, "customer", &[]));

    let malformed = invoke(
        &create_fn,
        &post(Some("application/json"), Some("{\"title\": "), me.clone()),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        malformed.body["type"],
        "urn:servicehub:problem:malformed-json"
    );
    assert_eq!(malformed.body["status"], 400);
    assert_eq!(malformed.body["instance"], "/requests");

    let invalid = invoke(&create_fn, &post(Some("application/json"), Some(r#"{"title": "x", "urgency": "asap", "budget": {"amount_minor": 0, "currency": "RUB"}}"#), me.clone())).await;
    assert_eq!(invalid.status, 422);
    let fields: Vec<(&str, &str)> = invalid.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert!(fields.contains(&("title", "too_short")), "{fields:?}");
    assert!(fields.contains(&("urgency", "invalid_value")), "{fields:?}");
    assert!(
        fields.contains(&("budget.amount_minor", "invalid_value")),
        "{fields:?}"
    );
    assert!(fields.contains(&("region", "required")), "{fields:?}");

    let empty = invoke(
        &create_fn,
        &post(Some("application/json"), None, me.clone()),
    )
    .await;
    assert_eq!(empty.status, 400);
    let xml = invoke(
        &create_fn,
        &post(Some("application/xml"), Some("<request/>"), me.clone()),
    )
    .await;
    assert_eq!(xml.status, 415);
    let anonymous = invoke(
        &create_fn,
        &post(
            Some("application/json"),
            Some(&new_request_body(REGION, "low")),
            None,
        ),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let manager = invoke(
        &create_fn,
        &post(
            Some("application/json"),
            Some(&new_request_body(REGION, "low")),
            Some(claims(Uuid::now_v7(), "manager", &[REGION])),
        ),
    )
    .await;
    assert_eq!(manager.status, 403);

    let unknown = invoke(
        &get_fn,
        &get_request(customer, "customer", &[], &Uuid::now_v7().to_string()),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let not_a_uuid = invoke(&get_fn, &get_request(customer, "customer", &[], "fridge")).await;
    assert_eq!(not_a_uuid.status, 404);
    let anonymous_get = invoke(
        &get_fn,
        &request(
            "GET",
            "GET /requests/{id}",
            "/requests/x",
            Some(json!({"id": "x"})),
            None,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(anonymous_get.status, 401);

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM service_requests")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "no bad input stored anything");
    create_fn.stop().await;
    get_fn.stop().await;
}

#[tokio::test]
async fn the_relay_publishes_what_was_left_in_the_outbox_in_key_order() {
    let db = TestDatabase::new().await;
    let key = Uuid::now_v7();
    // Three events for one request, committed but never published (as after a crash or broker outage).
    let events: Vec<Envelope> = (0..3)
        .map(|i| {
            Envelope::new(
                "tests",
                servicehub_events::catalog::WorkStarted {
                    request_id: key,
                    contractor_id: Uuid::from_u128(i),
                    started_at: chrono::Utc::now(),
                },
            )
        })
        .collect();
    let mut tx = db.pool.begin().await.unwrap();
    servicehub_platform::outbox::enqueue(&mut tx, &events)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let probe = KafkaProbe::new("workflow-events");
    let relay = start_function(
        "outbox-relay",
        &db.url,
        &[("OUTBOX_RELAY_DRAIN_SECONDS", "0")],
    )
    .await;
    let scheduled: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/outbox-relay.json")).unwrap(),
    )
    .unwrap();
    let report = relay.invoke(&scheduled).await.unwrap();
    assert_eq!(report["published"], 3, "{report}");
    let published = envelopes(&probe.read_key(&key.to_string(), 3, WAIT));
    let ids: Vec<Uuid> = published.iter().map(|e| e.meta.id).collect();
    assert_eq!(
        ids,
        events.iter().map(|e| e.meta.id).collect::<Vec<_>>(),
        "one key's events keep their order"
    );
    let report = relay.invoke(&scheduled).await.unwrap();
    assert_eq!(
        report["published"], 0,
        "a second pass has nothing left: {report}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn the_sample_payloads_under_events_drive_the_functions() {
    let db = TestDatabase::new().await;
    let load = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("events").join(name)).unwrap(),
        )
        .unwrap()
    };
    let sample = load("create-request.json");
    let customer = Uuid::parse_str(
        sample["requestContext"]["authorizer"]["lambda"]["sub"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    sqlx::query(
        "INSERT INTO users (id, role, display_name) VALUES ($1, 'customer', 'sample customer')",
    )
    .bind(customer)
    .execute(&db.pool)
    .await
    .unwrap();
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let response = HttpResponse::from_invocation(create_fn.invoke(&sample).await.unwrap());
    assert_eq!(response.status, 201, "{:?}", response.body);

    let get_fn = start_function("get-request", &db.url, &[]).await;
    let response =
        HttpResponse::from_invocation(get_fn.invoke(&load("get-request.json")).await.unwrap());
    assert_eq!(
        response.status, 404,
        "the sample's request id does not exist here: {:?}",
        response.body
    );

    // The MSK samples carry a request.created for a request this database does not have: each
    // decodes, and is dead-lettered as a permanent failure instead of failing the batch.
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;
    for name in ["assign-manager.json", "assign-manager-self-managed.json"] {
        let report = assign_fn.invoke(&load(name)).await.unwrap();
        assert_eq!(
            (report["records"].as_u64(), report["dead_lettered"].as_u64()),
            (Some(1), Some(1)),
            "{name}: {report}"
        );
    }
    for f in [create_fn, get_fn, assign_fn] {
        f.stop().await;
    }
}

#[tokio::test]
async fn a_function_whose_configuration_is_missing_reports_an_init_error() {
    let env = local_lambda::LambdaEnvironment::start(local_lambda::FunctionSpec {
        name: "get-request".into(),
        binary: servicehub_tests::binary_path("get-request"),
        env: vec![],
        timeout: Duration::from_secs(10),
        memory_mb: 128,
    })
    .await
    .unwrap();
    let error = env.invoke(&json!({})).await.unwrap_err();
    assert!(
        matches!(error, local_lambda::InvokeError::Init(_)),
        "{error:?}"
    );
    env.stop().await;
}

/// A NUL character in a query parameter or anywhere in a JSON body (a string, a nested key) is a
/// 422 naming where, before any handler reads it (`GET /requests?region=%00` used to be a 500).
#[tokio::test(flavor = "multi_thread")]
async fn a_nul_character_in_a_query_or_a_body_is_a_422_naming_where() {
    let db = TestDatabase::new().await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let list_fn = start_function("list-requests", &db.url, &[]).await;
    let me = Some(claims(customer, "customer", &[]));

    let mut list = request(
        "GET",
        "GET /requests",
        "/requests",
        None,
        None,
        None,
        me.clone(),
    );
    list["rawQueryString"] = json!("region=%00");
    list["queryStringParameters"] = json!({"region": "\u{0}"});
    let listed = invoke(&list_fn, &list).await;
    assert_eq!(listed.status, 422, "{:?}", listed.body);
    assert_eq!(
        listed.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        listed.field_codes(),
        [("region".to_owned(), "nul_character".to_owned())]
    );

    let mut body = servicehub_tests::new_request("moscow");
    body["title"] = json!("Не работает\u{0} холодильник");
    body["budget"] = json!({"amount_minor": 1000, "currency": "RUB", "note\u{0}": "x"});
    let post = request(
        "POST",
        "POST /requests",
        "/requests",
        None,
        Some("application/json"),
        Some(&body.to_string()),
        me,
    );
    let created = invoke(&create_fn, &post).await;
    assert_eq!(created.status, 422, "{:?}", created.body);
    let found = created.field_codes();
    assert!(
        found.contains(&("title".to_owned(), "nul_character".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("budget.note\u{0}".to_owned(), "nul_character".to_owned())),
        "{found:?}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM service_requests")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}
