//! HR documents end to end on real PostgreSQL, Kafka, moto (S3) and the real binaries: seed
//! scenario 3 (work completed -> the act and the payment order in S3 and Postgres; both parties
//! sign the act -> the payment) and the contract scenario (contractor verified -> contract).
//! The PDFs are fetched through get-document's download link and read with pdftotext.

use serde_json::{Value, json};
use servicehub_events::DomainEvent;
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_tests::apigw::{HttpResponse, claims, invoke, request};
use servicehub_tests::kafka::{KafkaProbe, msk_trigger};
use servicehub_tests::{TestDatabase, aws_env, insert_user, pdf_text, start_function};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

async fn records(probe: KafkaProbe, key: String, count: usize) -> Vec<ConsumedRecord> {
    tokio::task::spawn_blocking(move || probe.read_key(&key, count, WAIT))
        .await
        .unwrap()
}

async fn start(name: &str, db: &TestDatabase) -> local_lambda::LambdaEnvironment {
    let aws = aws_env();
    let env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    start_function(name, &db.url, &env).await
}

fn as_user(method: &str, route: &str, path: &str, id: Uuid, user: Uuid, role: &str) -> Value {
    request(
        method,
        &format!("{method} {route}"),
        path,
        Some(json!({"id": id.to_string()})),
        None,
        None,
        Some(claims(user, role, &[])),
    )
}

async fn download(
    get_document: &local_lambda::LambdaEnvironment,
    id: Uuid,
    user: Uuid,
    role: &str,
) -> (HttpResponse, Vec<u8>) {
    let response = invoke(
        get_document,
        &as_user(
            "GET",
            "/documents/{id}",
            &format!("/documents/{id}"),
            id,
            user,
            role,
        ),
    )
    .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let url = response.body["download_url"]
        .as_str()
        .expect("a download link")
        .to_owned();
    let bytes = reqwest::get(&url).await.unwrap();
    assert_eq!(bytes.status(), 200, "downloading {url}");
    let bytes = bytes.bytes().await.unwrap().to_vec();
    (response, bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn completed_work_yields_the_act_and_payment_order_and_both_signatures_the_payment() {
    let db = TestDatabase::new().await;
    let region = format!("hr-{}", Uuid::new_v4().simple());
    let customer = insert_user(&db.pool, "customer", &[]).await;
    let manager = insert_user(&db.pool, "manager", &[&region]).await;
    let contractor = insert_user(&db.pool, "contractor", &[&region]).await;
    sqlx::query("UPDATE users SET display_name = 'Анна Иванова' WHERE id = $1")
        .bind(customer)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE users SET display_name = 'Мастер Иван', verification_status = 'verified'
         WHERE id = $1",
    )
    .bind(contractor)
    .execute(&db.pool)
    .await
    .unwrap();
    let request_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region,
             city, address, status, manager_id, contractor_id, created_at, updated_at)
         VALUES ($1, $2, 'Не работает холодильник', 'Не морозит', 'appliance-repair', 'high', $3,
             'Москва', 'ул. Ленина, 1', 'in_progress', $4, $5, now(), now())",
    )
    .bind(request_id)
    .bind(customer)
    .bind(&region)
    .bind(manager)
    .bind(contractor)
    .execute(&db.pool)
    .await
    .unwrap();
    let complete = start("complete-work", &db).await;
    let generator = start("hr-documents", &db).await;
    let get_document = start("get-document", &db).await;
    let sign = start("sign-document", &db).await;
    let payments = start("list-payments", &db).await;

    let workflow = KafkaProbe::new("workflow-events");
    let mut done = request(
        "POST",
        "POST /requests/{id}/complete",
        &format!("/requests/{request_id}/complete"),
        Some(json!({"id": request_id.to_string()})),
        Some("application/json"),
        Some(&json!({"completion_report": "Заменён пусковой конденсатор", "final_price": {"amount_minor": 450000, "currency": "RUB"}}).to_string()),
        Some(claims(contractor, "contractor", &[])),
    );
    done["headers"]["idempotency-key"] = json!(Uuid::new_v4().to_string());
    assert_eq!(invoke(&complete, &done).await.status, 200);
    let completed: Vec<ConsumedRecord> = records(workflow, request_id.to_string(), 2)
        .await
        .into_iter()
        .filter(|r| {
            servicehub_events::Envelope::from_kafka(&r.message)
                .unwrap()
                .meta
                .event_type
                == "workflow.work_completed"
        })
        .collect();
    assert_eq!(completed.len(), 1);

    let hr = KafkaProbe::new("hr-events");
    let report = generator.invoke(&msk_trigger(&completed)).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    let again = generator.invoke(&msk_trigger(&completed)).await.unwrap();
    assert_eq!(
        again["duplicates"], 1,
        "a redelivery generates nothing: {again}"
    );
    let documents: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, kind FROM documents WHERE request_id = $1 ORDER BY kind")
            .bind(request_id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let kinds: Vec<&str> = documents.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["completion_act", "payment_order"]);
    let act = documents[0].0;

    // A forged `hr.document_signed` saying the unsigned act is fully signed (anyone who can
    // produce to the topic could send it) mints no payment: the database says it is unsigned.
    let forged = servicehub_events::Envelope::new(
        "forger",
        servicehub_events::catalog::DocumentSigned {
            document_id: act,
            kind: servicehub_events::values::DocumentKind::CompletionAct,
            request_id: Some(request_id),
            signed_by: contractor,
            signer_role: servicehub_events::values::Role::Contractor,
            fully_signed: true,
            signed_at: chrono::Utc::now(),
        },
    );
    let forged_record = ConsumedRecord {
        message: forged.to_kafka(),
        partition: 0,
        offset: 1,
        timestamp: chrono::Utc::now(),
        timestamp_type: "CREATE_TIME".into(),
    };
    let report = generator
        .invoke(&msk_trigger(&[forged_record]))
        .await
        .unwrap();
    assert_eq!(report["dead_lettered"], 0, "{report}");
    let minted: i64 = sqlx::query_scalar("SELECT count(*) FROM payments WHERE document_id = $1")
        .bind(act)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(minted, 0, "a forged event minted a payment");

    // The files are real PDFs in S3 with the Cyrillic text of the act.
    let (view, pdf) = download(&get_document, act, customer, "customer").await;
    assert_eq!(
        view.body["amount"],
        json!({"amount_minor": 450000, "currency": "RUB"})
    );
    assert_eq!(view.body["sha256"].as_str().unwrap().len(), 64);
    let text = pdf_text(&pdf);
    for expected in [
        "Акт выполненных работ",
        "Заказчик: Анна Иванова",
        "Исполнитель: Мастер Иван",
        "Заменён пусковой конденсатор",
        "Итого: 4 500,00 RUB",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text:?}");
    }
    let (_, order) = download(&get_document, documents[1].0, contractor, "contractor").await;
    assert!(pdf_text(&order).contains("Платёжное поручение"));

    // Both parties sign the act; the second signature makes it fully signed.
    let sign_as = |user, role: &str| {
        as_user(
            "POST",
            "/documents/{id}/sign",
            &format!("/documents/{act}/sign"),
            act,
            user,
            role,
        )
    };
    let first = invoke(&sign, &sign_as(customer, "customer")).await;
    assert_eq!(
        (first.status, first.body["fully_signed"].clone()),
        (200, json!(false)),
        "{:?}",
        first.body
    );
    assert_eq!(
        invoke(&sign, &sign_as(customer, "customer")).await.status,
        409
    );
    assert_eq!(
        invoke(&sign, &sign_as(manager, "manager")).await.status,
        403,
        "the request's manager sees the act but does not sign it"
    );
    // A contractor whose access was revoked since signs nothing (their signature would
    // release the payment); with access back, they sign.
    let set_revoked = |revoked: bool| {
        sqlx::query("UPDATE users SET access_revoked = $2 WHERE id = $1")
            .bind(contractor)
            .bind(revoked)
            .execute(&db.pool)
    };
    set_revoked(true).await.unwrap();
    let refused = invoke(&sign, &sign_as(contractor, "contractor")).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    set_revoked(false).await.unwrap();
    let second = invoke(&sign, &sign_as(contractor, "contractor")).await;
    assert_eq!(
        (second.status, second.body["fully_signed"].clone()),
        (200, json!(true))
    );

    // The act's records (keyed by its id; other tests write to hr-events too): its
    // document_created and the two document_signed.
    let signed: Vec<ConsumedRecord> = records(hr, act.to_string(), 3).await;
    assert_eq!(signed.len(), 3);
    let hr_after = KafkaProbe::new("hr-events");
    let report = generator.invoke(&msk_trigger(&signed)).await.unwrap();
    assert_eq!(
        report["applied"].as_u64().unwrap() + report["ignored"].as_u64().unwrap(),
        signed.len() as u64,
        "{report}"
    );
    let paid = tokio::task::spawn_blocking(move || hr_after.read_key(&act.to_string(), 1, WAIT))
        .await
        .unwrap();
    match servicehub_events::Envelope::from_kafka(&paid[0].message)
        .unwrap()
        .data
    {
        DomainEvent::PaymentProcessed(payment) => {
            assert_eq!(payment.request_id, request_id);
            assert_eq!(payment.amount.amount_minor, 450000);
        }
        other => panic!("{other:?}"),
    }
    let listed = invoke(
        &payments,
        &request(
            "GET",
            "GET /payments",
            "/payments",
            None,
            None,
            None,
            Some(claims(customer, "customer", &[])),
        ),
    )
    .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{:?}",
        listed.body
    );
    assert_eq!(listed.body["items"][0]["document_id"], act.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_contractor_gets_a_contract() {
    let db = TestDatabase::new().await;
    let contractor = insert_user(&db.pool, "contractor", &["Москва"]).await;
    sqlx::query(
        "UPDATE users SET display_name = 'Мастер Иван', categories = '{plumbing}' WHERE id = $1",
    )
    .bind(contractor)
    .execute(&db.pool)
    .await
    .unwrap();
    let verify = start("verify-contractor", &db).await;
    let generator = start("hr-documents", &db).await;
    let get_document = start("get-document", &db).await;
    let security = KafkaProbe::new("security-events");
    let hr = KafkaProbe::new("hr-events");
    let verified = invoke(
        &verify,
        &as_user(
            "POST",
            "/contractors/{id}/verify",
            &format!("/contractors/{contractor}/verify"),
            contractor,
            Uuid::now_v7(),
            "security",
        ),
    )
    .await;
    assert_eq!(verified.status, 200);
    let records = records(security, contractor.to_string(), 1).await;
    let report = generator.invoke(&msk_trigger(&records)).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    let document: Uuid = sqlx::query_scalar(
        "SELECT id FROM documents WHERE contractor_id = $1 AND kind = 'contract'",
    )
    .bind(contractor)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let generated =
        tokio::task::spawn_blocking(move || hr.read_key(&document.to_string(), 1, WAIT))
            .await
            .unwrap();
    match servicehub_events::Envelope::from_kafka(&generated[0].message)
        .unwrap()
        .data
    {
        DomainEvent::ContractGenerated(event) => assert_eq!(event.contractor_id, contractor),
        other => panic!("{other:?}"),
    }
    let (_, pdf) = download(&get_document, document, contractor, "contractor").await;
    let text = pdf_text(&pdf);
    assert!(text.contains("Договор оказания услуг"), "{text}");
    assert!(text.contains("Исполнитель: Мастер Иван"), "{text}");
    assert!(text.contains("Москва"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sample_payload_drives_hr_documents() {
    let db = TestDatabase::new().await;
    let id = |s: &str| Uuid::parse_str(s).unwrap();
    let (request_id, customer, manager, contractor) = (
        id("0190a5a4-7b1e-7cc0-8a2b-000000000001"),
        id("0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b"),
        id("0190a5a4-7b1e-7cc0-8a2b-0000000000a2"),
        id("0190a5a4-7b1e-7cc0-8a2b-0000000000a3"),
    );
    sqlx::query(
        "INSERT INTO users (id, role, display_name, regions) VALUES
             ($1, 'customer', 'Анна Иванова', '{}'), ($2, 'manager', 'Пётр', '{Москва}'),
             ($3, 'contractor', 'Мастер Иван', '{Москва}')",
    )
    .bind(customer)
    .bind(manager)
    .bind(contractor)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region,
             city, address, status, manager_id, contractor_id, created_at, updated_at)
         VALUES ($1, $2, 'Не работает холодильник', 'Не морозит', 'appliance-repair', 'high', 'Москва',
             'Москва', 'ул. Ленина, 1', 'completed', $3, $4, now(), now())",
    )
    .bind(request_id)
    .bind(customer)
    .bind(manager)
    .bind(contractor)
    .execute(&db.pool)
    .await
    .unwrap();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(servicehub_tests::repo_root().join("events/hr-documents.json"))
            .unwrap(),
    )
    .unwrap();
    let generator = start("hr-documents", &db).await;
    let report = generator.invoke(&sample).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM documents WHERE request_id = $1")
        .bind(request_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "the act and the payment order");
}
