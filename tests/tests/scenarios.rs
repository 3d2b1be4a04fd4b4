//! The seed scenarios 2, 3 and 4 of issue 5 end to end, through the local runner on the real
//! template.yaml: every step over HTTP behind the JWT authorizer, every consumer invoked by the
//! template's own Kafka triggers, against real PostgreSQL, Kafka, ClickHouse, moto (SES, S3,
//! Secrets Manager) and a fake Telegram Bot API. Each scenario asserts the events on Kafka, the
//! rows in Postgres, the messages actually sent and the stored files (PDFs read back from S3
//! with pdftotext). Scenario 1 is `the_real_template_runs_the_slice_behind_its_jwt_authorizer`
//! in local_runner.rs.

use serde_json::{Value, json};
use servicehub_events::catalog::SystemEvent;
use servicehub_events::values::{RequestStatus, Role};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::moto::{code_in, mails_to};
use servicehub_tests::stack::Stack;
use servicehub_tests::telegram::{FakeTelegram, chat_id};
use servicehub_tests::{
    TestDatabase, audit_database, eventually, new_request, pdf_text, required_env,
};
use std::time::Duration;
use uuid::Uuid;

const REGION: &str = "Москва";
const CATEGORY: &str = "appliance-repair";
const FRIDGE: &str = "Не работает холодильник";
const WASHER: &str = "Не работает стиральная машина";
const REPORT: &str = "Заменён пусковой конденсатор";
/// For asynchronous effects: Kafka triggers batch for up to a second per hop.
const WAIT: Duration = Duration::from_secs(60);

/// One user of the stack.
struct Person {
    id: Uuid,
    /// The `Authorization` header value.
    token: String,
    email: String,
    /// Contractors: their Telegram chat (0 for the others).
    chat: i64,
}

struct Cast {
    manager: Person,
    officer: Person,
    customer: Person,
    ivan: Person,
}

/// The stack on a database of its own, with a fake Bot API (its token in moto) and a ClickHouse
/// audit database of its own.
struct World {
    /// Where the cast works and the requests are filed ([`REGION`] unless a scenario needs a
    /// region no concurrently running scenario files into).
    region: String,
    db: TestDatabase,
    stack: Stack,
    telegram: FakeTelegram,
    admin: String,
}

impl World {
    async fn start() -> World {
        World::start_in(REGION).await
    }

    async fn start_in(region: &str) -> World {
        let db = TestDatabase::new().await;
        let telegram = FakeTelegram::start().await;
        let secret = telegram.token_secret().await;
        let audit = audit_database().await;
        let stack = Stack::start_with_parameters(
            &db.url,
            &[],
            &[
                ("TelegramApiBaseUrl", &telegram.base_url),
                ("TelegramBotTokenSecretName", &secret),
                ("ClickHouseDatabase", audit.database()),
            ],
        )
        .await;
        let admin = stack.admin().await;
        World {
            region: region.to_owned(),
            db,
            stack,
            telegram,
            admin,
        }
    }

    async fn stop(self) {
        assert!(self.stack.runner.stop().await.success());
    }

    fn person(user: &Value, token: String, chat: i64) -> Person {
        Person {
            id: user["id"].as_str().expect("id").parse().expect("a UUID"),
            token,
            email: user["email"].as_str().expect("email").to_owned(),
            chat,
        }
    }

    /// A manager of the world's region or a security officer, created by the admin.
    async fn staff(&self, role: &str, name: &str) -> Person {
        let regions: &[&str] = if role == "manager" {
            &[self.region.as_str()]
        } else {
            &[]
        };
        let (user, token) = self.stack.staff(&self.admin, role, name, regions).await;
        Self::person(&user, token, 0)
    }

    /// A customer who registered (e-mail, Russian) and proved the e-mail with its code.
    async fn customer(&self) -> Person {
        let (user, token) = self
            .stack
            .register_verified(json!({"role": "customer", "display_name": "Анна Иванова"}))
            .await;
        Self::person(&user, token, 0)
    }

    /// A contractor of the world's region and [`CATEGORY`] who registered to be told by Telegram;
    /// pending until security verifies them.
    async fn contractor(&self, name: &str) -> Person {
        let chat = chat_id();
        let (user, token) = self
            .stack
            .register(json!({
                "role": "contractor",
                "display_name": name,
                "regions": [self.region],
                "categories": [CATEGORY],
                "notifications": {"channels": ["telegram"], "telegram_chat_id": chat, "language": "ru"},
            }))
            .await;
        assert_eq!(user["verification_status"], "pending");
        // The chat gets nothing but its code until the contractor types the code back.
        let code = eventually("a verification code in the chat", WAIT, || async {
            let texts = self.telegram.texts_to(chat).await;
            match texts.as_slice() {
                [only] => code_in(only).ok_or(format!("{texts:?}")),
                _ => Err(format!("{texts:?}")),
            }
        })
        .await;
        self.stack.prove(&token, "telegram", &code).await;
        Self::person(&user, token, chat)
    }

    /// The region's manager, a security officer, a customer, and Мастер Иван, a contractor the
    /// officer verified.
    async fn cast(&self) -> Cast {
        let manager = self.staff("manager", "Менеджер Пётр").await;
        let officer = self.staff("security", "Офицер Сергей").await;
        let customer = self.customer().await;
        let ivan = self.contractor("Мастер Иван").await;
        self.verify(&officer, &ivan).await;
        Cast {
            manager,
            officer,
            customer,
            ivan,
        }
    }

    /// `POST path` as `who`, which must answer 200; the answer.
    async fn ok(&self, who: &Person, path: &str, body: Value) -> Value {
        let (status, answer) = self.stack.post(&who.token, path, &body).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }

    async fn verify(&self, officer: &Person, contractor: &Person) {
        let path = format!("/contractors/{}/verify", contractor.id);
        let verified = self.ok(officer, &path, json!({})).await;
        assert_eq!(verified["verification_status"], "verified");
    }

    /// The customer files a request titled `title` in the world's region; its id and its view
    /// once assign-manager has given it a manager.
    async fn filed_request(&self, customer: &Person, title: &str) -> (String, Value) {
        let mut body = new_request(&self.region);
        body["title"] = json!(title);
        let (status, created) = self.stack.post(&customer.token, "/requests", &body).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id").to_owned();
        let view = self
            .stack
            .wait_for_status(&customer.token, &id, "manager_assigned")
            .await;
        (id, view)
    }

    /// The customer files a request titled `title`; assign-manager gives it to the manager
    /// (the only one of the region), who dispatches it to every eligible contractor.
    async fn dispatched_request(&self, customer: &Person, manager: &Person, title: &str) -> Uuid {
        let (id, view) = self.filed_request(customer, title).await;
        assert_eq!(view["manager_id"], manager.id.to_string());
        let dispatched = self
            .ok(manager, &format!("/requests/{id}/dispatch"), json!({}))
            .await;
        assert_eq!(dispatched["status"], "sent_to_contractors");
        id.parse().expect("a UUID")
    }

    /// `contractor` accepts `request` while `officer` rejects them: the race security-check is
    /// there for. A rejection withdraws the contractor's offers and an accept applies the check's
    /// rule, so only a rejection arriving while the accept is in flight lets a rejected contractor
    /// hold a request: it waits for the accept's commit (the accept share-locks the contractor's
    /// row) and commits right after it. To have that happen every time, a test transaction holds
    /// the accept before its commit (it locks the request history the accept writes) until the
    /// rejection waits behind it. The two answers, both 200.
    async fn accept_racing_a_rejection(
        &self,
        contractor: &Person,
        request: Uuid,
        officer: &Person,
    ) -> (Value, Value) {
        let pool = &self.db.pool;
        let mut hold = pool.begin().await.expect("a transaction");
        sqlx::query("LOCK TABLE request_status_history IN SHARE MODE")
            .execute(&mut *hold)
            .await
            .expect("locking the request history");
        let accept_path = format!("/requests/{request}/accept");
        let accept = self.ok(contractor, &accept_path, json!({}));
        let reject = async {
            waiting_for_a_lock(pool, "INSERT INTO request_status_history").await;
            let path = format!("/contractors/{}/reject", contractor.id);
            self.ok(officer, &path, json!({"reason": "поддельные документы"}))
                .await
        };
        let release = async move {
            waiting_for_a_lock(pool, "FOR UPDATE").await;
            hold.commit().await.expect("releasing the accept");
        };
        let (accepted, rejected, ()) = tokio::join!(accept, reject, release);
        (accepted, rejected)
    }

    /// The Telegram messages to `who` that start with `start`, once there is one.
    async fn telegrams(&self, who: &Person, start: &str) -> Vec<String> {
        eventually(
            &format!("a Telegram message «{start}…» to {}", who.id),
            WAIT,
            || async {
                let texts = self.telegram.texts_to(who.chat).await;
                let matching: Vec<String> = texts
                    .iter()
                    .filter(|t| t.starts_with(start))
                    .cloned()
                    .collect();
                if matching.is_empty() {
                    Err(format!("{texts:?}"))
                } else {
                    Ok(matching)
                }
            },
        )
        .await
    }

    /// The e-mails (subject, body) to `who` with subject `subject` in moto's SES, once there is one.
    async fn mails(&self, who: &Person, subject: &str) -> Vec<(String, String)> {
        eventually(
            &format!("an e-mail «{subject}» to {}", who.email),
            WAIT,
            || async {
                let mails = mails_to(&who.email).await;
                let matching: Vec<(String, String)> =
                    mails.iter().filter(|m| m.0 == subject).cloned().collect();
                if matching.is_empty() {
                    Err(format!("{mails:?}"))
                } else {
                    Ok(matching)
                }
            },
        )
        .await
    }

    /// The notifications rows of `recipient` about `request` (none: about no request) whose
    /// template starts with `template`, once there are `count` and all are `sent`: (template,
    /// channel, address), by template.
    async fn sent_notifications(
        &self,
        recipient: &Person,
        request: Option<Uuid>,
        template: &str,
        count: usize,
    ) -> Vec<(String, String, String)> {
        eventually(
            &format!("{count} sent {template}* notifications of {}", recipient.id),
            WAIT,
            || async {
                let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT template, channel, address, state FROM notifications
                     WHERE recipient_id = $1 AND request_id IS NOT DISTINCT FROM $2
                       AND starts_with(template, $3)
                     ORDER BY template, created_at",
                )
                .bind(recipient.id)
                .bind(request)
                .bind(template)
                .fetch_all(&self.db.pool)
                .await
                .expect("reading notifications");
                if rows.len() == count && rows.iter().all(|r| r.3 == "sent") {
                    Ok(rows.into_iter().map(|(t, c, a, _)| (t, c, a)).collect())
                } else {
                    Err(format!("{rows:?}"))
                }
            },
        )
        .await
    }

    /// `GET /audit?{query}` as the admin, once ClickHouse holds `count` entries.
    async fn audit(&self, query: &str, count: usize) -> Vec<Value> {
        eventually(&format!("{count} audit entries {query}"), WAIT, || async {
            let (status, page) = self
                .stack
                .get(&self.admin, &format!("/audit?{query}"))
                .await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if status == 200 && items.len() >= count {
                Ok(items)
            } else {
                Err(format!("{status} {page}"))
            }
        })
        .await
    }

    /// (status, contractor) of the request in Postgres.
    async fn request_row(&self, id: Uuid) -> (String, Option<Uuid>) {
        sqlx::query_as("SELECT status, contractor_id FROM service_requests WHERE id = $1")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await
            .expect("the request's row")
    }

    /// The text of document `id`'s PDF, as `reader` downloads it from moto's S3 through GET
    /// /documents/{id}'s presigned link: the object the row names, of the row's size.
    async fn pdf(&self, reader: &Person, id: Uuid) -> String {
        let (bucket, key, size): (String, String, i64) =
            sqlx::query_as("SELECT s3_bucket, s3_key, size_bytes FROM documents WHERE id = $1")
                .bind(id)
                .fetch_one(&self.db.pool)
                .await
                .expect("the document's row");
        assert_eq!(bucket, required_env("DOCUMENTS_BUCKET"));
        let (status, view) = self
            .stack
            .get(&reader.token, &format!("/documents/{id}"))
            .await;
        assert_eq!(status, 200, "{view}");
        let link = view["download_url"].as_str().expect("a download link");
        assert!(
            link.starts_with(&format!(
                "{}/{bucket}/{key}?",
                required_env("AWS_ENDPOINT_URL")
            )),
            "{link}"
        );
        let response = reqwest::get(link).await.expect("the download link");
        assert_eq!(response.status(), 200, "{link}");
        let pdf = response.bytes().await.expect("the PDF");
        assert_eq!(pdf.len() as i64, size, "{key}");
        assert!(pdf.starts_with(b"%PDF-"), "{key} is a PDF");
        pdf_text(&pdf)
    }
}

/// Once a session of this database waits for a lock in a statement containing `statement`.
async fn waiting_for_a_lock(pool: &sqlx::PgPool, statement: &str) {
    eventually(
        &format!("a statement «{statement}» waiting for a lock"),
        WAIT,
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'
                   AND position($1 in query) > 0",
            )
            .bind(statement)
            .fetch_one(pool)
            .await
            .expect("reading pg_stat_activity");
            if waiting > 0 {
                Ok(())
            } else {
                Err("none yet".to_owned())
            }
        },
    )
    .await
}

fn types(events: &[Envelope]) -> Vec<&str> {
    events.iter().map(|e| e.meta.event_type.as_str()).collect()
}

/// The `count` envelopes `select` picks on `probe`'s topic, all of them within [`WAIT`].
async fn pick(
    probe: KafkaProbe,
    count: usize,
    select: impl Fn(&Envelope) -> bool + Send + 'static,
) -> Vec<Envelope> {
    let picked = probe.envelopes_where(count, WAIT, select).await;
    assert_eq!(picked.len(), count, "{picked:?}");
    picked
}

/// security-check's verdict on `request` (its audit.system_event on audit-events).
async fn security_check(audit: KafkaProbe, request: Uuid) -> (Envelope, SystemEvent) {
    let subject = request.to_string();
    let check = pick(
        audit,
        1,
        move |e| matches!(&e.data, DomainEvent::SystemEvent(s) if s.subject_id == subject),
    )
    .await
    .remove(0);
    let DomainEvent::SystemEvent(verdict) = check.data.clone() else {
        unreachable!("picked a system event")
    };
    (check, verdict)
}

/// A notifications row as [`World::sent_notifications`] returns it.
fn row(template: &str, channel: &str, address: impl ToString) -> (String, String, String) {
    (template.into(), channel.into(), address.to_string())
}

fn assert_contains_all(text: &str, expected: &[&str]) {
    for part in expected {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
}

/// Seed scenario 2. Мастер Иван (verified) accepts the fridge: the security check passes and
/// audits it, he is told by Telegram and the customer by e-mail, ClickHouse holds it all (GET
/// /audit). Мастер Пётр, offered the washer too, accepts it while security rejects him, the
/// rejection a moment after the accept's commit: security-check reverts the assignment (the
/// request is sent_to_contractors again, without a contractor), publishes
/// security.access_revoked naming the request, and he is told why in Russian; the manager learns the washer waits for a contractor again, and nobody was told of
/// Пётр's assignment: the customer's only assignment e-mail is Иван's, who takes the washer next.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_2_contractor_assigned_told_checked_audited_and_unverified_one_reverted() {
    let w = World::start().await;
    let Cast {
        manager,
        officer,
        customer,
        ivan,
    } = w.cast().await;
    let petr = w.contractor("Мастер Пётр").await;
    w.verify(&officer, &petr).await;
    let fridge = w.dispatched_request(&customer, &manager, FRIDGE).await;
    let washer = w.dispatched_request(&customer, &manager, WASHER).await;

    // The dispatch offered both requests to both verified contractors of the region: each is
    // told once, with what they need to decide and nothing of the customer's contacts.
    for contractor in [&ivan, &petr] {
        for request in [fridge, washer] {
            assert_eq!(
                w.sent_notifications(contractor, Some(request), "offer", 1)
                    .await,
                [row("offer.contractor", "telegram", contractor.chat)]
            );
        }
        let offers = w
            .telegrams(contractor, &format!("Новая заявка для вас: «{FRIDGE}»"))
            .await;
        assert_eq!(offers.len(), 1, "{offers:?}");
        assert_contains_all(
            &offers[0],
            &[
                "appliance-repair",
                REGION,
                "Бюджет: 5000.00 RUB",
                "Примите её",
            ],
        );
        assert!(
            !offers[0].contains("Ленина"),
            "no address before assignment: {offers:?}"
        );
    }

    // The customer hears that each request is with contractors (no contractor named).
    for title in [FRIDGE, WASHER] {
        let dispatched = w
            .mails(
                &customer,
                &format!("Заявка «{title}» передана исполнителям"),
            )
            .await;
        assert_eq!(dispatched.len(), 1, "{dispatched:?}");
    }

    let fridge_workflow = KafkaProbe::new("workflow-events");
    let washer_workflow = KafkaProbe::new("workflow-events");
    let fridge_audit = KafkaProbe::new("audit-events");
    let washer_audit = KafkaProbe::new("audit-events");
    let security = KafkaProbe::new("security-events");
    let notifications = KafkaProbe::new("notification-events");
    w.ok(&ivan, &format!("/requests/{fridge}/accept"), json!({}))
        .await;
    let (accepted, rejected) = w.accept_racing_a_rejection(&petr, washer, &officer).await;
    assert_eq!(accepted["status"], "contractor_assigned");
    assert_eq!(rejected["verification_status"], "rejected");

    // The fridge: assigned, checked, passed.
    let events = fridge_workflow
        .envelopes(&fridge.to_string(), 2, WAIT)
        .await;
    assert_eq!(
        types(&events),
        ["workflow.contractor_assigned", "workflow.status_changed"]
    );
    let DomainEvent::ContractorAssigned(assigned) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(
        (
            assigned.contractor_id,
            assigned.customer_id,
            assigned.manager_id
        ),
        (ivan.id, customer.id, manager.id)
    );
    assert_eq!(assigned.assigned_by.role, Some(Role::Contractor));
    let (check, verdict) = security_check(fridge_audit, fridge).await;
    assert_eq!(verdict.kind, "security_check.passed");
    assert_eq!(verdict.component, "security-check");
    assert_eq!(check.meta.causation_id, Some(events[0].meta.id));
    assert_eq!(
        w.request_row(fridge).await,
        ("contractor_assigned".into(), Some(ivan.id))
    );

    // Telegram to the contractor, e-mail to the customer, each once, with its notifications
    // row and its notification.*.sent event.
    let to_ivan = w
        .telegrams(&ivan, &format!("Вам назначена заявка «{FRIDGE}»"))
        .await;
    assert_eq!(to_ivan.len(), 1, "{to_ivan:?}");
    assert_contains_all(
        &to_ivan[0],
        &["Здравствуйте, Мастер Иван!", "Москва, appliance-repair"],
    );
    let to_customer = w
        .mails(
            &customer,
            &format!("По заявке «{FRIDGE}» назначен исполнитель"),
        )
        .await;
    assert_eq!(to_customer.len(), 1, "{to_customer:?}");
    assert!(to_customer[0].1.starts_with("Здравствуйте, Анна Иванова!"));
    assert_eq!(
        w.sent_notifications(&ivan, Some(fridge), "contractor_assigned", 1)
            .await,
        [row("contractor_assigned.contractor", "telegram", ivan.chat)]
    );
    assert_eq!(
        w.sent_notifications(&customer, Some(fridge), "contractor_assigned", 1)
            .await,
        [row(
            "contractor_assigned.customer",
            "email",
            &customer.email
        )]
    );
    let sent = pick(notifications, 2, move |e| match &e.data {
        // The offers of the dispatch went out by Telegram too.
        DomainEvent::TelegramSent(s) => {
            s.context.request_id == Some(fridge)
                && s.context.template == "contractor_assigned.contractor"
        }
        DomainEvent::EmailSent(s) => {
            s.context.request_id == Some(fridge)
                && s.context.template == "contractor_assigned.customer"
        }
        _ => false,
    })
    .await;
    let mut sent_to: Vec<String> = sent
        .iter()
        .map(|e| match &e.data {
            DomainEvent::TelegramSent(s) => format!("telegram {}", s.chat_id),
            DomainEvent::EmailSent(s) => format!("email {}", s.to_address),
            other => panic!("{other:?}"),
        })
        .collect();
    sent_to.sort();
    assert_eq!(
        sent_to,
        [
            format!("email {}", customer.email),
            format!("telegram {}", ivan.chat)
        ]
    );

    // The manager hears that Иван took the fridge; Пётр, offered it too, that it is gone.
    let accepted = w
        .mails(&manager, &format!("Исполнитель взял заявку «{FRIDGE}»"))
        .await;
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    let taken = w
        .telegrams(&petr, &format!("Заявка «{FRIDGE}» уже взята"))
        .await;
    assert_eq!(taken.len(), 1, "{taken:?}");

    // The audit holds it: the assignment and the passed check, in ClickHouse through GET /audit.
    let stored = w
        .audit(
            &format!("request_id={fridge}&type=workflow.contractor_assigned"),
            1,
        )
        .await;
    assert_eq!(stored[0]["event_id"], events[0].meta.id.to_string());
    assert_eq!(stored[0]["actor"]["user_id"], ivan.id.to_string());
    let stored = w
        .audit(&format!("request_id={fridge}&type=audit.system_event"), 1)
        .await;
    assert_eq!(stored[0]["event"]["data"]["kind"], "security_check.passed");

    // The washer: Пётр was rejected right after his accept, so the check reverts it.
    let revoked = pick(
        security,
        1,
        move |e| matches!(&e.data, DomainEvent::AccessRevoked(r) if r.request_id == Some(washer)),
    )
    .await;
    let DomainEvent::AccessRevoked(revocation) = &revoked[0].data else {
        panic!("{revoked:?}")
    };
    assert_eq!(revocation.contractor_id, petr.id);
    assert_eq!(
        revocation.revoked_by.service.as_deref(),
        Some("security-check")
    );
    assert_eq!(
        revocation.reason,
        "the contractor is not verified (rejected)"
    );
    assert_eq!(
        revocation.reason_code.as_deref(),
        Some("verification_rejected")
    );
    let events = washer_workflow
        .envelopes(&washer.to_string(), 3, WAIT)
        .await;
    assert_eq!(
        types(&events),
        [
            "workflow.contractor_assigned",
            "workflow.status_changed",
            "workflow.status_changed"
        ]
    );
    let DomainEvent::StatusChanged(reverted) = &events[2].data else {
        panic!("{events:?}")
    };
    assert_eq!(
        (reverted.from, reverted.to),
        (
            Some(RequestStatus::ContractorAssigned),
            RequestStatus::SentToContractors
        )
    );
    assert_eq!(reverted.reason.as_deref(), Some(revocation.reason.as_str()));
    assert_eq!(
        w.request_row(washer).await,
        ("sent_to_contractors".into(), None)
    );
    let (status, view) = w
        .stack
        .get(&manager.token, &format!("/requests/{washer}"))
        .await;
    assert_eq!(
        (status, &view["status"], &view["contractor_id"]),
        (200, &json!("sent_to_contractors"), &Value::Null)
    );
    let history: String = sqlx::query_scalar(
        "SELECT reason FROM request_status_history WHERE request_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(washer)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(history, revocation.reason);
    let (check, verdict) = security_check(washer_audit, washer).await;
    assert_eq!(verdict.kind, "security_check.failed");
    assert_eq!(check.meta.causation_id, revoked[0].meta.causation_id);
    let stored = w
        .audit(
            &format!("request_id={washer}&type=security.access_revoked"),
            1,
        )
        .await;
    assert_eq!(stored[0]["event_id"], revoked[0].meta.id.to_string());
    let to_petr = w.telegrams(&petr, "Ваш доступ к заявкам отозван").await;
    assert_eq!(to_petr.len(), 1, "{to_petr:?}");
    // The reason in his language, not the event's English.
    assert_contains_all(
        &to_petr[0],
        &[
            &format!("«{WASHER}»"),
            "Причина: профиль исполнителя не прошёл проверку службы безопасности",
        ],
    );
    assert!(!to_petr[0].contains(&revocation.reason), "{to_petr:?}");

    // The manager learns that the washer waits for a contractor again (in Russian too).
    let to_manager = w
        .mails(&manager, &format!("Исполнитель снят с заявки «{WASHER}»"))
        .await;
    assert_eq!(to_manager.len(), 1, "{to_manager:?}");
    assert_contains_all(
        &to_manager[0].1,
        &[
            "Причина: профиль исполнителя не прошёл проверку службы безопасности",
            "Заявка снова ждёт исполнителя.",
        ],
    );
    assert_eq!(
        w.sent_notifications(&manager, Some(washer), "access_revoked", 1)
            .await,
        [row("access_revoked.manager", "email", &manager.email)]
    );

    // Пётр's offers went with the rejection: the washer, waiting again, is not his to take.
    let (status, answer) = w
        .stack
        .post(
            &petr.token,
            &format!("/requests/{washer}/accept"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404, "{answer}");

    // Иван takes the washer now. notify handles a request's events in order, so once his
    // assignment is announced Пётр's has been handled: it was announced to nobody.
    w.ok(&ivan, &format!("/requests/{washer}/accept"), json!({}))
        .await;
    let to_customer = w
        .mails(
            &customer,
            &format!("По заявке «{WASHER}» назначен исполнитель"),
        )
        .await;
    assert_eq!(
        to_customer.len(),
        1,
        "Иван's assignment only: {to_customer:?}"
    );
    w.telegrams(&ivan, &format!("Вам назначена заявка «{WASHER}»"))
        .await;
    assert_eq!(
        w.sent_notifications(&customer, Some(washer), "contractor_assigned", 1)
            .await,
        [row(
            "contractor_assigned.customer",
            "email",
            &customer.email
        )]
    );
    let to_petr = w.telegram.texts_to(petr.chat).await;
    assert!(
        !to_petr
            .iter()
            .any(|t| t.starts_with("Вам назначена заявка")),
        "{to_petr:?}"
    );

    w.stop().await;
}

/// Seed scenario 3. Мастер Иван completes the fridge: the act of completed work and the payment
/// order are generated (hr.document_created, rows, PDFs in S3 with the Cyrillic text), the
/// customer is told and the manager gets the report by e-mail. The customer and the contractor
/// sign the act: hr.payment_processed, the payment row and GET /payments, and the contractor is
/// told by Telegram.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_3_completed_work_gives_act_and_payment_order_and_both_signatures_the_payment() {
    let w = World::start().await;
    let cast = w.cast().await;
    let (manager, customer, ivan) = (cast.manager, cast.customer, cast.ivan);
    let fridge = w.dispatched_request(&customer, &manager, FRIDGE).await;
    w.ok(&ivan, &format!("/requests/{fridge}/accept"), json!({}))
        .await;
    w.ok(&ivan, &format!("/requests/{fridge}/start"), json!({}))
        .await;
    let started = w
        .mails(&customer, &format!("Работы по заявке «{FRIDGE}» начаты"))
        .await;
    assert_eq!(started.len(), 1, "{started:?}");

    let workflow = KafkaProbe::new("workflow-events");
    let hr = KafkaProbe::new("hr-events");
    let price = json!({"amount_minor": 450000, "currency": "RUB"});
    let completed = w
        .ok(
            &ivan,
            &format!("/requests/{fridge}/complete"),
            json!({"completion_report": REPORT, "final_price": price}),
        )
        .await;
    assert_eq!(completed["status"], "completed");

    let events = workflow.envelopes(&fridge.to_string(), 2, WAIT).await;
    assert_eq!(
        types(&events),
        ["workflow.work_completed", "workflow.status_changed"]
    );
    let DomainEvent::WorkCompleted(done) = &events[0].data else {
        panic!("{events:?}")
    };
    assert_eq!(
        (done.contractor_id, done.final_price.amount_minor),
        (ivan.id, 450000)
    );

    // The act and the payment order: events, rows, files.
    let mut created = pick(
        hr,
        2,
        move |e| matches!(&e.data, DomainEvent::DocumentCreated(d) if d.request_id == Some(fridge)),
    )
    .await;
    created.sort_by_key(|e| e.meta.subject.clone());
    let documents: Vec<(Uuid, String, String, String, i64, String)> = sqlx::query_as(
        "SELECT id, kind, s3_bucket, s3_key, amount_minor, currency FROM documents
         WHERE request_id = $1 ORDER BY kind",
    )
    .bind(fridge)
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    let kinds: Vec<&str> = documents.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(kinds, ["completion_act", "payment_order"]);
    for (id, _, bucket, key, amount, currency) in &documents {
        let event = created
            .iter()
            .find_map(|e| match &e.data {
                DomainEvent::DocumentCreated(d) if d.document_id == *id => Some(d),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no hr.document_created for {id}: {created:?}"));
        assert_eq!((&event.file.bucket, &event.file.key), (bucket, key));
        assert_eq!(
            (event.customer_id, event.contractor_id),
            (Some(customer.id), ivan.id)
        );
        assert_eq!((*amount, currency.as_str()), (450000, "RUB"));
    }
    let (act, order) = (documents[0].0, documents[1].0);
    assert_contains_all(
        &w.pdf(&customer, act).await,
        &[
            "Акт выполненных работ",
            "Заказчик: Анна Иванова",
            "Исполнитель: Мастер Иван",
            &format!("Заявка: {FRIDGE}"),
            REPORT,
            "Итого: 4 500,00 RUB",
        ],
    );
    assert_contains_all(
        &w.pdf(&ivan, order).await,
        &[
            "Платёжное поручение",
            "Плательщик: Анна Иванова",
            "Получатель: Мастер Иван",
            "Сумма: 4 500,00 RUB",
        ],
    );

    // The customer is told, the manager gets the report.
    let to_customer = w
        .mails(&customer, &format!("Работы по заявке «{FRIDGE}» завершены"))
        .await;
    assert_eq!(to_customer.len(), 1, "{to_customer:?}");
    assert!(to_customer[0].1.contains("4500.00 RUB"), "{to_customer:?}");
    let to_manager = w
        .mails(&manager, &format!("Отчёт: заявка «{FRIDGE}» выполнена"))
        .await;
    assert_eq!(to_manager.len(), 1, "{to_manager:?}");
    assert_contains_all(&to_manager[0].1, &[REPORT, "4500.00 RUB"]);
    assert_eq!(
        w.sent_notifications(&customer, Some(fridge), "work_completed", 1)
            .await,
        [row("work_completed.customer", "email", &customer.email)]
    );
    assert_eq!(
        w.sent_notifications(&manager, Some(fridge), "work_completed", 1)
            .await,
        [row("work_completed.manager", "email", &manager.email)]
    );
    w.mails(&customer, "Новый документ: акт выполненных работ")
        .await;

    // Both parties sign the act; the second signature makes the payment.
    let hr = KafkaProbe::new("hr-events");
    let sign = format!("/documents/{act}/sign");
    let first = w.ok(&customer, &sign, json!({})).await;
    assert_eq!(first["fully_signed"], false);
    let second = w.ok(&ivan, &sign, json!({})).await;
    assert_eq!(second["fully_signed"], true);
    let events = hr.envelopes(&act.to_string(), 3, WAIT).await;
    assert_eq!(
        types(&events),
        [
            "hr.document_signed",
            "hr.document_signed",
            "hr.payment_processed"
        ]
    );
    let DomainEvent::PaymentProcessed(paid) = &events[2].data else {
        panic!("{events:?}")
    };
    assert_eq!(
        (
            paid.document_id,
            paid.request_id,
            paid.contractor_id,
            paid.amount.amount_minor
        ),
        (act, fridge, ivan.id, 450000)
    );
    let payment: (Uuid, Uuid, Uuid, i64, String) = sqlx::query_as(
        "SELECT id, customer_id, contractor_id, amount_minor, currency FROM payments WHERE document_id = $1",
    )
    .bind(act)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(
        payment,
        (paid.payment_id, customer.id, ivan.id, 450000, "RUB".into())
    );
    for party in [&customer, &ivan] {
        let (status, payments) = w.stack.get(&party.token, "/payments").await;
        assert_eq!(status, 200, "{payments}");
        let items = payments["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{payments}");
        assert_eq!(items[0]["id"], paid.payment_id.to_string());
        assert_eq!(items[0]["amount"], price);
    }
    let to_ivan = w
        .telegrams(&ivan, &format!("Оплата по заявке «{FRIDGE}» проведена"))
        .await;
    assert_eq!(to_ivan.len(), 1, "{to_ivan:?}");
    assert!(to_ivan[0].contains("4500.00 RUB"), "{to_ivan:?}");
    w.mails(&customer, "Документ подписан: акт выполненных работ")
        .await;

    w.stop().await;
}

/// Seed scenario 4. Security verifies Мастер Иван: security.contractor_verified, the contract
/// (hr.contract_generated, its row, its PDF in S3 with the Cyrillic text), and he is told both
/// by Telegram.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_4_a_verified_contractor_gets_a_contract_and_is_told() {
    let w = World::start().await;
    let officer = w.staff("security", "Офицер Сергей").await;
    let ivan = w.contractor("Мастер Иван").await;

    let security = KafkaProbe::new("security-events");
    let hr = KafkaProbe::new("hr-events");
    let notifications = KafkaProbe::new("notification-events");
    w.verify(&officer, &ivan).await;

    let verified = security.envelopes(&ivan.id.to_string(), 1, WAIT).await;
    let DomainEvent::ContractorVerified(decision) = &verified[0].data else {
        panic!("{verified:?}")
    };
    assert_eq!(decision.verified_by, officer.id);
    assert_eq!(
        (decision.regions.as_slice(), decision.categories.as_slice()),
        (&[REGION.to_owned()][..], &[CATEGORY.to_owned()][..])
    );
    let contractor = ivan.id;
    let generated = pick(hr, 1, move |e| {
            matches!(&e.data, DomainEvent::ContractGenerated(c) if c.contractor_id == contractor)
        })
        .await;
    let DomainEvent::ContractGenerated(contract) = &generated[0].data else {
        panic!("{generated:?}")
    };
    assert_eq!(generated[0].meta.causation_id, Some(verified[0].meta.id));
    let (id, key): (Uuid, String) = sqlx::query_as(
        "SELECT id, s3_key FROM documents WHERE contractor_id = $1 AND kind = 'contract'",
    )
    .bind(ivan.id)
    .fetch_one(&w.db.pool)
    .await
    .unwrap();
    assert_eq!((id, &key), (contract.document_id, &contract.file.key));
    let status: String = sqlx::query_scalar("SELECT verification_status FROM users WHERE id = $1")
        .bind(ivan.id)
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(status, "verified");
    assert_contains_all(
        &w.pdf(&ivan, id).await,
        &[
            "Договор оказания услуг",
            "Исполнитель: Мастер Иван",
            "Регионы работы: Москва",
            "Виды работ: appliance-repair",
        ],
    );
    let (status, listed) = w.stack.get(&ivan.token, "/documents").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["id"], id.to_string(), "{listed}");

    // Told twice by Telegram: verified, and the contract.
    let verified_text = w
        .telegrams(&ivan, "Ваш профиль исполнителя подтверждён")
        .await;
    assert_eq!(verified_text.len(), 1, "{verified_text:?}");
    let contract_text = w.telegrams(&ivan, "Ваш договор готов").await;
    assert_eq!(contract_text.len(), 1, "{contract_text:?}");
    assert_eq!(
        w.sent_notifications(&ivan, None, "contract", 2).await,
        [
            row("contract_generated.contractor", "telegram", ivan.chat),
            row("contractor_verified.contractor", "telegram", ivan.chat)
        ]
    );
    let mut templates: Vec<String> = pick(notifications, 2, move |e| {
            matches!(&e.data, DomainEvent::TelegramSent(s) if s.context.recipient_user_id == contractor)
        })
        .await
        .into_iter()
        .map(|e| match e.data {
            DomainEvent::TelegramSent(s) => s.context.template,
            other => panic!("{other:?}"),
        })
        .collect();
    templates.sort();
    assert_eq!(
        templates,
        [
            "contract_generated.contractor",
            "contractor_verified.contractor"
        ]
    );

    w.stop().await;
}

/// Every party hears of the steps that concern them (issue 15): the manager of the customer's
/// answer to a question, the customer of the dispatch, and, when the customer cancels a request
/// offered to two contractors, the manager and both contractors (not the customer, who did it).
#[tokio::test(flavor = "multi_thread")]
async fn scenario_5_an_answer_and_a_cancellation_reach_the_manager_and_the_offered_contractors() {
    let w = World::start().await;
    let Cast {
        manager,
        officer,
        customer,
        ivan,
    } = w.cast().await;
    let petr = w.contractor("Мастер Пётр").await;
    w.verify(&officer, &petr).await;
    let (id, _) = w.filed_request(&customer, FRIDGE).await;

    // A question, and the customer's answer: the manager gets the answer by e-mail.
    w.ok(
        &manager,
        &format!("/requests/{id}/clarification"),
        json!({"question": "Какая модель холодильника?"}),
    )
    .await;
    w.mails(&customer, &format!("Уточните заявку «{FRIDGE}»"))
        .await;
    let answered = w
        .stack
        .http
        .patch(w.stack.url(&format!("/requests/{id}")))
        .header("authorization", &customer.token)
        .json(&json!({"clarification_answer": "Bosch KGN39"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let answer = w
        .mails(&manager, &format!("Клиент ответил по заявке «{FRIDGE}»"))
        .await;
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(answer[0].1.contains("Bosch KGN39"), "{answer:?}");

    // Dispatched to both contractors; the customer cancels.
    let dispatched = w
        .ok(&manager, &format!("/requests/{id}/dispatch"), json!({}))
        .await;
    assert_eq!(dispatched["status"], "sent_to_contractors");
    w.mails(
        &customer,
        &format!("Заявка «{FRIDGE}» передана исполнителям"),
    )
    .await;
    for contractor in [&ivan, &petr] {
        w.telegrams(contractor, &format!("Новая заявка для вас: «{FRIDGE}»"))
            .await;
    }
    let cancelled = w
        .ok(
            &customer,
            &format!("/requests/{id}/cancel"),
            json!({"reason": "Починил сам"}),
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    let to_manager = w
        .mails(&manager, &format!("Заявка «{FRIDGE}» отменена"))
        .await;
    assert_eq!(to_manager.len(), 1, "{to_manager:?}");
    assert!(to_manager[0].1.contains("Починил сам"), "{to_manager:?}");
    for contractor in [&ivan, &petr] {
        let told = w
            .telegrams(contractor, &format!("Заявка «{FRIDGE}» отменена"))
            .await;
        assert_eq!(told.len(), 1, "{told:?}");
    }
    // The customer, who cancelled, is not told; every message went out once.
    let request: Uuid = id.parse().unwrap();
    assert!(
        w.sent_notifications(&customer, Some(request), "request_cancelled", 0)
            .await
            .is_empty()
    );
    assert_eq!(
        w.sent_notifications(&manager, Some(request), "request_cancelled", 1)
            .await,
        [row("request_cancelled.manager", "email", &manager.email)]
    );
    w.stop().await;
}

/// The business at a glance (issue 15 goal 4): what the scenarios produce, counted by ClickHouse
/// over the audit events through GET /analytics/requests, for the admin and the region's manager.
#[tokio::test(flavor = "multi_thread")]
async fn scenario_6_analytics_count_what_happened_to_the_requests() {
    // Every world's audit sink stores what any world publishes: a region of its own keeps the
    // other scenarios' requests, filed meanwhile, out of these counts.
    let region = format!("{REGION}-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let w = World::start_in(&region).await;
    let Cast {
        manager,
        customer,
        ivan,
        ..
    } = w.cast().await;
    // Completed, cancelled, and waiting with its manager.
    let done = w.dispatched_request(&customer, &manager, FRIDGE).await;
    w.ok(&ivan, &format!("/requests/{done}/accept"), json!({}))
        .await;
    w.ok(&ivan, &format!("/requests/{done}/start"), json!({}))
        .await;
    let price = json!({"amount_minor": 450000, "currency": "RUB"});
    w.ok(
        &ivan,
        &format!("/requests/{done}/complete"),
        json!({"completion_report": REPORT, "final_price": price}),
    )
    .await;
    let mut ids = Vec::new();
    for title in [WASHER, "Не работает духовка"] {
        ids.push(w.filed_request(&customer, title).await.0);
    }
    w.ok(
        &customer,
        &format!("/requests/{}/cancel", ids[0]),
        json!({"reason": "Починил сам"}),
    )
    .await;
    // Once the audit store has the last step of each.
    w.audit(
        &format!("request_id={done}&type=workflow.work_completed"),
        1,
    )
    .await;
    w.audit(&format!("request_id={}&type=request.cancelled", ids[0]), 1)
        .await;
    w.audit(
        &format!("request_id={}&type=workflow.manager_assigned", ids[1]),
        1,
    )
    .await;

    let path = format!("/analytics/requests?region={}", urlencode(&w.region));
    let (status, figures) = w.stack.get(&w.admin, &path).await;
    assert_eq!(status, 200, "{figures}");
    assert_eq!(figures["requests"], 3, "{figures}");
    assert_eq!(
        figures["by_status"],
        json!({"cancelled": 1, "completed": 1, "manager_assigned": 1}),
        "{figures}"
    );
    let mut by_region = serde_json::Map::new();
    by_region.insert(w.region.clone(), json!(3));
    assert_eq!(figures["by_region"], Value::Object(by_region));
    assert_eq!(figures["by_category"], json!({"appliance-repair": 3}));
    let days: u64 = figures["by_day"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(days, 3, "{figures}");
    assert_eq!(figures["time_to_manager_assignment"]["count"], 3);
    assert_eq!(figures["time_to_contractor_assignment"]["count"], 1);
    assert_eq!(figures["time_to_completion"]["count"], 1);
    let median = |step: &str| figures[step]["median_seconds"].as_f64().unwrap();
    assert!(median("time_to_manager_assignment") > 0.0, "{figures}");
    assert!(
        median("time_to_completion") >= median("time_to_contractor_assignment"),
        "{figures}"
    );
    assert_eq!(figures["cancellation_rate"], 0.3333);
    assert!(
        figures["notifications"]["email"]["sent"].as_u64().unwrap() >= 1,
        "{figures}"
    );
    // The region's manager sees the same; another region is not theirs; a customer sees none.
    let (status, theirs) = w.stack.get(&manager.token, "/analytics/requests").await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["requests"], 3);
    assert_eq!(theirs["regions"], json!([w.region]));
    let (status, _) = w
        .stack
        .get(&manager.token, "/analytics/requests?region=Tver")
        .await;
    assert_eq!(status, 403);
    let (status, _) = w.stack.get(&customer.token, "/analytics/requests").await;
    assert_eq!(status, 403);
    // A period before any of it: nothing.
    let (from, to) = (
        chrono::Utc::now() - chrono::Duration::days(300),
        chrono::Utc::now() - chrono::Duration::days(200),
    );
    let (status, empty) = w
        .stack
        .get(
            &w.admin,
            &format!(
                "/analytics/requests?from={}&to={}",
                from.format("%Y-%m-%dT%H:%M:%SZ"),
                to.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        )
        .await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["requests"], 0);
    assert_eq!(empty["time_to_completion"]["median_seconds"], Value::Null);
    w.stop().await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
