//! Notifications on real PostgreSQL, Kafka and moto, with the real `notify` binary fed MSK
//! payloads and a fake Telegram Bot API (tests/src/bin/fake-telegram.rs): who is told what, in
//! which language, on which channel; rate limits retried, blocked bots reported, transient
//! failures retried by notify's schedule, and no message ever sent twice.

use local_lambda::LambdaEnvironment;
use serde_json::{Value, json};
use servicehub_events::catalog::{ContractorAssigned, ContractorRejected};
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_events::values::{Actor, Role};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_tests::apigw::{HttpResponse, claims, request};
use servicehub_tests::kafka::{KafkaProbe, msk_trigger};
use servicehub_tests::moto::{mails_to, sms_to};
use servicehub_tests::telegram::{FakeTelegram, chat_id, rand_digits};
use servicehub_tests::{TestDatabase, insert_user, required_env, start_function, vouch_contacts};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);
const REGION: &str = "Москва";

// ---------------------------------------------------------------- the notify function

struct Notify {
    function: LambdaEnvironment,
    telegram: FakeTelegram,
}

async fn start_notify(db: &TestDatabase, extra: &[(&str, &str)]) -> Notify {
    let telegram = FakeTelegram::start().await;
    let secret = telegram.token_secret().await;
    let mut env: Vec<(String, String)> = [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "SES_FROM_ADDRESS",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), required_env(name)))
    .collect();
    env.push(("TELEGRAM_API_BASE_URL".into(), telegram.base_url.clone()));
    env.push(("TELEGRAM_BOT_TOKEN_SECRET_NAME".into(), secret));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Notify {
        function: start_function("notify", &db.url, &env).await,
        telegram,
    }
}

/// Records as the trigger would deliver them (for events this test makes itself).
fn records(envelopes: &[Envelope]) -> Vec<ConsumedRecord> {
    envelopes
        .iter()
        .enumerate()
        .map(|(offset, e)| ConsumedRecord {
            message: e.to_kafka(),
            partition: 0,
            offset: offset as i64,
            timestamp: e.meta.time,
            timestamp_type: "CREATE_TIME".into(),
        })
        .collect()
}

// ---------------------------------------------------------------- users and rows

struct Person {
    id: Uuid,
    email: String,
}

/// A user with contact details and preferences; a contractor verified by security (notify
/// announces the assignments of no other).
async fn person(
    db: &TestDatabase,
    role: &str,
    name: &str,
    language: &str,
    channels: &[&str],
    chat_id: Option<i64>,
    phone: Option<&str>,
) -> Person {
    let id = insert_user(&db.pool, role, &[REGION]).await;
    let email = format!("{}@example.test", id.simple());
    let channels: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
    sqlx::query(
        "UPDATE users SET display_name = $2, email = $3, language = $4, notification_channels = $5,
                          telegram_chat_id = $6, phone = $7,
                          verification_status = CASE role WHEN 'contractor' THEN 'verified'
                                                          ELSE verification_status END
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(&email)
    .bind(language)
    .bind(&channels)
    .bind(chat_id)
    .bind(phone)
    .execute(&db.pool)
    .await
    .unwrap();
    vouch_contacts(&db.pool, id).await;
    Person { id, email }
}

/// A request in `contractor_assigned`, as the workflow leaves it.
async fn assigned_request(
    db: &TestDatabase,
    customer: Uuid,
    manager: Uuid,
    contractor: Uuid,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region, city,
                                       address, status, manager_id, manager_assigned_at, contractor_id,
                                       created_at, updated_at)
         VALUES ($1, $2, 'Не работает холодильник', 'Не морозит', 'appliance-repair', 'urgent', $3, $3,
                 'ул. Ленина, 1', 'contractor_assigned', $4, now(), $5, now(), now())",
    )
    .bind(id)
    .bind(customer)
    .bind(REGION)
    .bind(manager)
    .bind(contractor)
    .execute(&db.pool)
    .await
    .unwrap();
    id
}

/// The parties of a request in `contractor_assigned`: a customer and a manager told by e-mail,
/// each (name, language), and a Russian contractor (name) on `channels` with a Telegram chat.
struct Assignment {
    customer: Person,
    manager: Person,
    contractor: Person,
    chat: i64,
    request: Uuid,
}

async fn assignment(
    db: &TestDatabase,
    customer: (&str, &str),
    manager: (&str, &str),
    contractor: &str,
    channels: &[&str],
) -> Assignment {
    let customer = person(
        db,
        "customer",
        customer.0,
        customer.1,
        &["email"],
        None,
        None,
    )
    .await;
    let manager = person(db, "manager", manager.0, manager.1, &["email"], None, None).await;
    let chat = chat_id();
    let contractor = person(
        db,
        "contractor",
        contractor,
        "ru",
        channels,
        Some(chat),
        None,
    )
    .await;
    let request = assigned_request(db, customer.id, manager.id, contractor.id).await;
    Assignment {
        customer,
        manager,
        contractor,
        chat,
        request,
    }
}

fn contractor_assigned(request: Uuid, customer: Uuid, manager: Uuid, contractor: Uuid) -> Envelope {
    Envelope::new(
        "assign-contractor",
        ContractorAssigned {
            request_id: request,
            contractor_id: contractor,
            manager_id: manager,
            customer_id: customer,
            region: REGION.into(),
            category: "appliance-repair".into(),
            assigned_by: Actor::user(manager, Role::Manager),
            assigned_at: chrono::Utc::now(),
        },
    )
}

/// (channel, state, attempts, last_error) of `recipient`'s notifications.
async fn rows_of(db: &TestDatabase, recipient: Uuid) -> Vec<(String, String, i32, Option<String>)> {
    sqlx::query(
        "SELECT channel, state, attempts, last_error FROM notifications WHERE recipient_id = $1 ORDER BY channel",
    )
    .bind(recipient)
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.get("channel"),
            r.get("state"),
            r.get("attempts"),
            r.get("last_error"),
        )
    })
    .collect()
}

/// The notification events about `recipient`'s messages, read from notification-events.
async fn notification_events(
    db: &TestDatabase,
    probe: KafkaProbe,
    recipient: Uuid,
) -> Vec<Envelope> {
    let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM notifications WHERE recipient_id = $1")
        .bind(recipient)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1, "one notification per test here");
    probe.envelopes(&ids[0].to_string(), 1, WAIT).await
}

// ---------------------------------------------------------------- the tests

/// Seed scenario 1: POST /requests -> request.created -> assign-manager -> manager assigned; notify
/// gets both records from Kafka: the customer's confirmation (ru) and the manager's notice (en),
/// each once although the notice follows from both events; a redelivery sends nothing.
#[tokio::test]
async fn a_new_request_confirms_to_the_customer_and_tells_the_manager_once() {
    let db = TestDatabase::new().await;
    let customer = person(&db, "customer", "Анна", "ru", &["email"], None, None).await;
    let manager = person(&db, "manager", "Mark", "en", &["email"], None, None).await;
    let create_fn = start_function("create-request", &db.url, &[]).await;
    let assign_fn = start_function("assign-manager", &db.url, &[]).await;
    let notify = start_notify(&db, &[]).await;
    let request_probe = KafkaProbe::new("request-events");
    let workflow_probe = KafkaProbe::new("workflow-events");
    let notification_probe = KafkaProbe::new("notification-events");

    let body = json!({
        "title": "Не работает холодильник", "description": "Не морозит", "category": "appliance-repair",
        "urgency": "urgent", "region": REGION, "city": REGION, "address": "ул. Ленина, 1"
    })
    .to_string();
    let response = HttpResponse::from_invocation(
        create_fn
            .invoke(&request(
                "POST",
                "POST /requests",
                "/requests",
                None,
                Some("application/json"),
                Some(&body),
                Some(claims(customer.id, "customer", &[])),
            ))
            .await
            .unwrap(),
    );
    assert_eq!(response.status, 201, "{:?}", response.body);
    let id = response.body["id"].as_str().unwrap().to_owned();
    let created = tokio::task::spawn_blocking({
        let id = id.clone();
        move || request_probe.read_key(&id, 1, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(created.len(), 1);
    let report = assign_fn.invoke(&msk_trigger(&created)).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    let assigned = tokio::task::spawn_blocking({
        let id = id.clone();
        move || workflow_probe.read_key(&id, 2, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(assigned.len(), 2, "manager_assigned + status_changed");

    // One batch with everything, as the trigger of a consumer of both topics may deliver it.
    let mut batch = created.clone();
    batch.extend(assigned.clone());
    let report = notify.function.invoke(&msk_trigger(&batch)).await.unwrap();
    assert_eq!(report["records"], 3, "{report}");
    assert_eq!(report["dead_lettered"], 0, "{report}");

    let mails = mails_to(&customer.email).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].0, "Заявка «Не работает холодильник» принята");
    assert!(
        mails[0].1.starts_with("Здравствуйте, Анна!"),
        "{}",
        mails[0].1
    );
    assert!(mails[0].1.contains("ул. Ленина, 1"));
    let notices = mails_to(&manager.email).await;
    assert_eq!(notices.len(), 1, "the notice goes out once: {notices:?}");
    assert_eq!(notices[0].0, "New request: \"Не работает холодильник\"");
    assert!(notices[0].1.starts_with("Hello Mark,"), "{}", notices[0].1);

    let events = notification_events(&db, notification_probe, customer.id).await;
    let DomainEvent::EmailSent(sent) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(sent.to_address, customer.email);
    assert_eq!(sent.context.template, "request_created.customer");
    assert_eq!(sent.context.language, "ru");
    assert_eq!(sent.context.request_id.unwrap().to_string(), id);
    assert!(!sent.provider_message_id.is_empty());
    assert_eq!(events[0].meta.source, "notify");
    assert_eq!(
        events[0].meta.causation_id,
        Some(Envelope::from_kafka(&created[0].message).unwrap().meta.id)
    );
    assert_eq!(
        rows_of(&db, manager.id).await,
        [("email".into(), "sent".into(), 1, None)]
    );

    // Redelivery of the whole batch: nothing is sent again.
    let report = notify.function.invoke(&msk_trigger(&batch)).await.unwrap();
    assert_eq!(report["applied"], 0, "{report}");
    assert_eq!(mails_to(&customer.email).await.len(), 1);
    assert_eq!(mails_to(&manager.email).await.len(), 1);
}

/// Seed scenario 2, the notification part: Telegram to the contractor, e-mail to the customer,
/// each in their language; the Bot API call is the real shape.
#[tokio::test]
async fn a_contractor_assignment_goes_to_the_contractor_by_telegram_and_to_the_customer_by_email() {
    let db = TestDatabase::new().await;
    let Assignment {
        customer,
        manager,
        contractor,
        chat,
        request,
    } = assignment(&db, ("Ann", "en"), ("Марк", "ru"), "Иван", &["telegram"]).await;
    let notify = start_notify(&db, &[]).await;
    let probe = KafkaProbe::new("notification-events");
    let event = contractor_assigned(request, customer.id, manager.id, contractor.id);

    let report = notify
        .function
        .invoke(&msk_trigger(&records(std::slice::from_ref(&event))))
        .await
        .unwrap();
    assert_eq!(report["applied"], 1, "{report}");

    let calls = notify.telegram.calls().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["chat_id"], chat);
    assert_eq!(calls[0]["outcome"], "sent");
    let text = calls[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Вам назначена заявка «Не работает холодильник»\n\nЗдравствуйте, Иван!"),
        "{text}"
    );
    assert!(
        mails_to(&contractor.email).await.is_empty(),
        "Telegram only"
    );

    let mails = mails_to(&customer.email).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].0,
        "A contractor is assigned to \"Не работает холодильник\""
    );
    assert!(mails[0].1.starts_with("Hello Ann,"));
    assert!(
        mails_to(&manager.email).await.is_empty(),
        "the manager is not told"
    );

    let events = notification_events(&db, probe, contractor.id).await;
    let DomainEvent::TelegramSent(sent) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(sent.chat_id, chat);
    assert_eq!(sent.telegram_message_id, 1);
    assert_eq!(sent.context.template, "contractor_assigned.contractor");
    assert_eq!(sent.context.cause_event_id, event.meta.id);
    assert_eq!(events[0].meta.correlation_id, event.meta.correlation_id);
}

/// An assignment security-check reverts (the contractor was rejected after accepting) is
/// announced to nobody: notify applies the check's rule itself. The revert, the real
/// security-check's security.access_revoked, tells the contractor why in Russian and the
/// request's manager in English that it waits for a contractor again. Redeliveries of either
/// event send nothing more.
#[tokio::test]
async fn a_reverted_assignment_is_not_announced_and_its_revert_reaches_contractor_and_manager() {
    let db = TestDatabase::new().await;
    let Assignment {
        customer,
        manager,
        contractor,
        chat: _,
        request,
    } = assignment(&db, ("Анна", "ru"), ("Mark", "en"), "Пётр", &["telegram"]).await;
    sqlx::query("UPDATE users SET verification_status = 'rejected' WHERE id = $1")
        .bind(contractor.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let notify = start_notify(&db, &[]).await;
    let check = start_function("security-check", &db.url, &[]).await;
    let assigned = msk_trigger(&records(&[contractor_assigned(
        request,
        customer.id,
        manager.id,
        contractor.id,
    )]));

    // notify before the check has reverted anything (the two consume side by side).
    let report = notify.function.invoke(&assigned).await.unwrap();
    assert_eq!(
        (report["applied"].clone(), report["ignored"].clone()),
        (json!(0), json!(1)),
        "{report}"
    );
    assert!(notify.telegram.calls().await.is_empty());
    assert!(mails_to(&customer.email).await.is_empty());
    assert!(rows_of(&db, customer.id).await.is_empty());

    let security = KafkaProbe::new("security-events");
    let report = check.invoke(&assigned).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    let revoked = tokio::task::spawn_blocking({
        let key = contractor.id.to_string();
        move || security.read_key(&key, 1, WAIT)
    })
    .await
    .unwrap();
    assert_eq!(revoked.len(), 1, "security.access_revoked");
    let revert = msk_trigger(&revoked);
    let report = notify.function.invoke(&revert).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    let calls = notify.telegram.calls().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    let text = calls[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Ваш доступ к заявкам отозван\n\nЗдравствуйте, Пётр!"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "отозван. Причина: профиль исполнителя не прошёл проверку службы безопасности"
        ),
        "{text}"
    );
    let mails = mails_to(&manager.email).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(
        mails[0].0,
        "The contractor was withdrawn from \"Не работает холодильник\""
    );
    assert!(mails[0].1.starts_with("Hello Mark,"), "{}", mails[0].1);
    assert!(
        mails[0]
            .1
            .contains("Reason: the contractor's profile did not pass the security check"),
        "{}",
        mails[0].1
    );
    assert!(
        mails[0]
            .1
            .ends_with("The request is waiting for a contractor again."),
        "{}",
        mails[0].1
    );
    let template: String =
        sqlx::query_scalar("SELECT template FROM notifications WHERE recipient_id = $1")
            .bind(manager.id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(template, "access_revoked.manager");

    // Redelivered: the revert sends nothing twice, the assignment is still not announced.
    let report = notify.function.invoke(&revert).await.unwrap();
    assert_eq!(report["duplicates"], 1, "{report}");
    let report = notify.function.invoke(&assigned).await.unwrap();
    assert_eq!(report["ignored"], 1, "{report}");
    assert_eq!(notify.telegram.calls().await.len(), 1);
    assert_eq!(mails_to(&manager.email).await.len(), 1);
    assert!(mails_to(&customer.email).await.is_empty());
}

/// 429 with retry_after: the function waits as told and sends; one message, two calls.
#[tokio::test]
async fn a_rate_limited_telegram_message_is_retried_after_the_wait_and_sent_once() {
    let db = TestDatabase::new().await;
    let Assignment {
        customer,
        manager,
        contractor,
        chat: _,
        request,
    } = assignment(&db, ("Анна", "ru"), ("Марк", "ru"), "Иван", &["telegram"]).await;
    let notify = start_notify(&db, &[]).await;
    notify
        .telegram
        .control(json!({"mode": "rate_limit", "count": 1, "retry_after": 1}))
        .await;

    let started = std::time::Instant::now();
    let event = contractor_assigned(request, customer.id, manager.id, contractor.id);
    let report = notify
        .function
        .invoke(&msk_trigger(&records(&[event])))
        .await
        .unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after is honoured"
    );
    let outcomes: Vec<Value> = notify
        .telegram
        .calls()
        .await
        .iter()
        .map(|c| c["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("rate_limited"), json!("sent")]);
    assert_eq!(
        rows_of(&db, contractor.id).await,
        [("telegram".into(), "sent".into(), 2, None)]
    );
}

/// A blocked bot is permanent: notification.failed with the reason, no retry, and the rest of
/// the event's messages still go out.
#[tokio::test]
async fn a_blocked_bot_becomes_notification_failed_and_is_not_retried() {
    let db = TestDatabase::new().await;
    let Assignment {
        customer,
        manager,
        contractor,
        chat: _,
        request,
    } = assignment(&db, ("Анна", "ru"), ("Марк", "ru"), "Иван", &["telegram"]).await;
    let notify = start_notify(&db, &[]).await;
    notify
        .telegram
        .control(json!({"mode": "blocked", "count": 5}))
        .await;
    let probe = KafkaProbe::new("notification-events");
    let batch = msk_trigger(&records(&[contractor_assigned(
        request,
        customer.id,
        manager.id,
        contractor.id,
    )]));

    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(notify.telegram.calls().await.len(), 1, "no retry");
    assert_eq!(mails_to(&customer.email).await.len(), 1);
    let rows = rows_of(&db, contractor.id).await;
    assert_eq!(
        rows,
        [(
            "telegram".into(),
            "failed".into(),
            1,
            Some("Telegram 403: Forbidden: bot was blocked by the user".into())
        )]
    );
    let events = notification_events(&db, probe, contractor.id).await;
    let DomainEvent::NotificationFailed(failed) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(failed.channel.as_str(), "telegram");
    assert!(failed.permanent);
    assert_eq!(
        failed.reason,
        "Telegram 403: Forbidden: bot was blocked by the user"
    );
    assert_eq!(failed.context.recipient_user_id, contractor.id);

    // Redelivered: neither the failed message nor the sent e-mail is tried again.
    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["duplicates"], 1, "{report}");
    assert_eq!(notify.telegram.calls().await.len(), 1);
    assert_eq!(mails_to(&customer.email).await.len(), 1);
}

/// notify's scheduled run, as the template's schedule invokes it.
async fn sweep(notify: &Notify) -> Value {
    notify
        .function
        .invoke(&json!({"sweep": "notifications"}))
        .await
        .unwrap()
}

/// A provider that keeps failing does not fail the batch (AWS would give the batch up after its
/// retries): the message is left to notify's schedule, which sends it once it is due; the batch's
/// redelivery sends nothing twice.
#[tokio::test]
async fn a_failing_bot_api_leaves_the_message_to_the_schedule_which_sends_it_once() {
    let db = TestDatabase::new().await;
    let Assignment {
        customer,
        manager,
        contractor,
        chat,
        request,
    } = assignment(
        &db,
        ("Анна", "ru"),
        ("Марк", "ru"),
        "Иван",
        &["telegram", "email"],
    )
    .await;
    let notify = start_notify(&db, &[("NOTIFY_MAX_ATTEMPTS", "2")]).await;
    notify
        .telegram
        .control(json!({"mode": "server_error", "count": 2}))
        .await;
    let cause = contractor_assigned(request, customer.id, manager.id, contractor.id);
    let batch = msk_trigger(&records(std::slice::from_ref(&cause)));

    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(notify.telegram.calls().await.len(), 2, "bounded retries");
    assert_eq!(mails_to(&customer.email).await.len(), 1);
    assert_eq!(mails_to(&contractor.email).await.len(), 1);
    let telegram_row = &rows_of(&db, contractor.id).await[1];
    assert_eq!(
        (
            telegram_row.0.as_str(),
            telegram_row.1.as_str(),
            telegram_row.2
        ),
        ("telegram", "retrying", 2)
    );
    // The delay as scheduled (the moment of scheduling is updated_at): reading moto's data above
    // takes longer the more earlier runs left in it, so `now()` here would be no reference.
    let wait: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM next_attempt_at - updated_at)::float8 FROM notifications
         WHERE recipient_id = $1 AND channel = 'telegram'",
    )
    .bind(contractor.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!((15.0..=16.0).contains(&wait), "retried in {wait} s");

    // Not due yet: the schedule leaves it.
    let report = sweep(&notify).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(notify.telegram.calls().await.len(), 2);

    // Due (as 15 s later): sent once, announced as caused by the assignment.
    sqlx::query("UPDATE notifications SET next_attempt_at = now() WHERE recipient_id = $1 AND channel = 'telegram'")
        .bind(contractor.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let probe = KafkaProbe::new("notification-events");
    let report = sweep(&notify).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(notify.telegram.texts_to(chat).await.len(), 1);
    let telegram_id: Uuid = sqlx::query_scalar(
        "SELECT id FROM notifications WHERE recipient_id = $1 AND channel = 'telegram'",
    )
    .bind(contractor.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let events = probe.envelopes(&telegram_id.to_string(), 1, WAIT).await;
    assert!(
        matches!(events[0].data, DomainEvent::TelegramSent(_)),
        "{events:?}"
    );
    assert_eq!(events[0].meta.causation_id, Some(cause.meta.id));
    assert_eq!(events[0].meta.correlation_id, cause.meta.correlation_id);

    // The batch again, as a redelivery: nothing goes out twice.
    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["duplicates"], 1, "{report}");
    let outcomes: Vec<Value> = notify
        .telegram
        .calls()
        .await
        .iter()
        .map(|c| c["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [json!("server_error"), json!("server_error"), json!("sent")]
    );
    assert_eq!(mails_to(&customer.email).await.len(), 1);
    assert_eq!(mails_to(&contractor.email).await.len(), 1);
    assert_eq!(
        rows_of(&db, contractor.id).await,
        [
            ("email".into(), "sent".into(), 1, None),
            ("telegram".into(), "sent".into(), 3, None)
        ]
    );
}

/// Due retries the schedule cannot or may no longer send are given up as notification.failed with
/// their reason, never sent: a row that kept no text (claimed before texts were kept) and one
/// whose provider has been failing for longer than NOTIFY_RETRY_FOR_HOURS.
#[tokio::test]
async fn the_schedule_gives_up_a_retry_it_cannot_resend_or_that_failed_too_long() {
    let db = TestDatabase::new().await;
    let old = person(&db, "customer", "Анна", "ru", &["email"], None, None).await;
    let textless = person(&db, "customer", "Борис", "ru", &["email"], None, None).await;
    let notify = start_notify(&db, &[("NOTIFY_RETRY_FOR_HOURS", "24")]).await;
    let retrying = |recipient: &Person, age_hours: i32, text: Option<&'static str>| {
        sqlx::query(
            "INSERT INTO notifications (id, dedup_key, recipient_id, channel, template, language,
                                        cause_event_id, address, subject, body, state, attempts,
                                        claimed_at, created_at, next_attempt_at)
             VALUES ($1, $2, $3, 'email', 'request_created_customer', 'ru', $4, $5, $6, $6,
                     'retrying', 4, now(), now() - make_interval(hours => $7), now())",
        )
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7().to_string())
        .bind(recipient.id)
        .bind(Uuid::now_v7())
        .bind(recipient.email.clone())
        .bind(text)
        .bind(age_hours)
    };
    retrying(&old, 25, Some("Заявка принята"))
        .execute(&db.pool)
        .await
        .unwrap();
    retrying(&textless, 1, None)
        .execute(&db.pool)
        .await
        .unwrap();

    let report = sweep(&notify).await;
    assert_eq!(
        (report["failed"].clone(), report["sent"].clone()),
        (json!(2), json!(0)),
        "{report}"
    );
    let given_up = rows_of(&db, old.id).await[0].clone();
    assert_eq!(given_up.1, "failed");
    assert!(
        given_up
            .3
            .as_deref()
            .unwrap()
            .contains("kept failing for 24 h"),
        "{given_up:?}"
    );
    let unsendable = rows_of(&db, textless.id).await[0].clone();
    assert_eq!(unsendable.1, "failed");
    assert!(
        unsendable
            .3
            .as_deref()
            .unwrap()
            .contains("text was not kept"),
        "{unsendable:?}"
    );
    assert!(mails_to(&old.email).await.is_empty());
    assert!(mails_to(&textless.email).await.is_empty());
}

/// SMS through SNS for users who prefer it; an English contractor gets the English text.
#[tokio::test]
async fn a_security_decision_reaches_the_contractor_by_sms() {
    let db = TestDatabase::new().await;
    let phone = format!("+7999{}", rand_digits(7));
    let contractor = person(
        &db,
        "contractor",
        "Ivan",
        "en",
        &["sms"],
        None,
        Some(&phone),
    )
    .await;
    let officer = insert_user(&db.pool, "security", &[]).await;
    let notify = start_notify(&db, &[]).await;
    let probe = KafkaProbe::new("notification-events");
    let event = Envelope::new(
        "reject-contractor",
        ContractorRejected {
            contractor_id: contractor.id,
            rejected_by: officer,
            reason: "expired documents".into(),
            rejected_at: chrono::Utc::now(),
        },
    );
    let batch = msk_trigger(&records(&[event]));
    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");

    assert_eq!(
        sms_to(&phone).await,
        ["servicehub: Your contractor profile was not verified"]
    );
    assert!(mails_to(&contractor.email).await.is_empty());
    let events = notification_events(&db, probe, contractor.id).await;
    let DomainEvent::SmsSent(sent) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(sent.phone, phone);
    assert_eq!(sent.context.template, "contractor_rejected.contractor");
    assert_eq!(sent.context.language, "en");

    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["duplicates"], 1, "{report}");
    assert_eq!(sms_to(&phone).await.len(), 1);
}

/// events/notify.json (request.created and workflow.contractor_assigned, from two topics) drives
/// the real function: the sample's customer gets the confirmation and the assignment e-mail, the
/// contractor a Telegram message.
#[tokio::test]
async fn the_sample_payload_drives_notify() {
    let db = TestDatabase::new().await;
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(servicehub_tests::repo_root().join("events/notify.json")).unwrap(),
    )
    .unwrap();
    let envelope = |group: &str| {
        let record = &sample["records"][group][0];
        let value = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            record["value"].as_str().unwrap(),
        )
        .unwrap();
        Envelope::from_json(&value).unwrap()
    };
    let DomainEvent::ContractorAssigned(assigned) = envelope("workflow-events-2").data else {
        panic!("the sample's second record is a contractor assignment")
    };
    let chat = chat_id();
    let email = format!("{}@example.test", Uuid::new_v4().simple());
    for (id, role, name, channels, chat) in [
        (assigned.customer_id, "customer", "Анна", "{email}", None),
        (assigned.manager_id, "manager", "Марк", "{email}", None),
        (
            assigned.contractor_id,
            "contractor",
            "Иван",
            "{telegram}",
            Some(chat),
        ),
    ] {
        // The contractor verified in the request's region: an assignment security-check would
        // revert is not announced.
        sqlx::query(
            "INSERT INTO users (id, role, display_name, email, notification_channels, telegram_chat_id,
                                regions, verification_status)
             VALUES ($1, $2, $3, $4, $5::text[], $6, $7, 'verified')",
        )
        .bind(id)
        .bind(role)
        .bind(name)
        .bind(if role == "customer" {
            email.clone()
        } else {
            format!("{}@example.test", Uuid::new_v4().simple())
        })
        .bind(channels)
        .bind(chat)
        .bind(vec![assigned.region.clone()])
        .execute(&db.pool)
        .await
        .unwrap();
        vouch_contacts(&db.pool, id).await;
    }
    assigned_request_with_id(&db, assigned.request_id, &assigned).await;
    let notify = start_notify(&db, &[]).await;

    let report = notify.function.invoke(&sample).await.unwrap();
    assert_eq!(report["records"], 2, "{report}");
    assert_eq!(report["applied"], 2, "{report}");
    let subjects: Vec<String> = mails_to(&email).await.into_iter().map(|m| m.0).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.contains(&"Заявка «Не работает холодильник» принята".to_owned()));
    assert!(
        subjects.contains(&"По заявке «Не работает холодильник» назначен исполнитель".to_owned())
    );
    let calls = notify.telegram.calls().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["chat_id"], chat);
}

async fn assigned_request_with_id(db: &TestDatabase, id: Uuid, assigned: &ContractorAssigned) {
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region, city,
                                       address, status, manager_id, manager_assigned_at, contractor_id,
                                       created_at, updated_at)
         VALUES ($1, $2, 'Не работает холодильник', 'Не морозит', 'appliance-repair', 'high', $3, $3,
                 'ул. Ленина, 1', 'contractor_assigned', $4, now(), $5, now(), now())",
    )
    .bind(id)
    .bind(assigned.customer_id)
    .bind(REGION)
    .bind(assigned.manager_id)
    .bind(assigned.contractor_id)
    .execute(&db.pool)
    .await
    .unwrap();
}

/// A claim left `sending` by an invocation that died mid-send: within the lease a redelivery
/// leaves it alone (someone may be sending it); after the lease notify's schedule gives it up as
/// notification.failed — never sent a second time.
#[tokio::test]
async fn a_message_whose_sender_died_mid_send_is_reported_not_resent() {
    let db = TestDatabase::new().await;
    let phone = format!("+7999{}", rand_digits(7));
    let contractor = person(
        &db,
        "contractor",
        "Иван",
        "ru",
        &["sms"],
        None,
        Some(&phone),
    )
    .await;
    let officer = insert_user(&db.pool, "security", &[]).await;
    let notify = start_notify(&db, &[("NOTIFY_CLAIM_LEASE_SECONDS", "60")]).await;
    let event = Envelope::new(
        "reject-contractor",
        ContractorRejected {
            contractor_id: contractor.id,
            rejected_by: officer,
            reason: "документы просрочены".into(),
            rejected_at: chrono::Utc::now(),
        },
    );
    let batch = msk_trigger(&records(&[event]));
    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(sms_to(&phone).await.len(), 1);

    // As if the invocation had died between the provider's answer and the mark.
    let in_flight = |age_seconds: i32| {
        sqlx::query(
            "UPDATE notifications SET state = 'sending', sent_at = NULL,
                    claimed_at = now() - make_interval(secs => $2) WHERE recipient_id = $1",
        )
        .bind(contractor.id)
        .bind(age_seconds)
    };
    in_flight(5).execute(&db.pool).await.unwrap();
    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["duplicates"], 1, "{report}");
    assert_eq!(rows_of(&db, contractor.id).await[0].1, "sending");

    // After the lease, the schedule settles it, though no redelivery comes.
    in_flight(3600).execute(&db.pool).await.unwrap();
    let probe = KafkaProbe::new("notification-events");
    let report = sweep(&notify).await;
    assert_eq!(report["abandoned"], 1, "{report}");
    assert_eq!(sms_to(&phone).await.len(), 1, "never sent twice");
    let row = &rows_of(&db, contractor.id).await[0];
    assert_eq!(row.1, "failed");
    assert!(
        row.3.as_deref().unwrap().contains("outcome is unknown"),
        "{row:?}"
    );
    let events = notification_events(&db, probe, contractor.id).await;
    let DomainEvent::NotificationFailed(failed) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(failed.channel.as_str(), "sms");
    assert!(failed.permanent);

    // Settled for good: a further redelivery does nothing.
    let report = notify.function.invoke(&batch).await.unwrap();
    assert_eq!(report["duplicates"], 1, "{report}");
}
