//! The workflow endpoints on real PostgreSQL and Kafka through the real function binaries: the
//! whole lifecycle from manager_assigned to completed, who may do what, illegal transitions (409
//! with the current status), listing with filters and cursors, Idempotency-Key replays.

use serde_json::{Value, json};
use servicehub_events::DomainEvent;
use servicehub_tests::apigw::{HttpResponse, claims, invoke, request, with_query};
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::{TestDatabase, insert_user, start_function};
use sqlx::Row;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const CATEGORY: &str = "appliance-repair";

/// The functions of this file, each in its own execution environment.
struct Api {
    functions: HashMap<&'static str, local_lambda::LambdaEnvironment>,
}

#[derive(Clone, Copy)]
struct User {
    id: Uuid,
    role: &'static str,
    region: Option<&'static str>,
}

impl Api {
    async fn start(db: &TestDatabase, names: &[&'static str]) -> Api {
        let mut functions = HashMap::new();
        for name in names {
            functions.insert(*name, start_function(name, &db.url, &[]).await);
        }
        Api { functions }
    }

    /// Calls `function` for `request_id` (None for collection routes) as `user`.
    async fn call(
        &self,
        function: &str,
        user: User,
        request_id: Option<Uuid>,
        body: Option<Value>,
        extra: impl FnOnce(&mut Value),
    ) -> HttpResponse {
        // The route as declared (functions/<name>/function.yaml, held to openapi.json's).
        let declared = servicehub_openapi::routes()
            .into_iter()
            .find(|route| route.function == function)
            .expect("a function with a route");
        let (method, route) = (declared.method, declared.path);
        let path = match request_id {
            Some(id) => route.replace("{id}", &id.to_string()),
            None => route.to_string(),
        };
        let body = body.map(|b| b.to_string());
        let regions: Vec<&str> = user.region.into_iter().collect();
        let mut event = request(
            method,
            &format!("{method} {route}"),
            &path,
            request_id.map(|id| json!({"id": id.to_string()})),
            body.as_ref().map(|_| "application/json"),
            body.as_deref(),
            Some(claims(user.id, user.role, &regions)),
        );
        extra(&mut event);
        invoke(&self.functions[function], &event).await
    }

    async fn act(&self, function: &str, user: User, id: Uuid, body: Option<Value>) -> HttpResponse {
        self.call(function, user, Some(id), body, |_| {}).await
    }
}

async fn insert_contractor(
    db: &TestDatabase,
    region: &str,
    category: &str,
    verification: &str,
    revoked: bool,
) -> Uuid {
    let id = insert_user(&db.pool, "contractor", &[region]).await;
    sqlx::query(
        "UPDATE users SET categories = $2, verification_status = $3, access_revoked = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(vec![category.to_owned()])
    .bind(verification)
    .bind(revoked)
    .execute(&db.pool)
    .await
    .unwrap();
    id
}

fn new_request(region: &str) -> Value {
    json!({
        "title": "Не работает холодильник",
        "description": "Холодильник Bosch перестал морозить",
        "category": CATEGORY,
        "urgency": "urgent",
        "region": region,
        "city": region,
        "address": "ул. Ленина, 1",
    })
}

/// Files a request and hands it to `manager` as assign-manager would (that function's own
/// tests cover it; here the workflow after it matters).
async fn filed_and_assigned(api: &Api, db: &TestDatabase, customer: User, manager: User) -> Uuid {
    let created = api
        .call(
            "create-request",
            customer,
            None,
            Some(new_request(manager.region.unwrap())),
            |_| {},
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = Uuid::parse_str(created.body["id"].as_str().unwrap()).unwrap();
    sqlx::query(
        "UPDATE service_requests SET status = 'manager_assigned', manager_id = $2, priority = 'critical',
             manager_assigned_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(manager.id)
    .execute(&db.pool)
    .await
    .unwrap();
    id
}

fn status(response: &HttpResponse) -> &str {
    response.body["status"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_goes_from_manager_assigned_to_completed_with_its_history_and_events() {
    let db = TestDatabase::new().await;
    let region: &'static str =
        Box::leak(format!("wf-{}", Uuid::new_v4().simple()).into_boxed_str());
    let customer = User {
        id: Uuid::now_v7(),
        role: "customer",
        region: None,
    };
    let manager = User {
        id: insert_user(&db.pool, "manager", &[region]).await,
        role: "manager",
        region: Some(region),
    };
    let first = insert_contractor(&db, region, CATEGORY, "verified", false).await;
    let second = insert_contractor(&db, region, CATEGORY, "verified", false).await;
    let unverified = insert_contractor(&db, region, CATEGORY, "pending", false).await;
    let revoked = insert_contractor(&db, region, CATEGORY, "verified", true).await;
    let plumber = insert_contractor(&db, region, "plumbing", "verified", false).await;
    let contractor = |id| User {
        id,
        role: "contractor",
        region: None,
    };
    let api = Api::start(
        &db,
        &[
            "create-request",
            "get-request",
            "update-request",
            "cancel-request",
            "ask-clarification",
            "dispatch-request",
            "accept-request",
            "start-work",
            "complete-work",
            "get-request-history",
        ],
    )
    .await;
    let workflow_probe = KafkaProbe::new("workflow-events");
    let request_probe = KafkaProbe::new("request-events");
    let id = filed_and_assigned(&api, &db, customer, manager).await;

    // Clarification: asked by the manager, answered by the customer's edit.
    let asked = api
        .act(
            "ask-clarification",
            manager,
            id,
            Some(json!({"question": "Какая модель холодильника?"})),
        )
        .await;
    assert_eq!(
        (asked.status, status(&asked)),
        (200, "clarification_needed"),
        "{:?}",
        asked.body
    );
    assert_eq!(
        asked.body["clarification_question"],
        "Какая модель холодильника?"
    );
    let answered = api
        .act(
            "update-request",
            customer,
            id,
            Some(json!({"clarification_answer": "Bosch KGN39", "urgency": "high"})),
        )
        .await;
    assert_eq!(
        (answered.status, status(&answered)),
        (200, "manager_assigned"),
        "{:?}",
        answered.body
    );
    assert_eq!(answered.body["urgency"], "high");
    assert!(answered.body["clarification_question"].is_null());

    // Dispatch offers it to the eligible contractors only.
    let dispatched = api.act("dispatch-request", manager, id, None).await;
    assert_eq!(
        (dispatched.status, status(&dispatched)),
        (200, "sent_to_contractors"),
        "{:?}",
        dispatched.body
    );
    let offered: Vec<Uuid> = sqlx::query_scalar(
        "SELECT contractor_id FROM request_offers WHERE request_id = $1 ORDER BY contractor_id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut eligible = vec![first, second];
    eligible.sort();
    assert_eq!(offered, eligible);
    for outsider in [unverified, revoked, plumber] {
        let response = api.act("get-request", contractor(outsider), id, None).await;
        assert_eq!(
            response.status, 404,
            "a contractor it was not offered to does not see it"
        );
    }
    let seen = api.act("get-request", contractor(second), id, None).await;
    assert_eq!(seen.status, 200, "an offered contractor sees it");

    // The first to accept gets it; the second is too late.
    let accepted = api.act("accept-request", contractor(first), id, None).await;
    assert_eq!(
        (accepted.status, status(&accepted)),
        (200, "contractor_assigned"),
        "{:?}",
        accepted.body
    );
    assert_eq!(accepted.body["contractor_id"], first.to_string());
    let late = api
        .act("accept-request", contractor(second), id, None)
        .await;
    assert_eq!(late.status, 409);
    assert_eq!(late.body["current_status"], "contractor_assigned");
    let not_theirs = api.act("start-work", contractor(second), id, None).await;
    assert_eq!(not_theirs.status, 403, "{:?}", not_theirs.body);

    // A contractor whose access is revoked after the assignment can no longer do the work (nor,
    // rejected, or disabled); with access back, they can.
    for standing in [
        "access_revoked = true",
        "verification_status = 'rejected'",
        "active = false",
    ] {
        sqlx::query(&format!("UPDATE users SET {standing} WHERE id = $1"))
            .bind(first)
            .execute(&db.pool)
            .await
            .unwrap();
        let refused = api.act("start-work", contractor(first), id, None).await;
        assert_eq!(refused.status, 403, "{standing}: {:?}", refused.body);
        sqlx::query(
            "UPDATE users SET access_revoked = false, verification_status = 'verified',
                 active = true WHERE id = $1",
        )
        .bind(first)
        .execute(&db.pool)
        .await
        .unwrap();
    }

    let started = api.act("start-work", contractor(first), id, None).await;
    assert_eq!((started.status, status(&started)), (200, "in_progress"));
    let bad_completion = api
        .act("complete-work", contractor(first), id, Some(json!({"completion_report": "", "final_price": {"amount_minor": -1, "currency": "RUB"}})))
        .await;
    assert_eq!(bad_completion.status, 422);
    let completed = api
        .act("complete-work", contractor(first), id, Some(json!({"completion_report": "Заменён компрессор", "final_price": {"amount_minor": 750000, "currency": "RUB"}})))
        .await;
    assert_eq!(
        (completed.status, status(&completed)),
        (200, "completed"),
        "{:?}",
        completed.body
    );
    assert_eq!(
        completed.body["final_price"],
        json!({"amount_minor": 750000, "currency": "RUB"})
    );

    let too_late = api
        .act(
            "cancel-request",
            customer,
            id,
            Some(json!({"reason": "передумал"})),
        )
        .await;
    assert_eq!(too_late.status, 409);
    assert_eq!(too_late.body["current_status"], "completed");

    let history = api.act("get-request-history", customer, id, None).await;
    assert_eq!(history.status, 200);
    let steps: Vec<(String, String)> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["from"].as_str().unwrap_or("").to_owned(),
                i["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("", "new"),
        ("manager_assigned", "clarification_needed"),
        ("clarification_needed", "manager_assigned"),
        ("manager_assigned", "sent_to_contractors"),
        ("sent_to_contractors", "contractor_assigned"),
        ("contractor_assigned", "in_progress"),
        ("in_progress", "completed"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        steps, expected,
        "every change in order (the SQL shortcut to manager_assigned left no row)"
    );
    assert_eq!(
        history.body["items"][1]["actor"]["user_id"],
        manager.id.to_string()
    );
    assert_eq!(
        history.body["items"][1]["reason"],
        "Какая модель холодильника?"
    );

    // On Kafka: each step's workflow event and its status change, keyed by the request.
    let key = id.to_string();
    let workflow = workflow_probe
        .envelopes(&key, 10, Duration::from_secs(15))
        .await;
    let types: Vec<&str> = workflow
        .iter()
        .map(|e| e.meta.event_type.as_str())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "workflow.status_changed")
            .count(),
        6,
        "{types:?}"
    );
    for expected in [
        "workflow.sent_to_contractors",
        "workflow.contractor_assigned",
        "workflow.work_started",
        "workflow.work_completed",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    let sent = workflow
        .iter()
        .find_map(|e| match &e.data {
            DomainEvent::SentToContractors(sent) => Some(sent),
            _ => None,
        })
        .unwrap();
    let mut sent_to = sent.contractor_ids.clone();
    sent_to.sort();
    assert_eq!(sent_to, eligible);
    let requests = request_probe
        .envelopes(&key, 3, Duration::from_secs(15))
        .await;
    let types: Vec<&str> = requests
        .iter()
        .map(|e| e.meta.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "request.created",
            "request.clarification_needed",
            "request.updated"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_and_ownership_decide_who_may_act_and_existence_does_not_leak() {
    let db = TestDatabase::new().await;
    let region: &'static str =
        Box::leak(format!("acl-{}", Uuid::new_v4().simple()).into_boxed_str());
    let customer = User {
        id: Uuid::now_v7(),
        role: "customer",
        region: None,
    };
    let other_customer = User {
        id: Uuid::now_v7(),
        role: "customer",
        region: None,
    };
    let manager = User {
        id: insert_user(&db.pool, "manager", &[region]).await,
        role: "manager",
        region: Some(region),
    };
    let foreign_manager = User {
        id: Uuid::now_v7(),
        role: "manager",
        region: Some("elsewhere"),
    };
    let admin = User {
        id: Uuid::now_v7(),
        role: "admin",
        region: None,
    };
    let api = Api::start(
        &db,
        &[
            "create-request",
            "update-request",
            "cancel-request",
            "ask-clarification",
            "dispatch-request",
        ],
    )
    .await;
    let id = filed_and_assigned(&api, &db, customer, manager).await;

    let cases: Vec<(&str, User, Option<Value>, u16)> = vec![
        (
            "update-request",
            other_customer,
            Some(json!({"title": "Чужая заявка"})),
            404,
        ),
        (
            "update-request",
            manager,
            Some(json!({"title": "Чужая заявка"})),
            403,
        ),
        (
            "update-request",
            customer,
            Some(json!({"title": "Уже у менеджера"})),
            409,
        ),
        (
            "ask-clarification",
            customer,
            Some(json!({"question": "?"})),
            403,
        ),
        (
            "ask-clarification",
            foreign_manager,
            Some(json!({"question": "?"})),
            404,
        ),
        (
            "ask-clarification",
            admin,
            Some(json!({"question": "?"})),
            403,
        ),
        ("dispatch-request", manager, None, 409),
        (
            "cancel-request",
            other_customer,
            Some(json!({"reason": "x"})),
            404,
        ),
        ("cancel-request", customer, Some(json!({})), 422),
    ];
    for (function, user, body, expected) in cases {
        let response = api.act(function, user, id, body).await;
        assert_eq!(
            response.status, expected,
            "{function} as {} {:?}",
            user.role, response.body
        );
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
    }
    let cancelled = api
        .act(
            "cancel-request",
            manager,
            id,
            Some(json!({"reason": "дубликат"})),
        )
        .await;
    assert_eq!((cancelled.status, status(&cancelled)), (200, "cancelled"));
    let row = sqlx::query("SELECT to_status, reason, actor_role FROM request_status_history WHERE request_id = $1 ORDER BY id DESC LIMIT 1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("to_status"), "cancelled");
    assert_eq!(row.get::<String, _>("reason"), "дубликат");
    assert_eq!(row.get::<String, _>("actor_role"), "manager");
    let unknown = api
        .act(
            "cancel-request",
            customer,
            Uuid::now_v7(),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_each_role_its_own_requests_filtered_a_page_at_a_time() {
    let db = TestDatabase::new().await;
    let region: &'static str =
        Box::leak(format!("ls-{}", Uuid::new_v4().simple()).into_boxed_str());
    let customer = User {
        id: Uuid::now_v7(),
        role: "customer",
        region: None,
    };
    let neighbour = User {
        id: Uuid::now_v7(),
        role: "customer",
        region: None,
    };
    let manager = User {
        id: insert_user(&db.pool, "manager", &[region]).await,
        role: "manager",
        region: Some(region),
    };
    let api = Api::start(&db, &["create-request", "list-requests"]).await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(filed_and_assigned(&api, &db, customer, manager).await);
    }
    let theirs = filed_and_assigned(&api, &db, neighbour, manager).await;
    sqlx::query("UPDATE service_requests SET status = 'new', manager_id = NULL WHERE id = $1")
        .bind(theirs)
        .execute(&db.pool)
        .await
        .unwrap();

    let list = |user: User, query: &'static str| {
        let api = &api;
        async move {
            api.call("list-requests", user, None, None, |event| {
                with_query(event, query)
            })
            .await
        }
    };
    let ids = |response: &HttpResponse| -> Vec<Uuid> {
        response.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| Uuid::parse_str(i["id"].as_str().unwrap()).unwrap())
            .collect()
    };

    // Pages of two, newest first, until the cursor runs out.
    let mut seen = Vec::new();
    let first = list(customer, "limit=2").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    seen.extend(ids(&first));
    let mut cursor = first.body["next_cursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let query: &'static str = Box::leak(format!("limit=2&cursor={next}").into_boxed_str());
        let page = list(customer, query).await;
        seen.extend(ids(&page));
        cursor = page.body["next_cursor"].as_str().map(str::to_owned);
    }
    let mut newest_first = mine.clone();
    newest_first.reverse();
    assert_eq!(
        seen, newest_first,
        "all of mine, newest first, nobody else's"
    );

    let managed = list(manager, "status=manager_assigned").await;
    assert_eq!(ids(&managed).len(), 5);
    let fresh = list(manager, "status=new").await;
    assert_eq!(
        ids(&fresh),
        [theirs],
        "a manager sees the region's unassigned requests too"
    );
    let none = list(neighbour, "urgency=low").await;
    assert!(ids(&none).is_empty());
    let bad = list(customer, "status=open&limit=0").await;
    assert_eq!(bad.status, 422);
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["limit", "status"], "sorted by parameter name");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_idempotency_key_replays_the_first_response_and_changes_nothing() {
    let db = TestDatabase::new().await;
    let customer = User {
        id: Uuid::now_v7(),
        role: "customer",
        region: None,
    };
    let api = Api::start(&db, &["create-request"]).await;
    let key = Uuid::new_v4().to_string();
    let post = |body: Value, key: String| {
        let api = &api;
        async move {
            api.call("create-request", customer, None, Some(body), |event| {
                event["headers"]["idempotency-key"] = json!(key);
            })
            .await
        }
    };
    let first = post(new_request("Казань"), key.clone()).await;
    assert_eq!(first.status, 201);
    let again = post(new_request("Казань"), key.clone()).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the same request, replayed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM service_requests WHERE customer_id = $1")
            .bind(customer.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(count, 1, "created once");

    let reused = post(new_request("Самара"), key.clone()).await;
    assert_eq!(reused.status, 409);
    assert_eq!(reused.body["type"], "urn:servicehub:problem:conflict");
    assert!(
        reused.body["detail"]
            .as_str()
            .unwrap()
            .contains("used for a different request"),
        "{:?}",
        reused.body
    );

    // A first answer that was a client error is replayed too; another caller's key is theirs.
    let invalid_key = Uuid::new_v4().to_string();
    let invalid = post(json!({"title": "x"}), invalid_key.clone()).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        post(json!({"title": "x"}), invalid_key)
            .await
            .header("idempotent-replayed"),
        Some("true")
    );
    let malformed = post(new_request("Казань"), "bad key with spaces".into()).await;
    assert_eq!(malformed.status, 422);
    assert_eq!(malformed.body["errors"][0]["field"], "Idempotency-Key");
}

const SAMPLE_REQUEST: &str = "0190a5a4-7b1e-7cc0-8a2b-000000000001";
const SAMPLE_CUSTOMER: &str = "0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b";
const SAMPLE_MANAGER: &str = "0190a5a4-7b1e-7cc0-8a2b-0000000000a2";
const SAMPLE_CONTRACTOR: &str = "0190a5a4-7b1e-7cc0-8a2b-0000000000a3";

fn sample(name: &str) -> Value {
    let path = servicehub_tests::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The users and the request the samples under events/ name, the request in `status`.
async fn sample_world(status: &str) -> TestDatabase {
    let db = TestDatabase::new().await;
    let uuid = |s: &str| Uuid::parse_str(s).unwrap();
    sqlx::query(
        "INSERT INTO users (id, role, display_name, regions, categories, verification_status) VALUES
            ($1, 'manager', 'sample manager', '{Москва}', '{}', 'pending'),
            ($2, 'contractor', 'sample contractor', '{Москва}', '{appliance-repair}', 'verified')",
    )
    .bind(uuid(SAMPLE_MANAGER))
    .bind(uuid(SAMPLE_CONTRACTOR))
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region, city,
             address, status, priority, manager_id, manager_assigned_at, created_at, updated_at)
         VALUES ($1, $2, 'Не работает холодильник', 'Не морозит', 'appliance-repair', 'high', 'Москва',
             'Москва', 'ул. Ленина, 1', $3, 'high', $4, now(), now(), now())",
    )
    .bind(uuid(SAMPLE_REQUEST))
    .bind(uuid(SAMPLE_CUSTOMER))
    .bind(status)
    .bind(uuid(SAMPLE_MANAGER))
    .execute(&db.pool)
    .await
    .unwrap();
    db
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sample_payloads_under_events_drive_the_workflow_functions() {
    let db = sample_world("manager_assigned").await;
    let steps = [
        ("ask-clarification", "clarification_needed"),
        ("update-request", "manager_assigned"),
        ("list-requests", ""),
        ("dispatch-request", "sent_to_contractors"),
        ("accept-request", "contractor_assigned"),
        ("start-work", "in_progress"),
        ("complete-work", "completed"),
        ("get-request-history", ""),
    ];
    for (function, expected) in steps {
        let environment = start_function(function, &db.url, &[]).await;
        let response = invoke(&environment, &sample(&format!("{function}.json"))).await;
        assert_eq!(response.status, 200, "{function}: {:?}", response.body);
        match function {
            "list-requests" => assert_eq!(response.body["items"][0]["id"], SAMPLE_REQUEST),
            "get-request-history" => {
                assert_eq!(response.body["items"].as_array().unwrap().len(), 6)
            }
            _ => assert_eq!(response.body["status"], expected, "{function}"),
        }
    }

    let db = sample_world("sent_to_contractors").await;
    sqlx::query(
        "INSERT INTO request_offers (request_id, contractor_id, offered_at) VALUES ($1, $2, now())",
    )
    .bind(Uuid::parse_str(SAMPLE_REQUEST).unwrap())
    .bind(Uuid::parse_str(SAMPLE_CONTRACTOR).unwrap())
    .execute(&db.pool)
    .await
    .unwrap();
    for (function, expected) in [
        ("assign-contractor", "contractor_assigned"),
        ("cancel-request", "cancelled"),
    ] {
        let environment = start_function(function, &db.url, &[]).await;
        let response = invoke(&environment, &sample(&format!("{function}.json"))).await;
        assert_eq!(
            (response.status, status(&response)),
            (200, expected),
            "{function}: {:?}",
            response.body
        );
    }
}

/// The use cases themselves, called as a library with no Lambda event or HTTP request: each
/// refusal is its own `RequestError`, which the routes map to 403/404/409/422.
#[tokio::test(flavor = "multi_thread")]
async fn the_workflow_steps_are_use_cases_that_need_no_http() {
    use servicehub_events::values::{RequestStatus, Role};
    use servicehub_requests::error::RequestError;
    use servicehub_requests::{create, get, workflow};

    let db = TestDatabase::new().await;
    let services = db.services("workflow-tests").await;
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let stranger = insert_user(&db.pool, "customer", &[]).await;
    let as_customer = || TestDatabase::caller(customer, Role::Customer, &[]);

    let created = create::create(&services, as_customer(), new_request("moscow"))
        .await
        .unwrap();
    let id = created.view.id;
    assert_eq!(created.location, Some(format!("/requests/{id}")));
    let seen = get::get(&services, as_customer(), id).await.unwrap();
    assert_eq!(seen.status, RequestStatus::New);

    let as_stranger = TestDatabase::caller(stranger, Role::Customer, &[]);
    let hidden = get::get(&services, as_stranger, id).await;
    assert!(
        matches!(hidden, Err(RequestError::NotFound(missing)) if missing == id),
        "{hidden:?}"
    );
    let as_contractor = TestDatabase::caller(stranger, Role::Contractor, &[]);
    let filed_by_a_contractor =
        create::create(&services, as_contractor, new_request("moscow")).await;
    assert!(
        matches!(filed_by_a_contractor, Err(RequestError::Forbidden(_))),
        "{filed_by_a_contractor:?}"
    );
    let no_reason = workflow::cancel(&services, as_customer(), id, json!({})).await;
    assert!(
        matches!(no_reason, Err(RequestError::Invalid(_))),
        "{no_reason:?}"
    );

    let cancelled = workflow::cancel(
        &services,
        as_customer(),
        id,
        json!({"reason": "found another"}),
    )
    .await
    .unwrap();
    assert_eq!(cancelled.status, RequestStatus::Cancelled);
    let twice = workflow::cancel(&services, as_customer(), id, json!({"reason": "again"})).await;
    assert!(
        matches!(twice, Err(RequestError::IllegalTransition(_))),
        "{twice:?}"
    );
    let edited =
        workflow::update(&services, as_customer(), id, json!({"title": "New title"})).await;
    assert!(
        matches!(
            edited,
            Err(RequestError::Conflict {
                current: Some(RequestStatus::Cancelled),
                ..
            })
        ),
        "{edited:?}"
    );
}
