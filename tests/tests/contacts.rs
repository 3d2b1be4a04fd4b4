//! Contact verification (issue 14, goal 4), end to end through the local runner on the real
//! template: registration claims an e-mail, phone and Telegram chat; notify sends each nothing but
//! a code (moto's SES and SNS, a fake Bot API) until its owner types the code back; the codes are
//! paced per contact, capped per address across accounts, die after five wrong tries under
//! concurrent guessing, are never stored, and a forged code event sends nothing.

use futures::future::join_all;
use serde_json::{Value, json};
use servicehub_events::Envelope;
use servicehub_events::catalog::ContactVerificationRequested;
use servicehub_events::values::NotificationChannel;
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use servicehub_tests::moto::{codes_mailed_to, codes_texted_to, is_code_subject, mails_to, sms_to};
use servicehub_tests::stack::Stack;
use servicehub_tests::telegram::{FakeTelegram, chat_id, rand_digits};
use servicehub_tests::{TestDatabase, eventually, new_request};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

struct World {
    db: TestDatabase,
    stack: Stack,
    telegram: FakeTelegram,
    region: String,
}

impl World {
    async fn start() -> World {
        let db = TestDatabase::new().await;
        let telegram = FakeTelegram::start().await;
        let secret = telegram.token_secret().await;
        let stack = Stack::start_with_parameters(
            &db.url,
            &[("LOCAL_RUNNER_LOG", "warn")],
            &[
                ("TelegramApiBaseUrl", &telegram.base_url),
                ("TelegramBotTokenSecretName", &secret),
            ],
        )
        .await;
        let admin = stack.admin().await;
        let region = format!("contacts-{}", stack.id);
        stack.create_manager(&admin, &[&region]).await;
        World {
            db,
            stack,
            telegram,
            region,
        }
    }

    async fn stop(self) {
        assert!(self.stack.runner.stop().await.success());
    }

    /// The notifications row of `template` to `recipient`, once it is settled (sent or failed):
    /// (state, channel, last_error).
    async fn settled(&self, recipient: &str, template: &str) -> Vec<(String, String, String)> {
        let recipient: Uuid = recipient.parse().expect("a UUID");
        eventually(
            &format!("{template} to {recipient} settled"),
            WAIT,
            || async {
                let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT state, channel, last_error FROM notifications
                     WHERE recipient_id = $1 AND template = $2 ORDER BY created_at",
                )
                .bind(recipient)
                .bind(template)
                .fetch_all(&self.db.pool)
                .await
                .map_err(|e| e.to_string())?;
                if rows.is_empty() || rows.iter().any(|r| r.0 == "sending" || r.0 == "retrying") {
                    return Err(format!("{rows:?}"));
                }
                Ok(rows
                    .into_iter()
                    .map(|(state, channel, error)| (state, channel, error.unwrap_or_default()))
                    .collect())
            },
        )
        .await
    }

    /// The customer files a request in the world's region and waits for its manager.
    async fn file_request(&self, token: &str) -> String {
        let (status, created) = self
            .stack
            .post(token, "/requests", &new_request(&self.region))
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id").to_owned();
        self.stack
            .wait_for_status(token, &id, "manager_assigned")
            .await;
        id
    }
}

fn phone() -> String {
    format!("+7999{}", rand_digits(7))
}

async fn one_code(what: &str, fetch: impl AsyncFn() -> Vec<String>) -> String {
    eventually(what, WAIT, || async {
        let codes = fetch().await;
        match codes.as_slice() {
            [code] => Ok(code.clone()),
            _ => Err(format!("{codes:?}")),
        }
    })
    .await
}

async fn verify(stack: &Stack, token: &str, channel: &str, code: &str) -> (u16, Value) {
    stack
        .post(
            token,
            "/me/contact-verifications",
            &json!({"channel": channel, "code": code}),
        )
        .await
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().expect("six digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claimed_contact_gets_nothing_but_its_code_until_it_is_proved() {
    let w = World::start().await;
    let (phone, chat) = (phone(), chat_id());
    let (user, token) = w
        .stack
        .register(json!({
            "role": "customer",
            "display_name": "Вера <script>",
            "phone": phone,
            "notifications": {"channels": ["sms", "telegram", "email"], "telegram_chat_id": chat},
        }))
        .await;
    let user_id = user["id"].as_str().expect("id").to_owned();
    let email = user["email"].as_str().expect("email").to_owned();
    assert_eq!(user["verified_channels"], json!([]), "{user}");

    // One code on each claimed contact, with no text the registrant chose (the display name).
    let mail_code = one_code("the e-mail's code", || codes_mailed_to(&email)).await;
    let sms_code = one_code("the phone's code", || codes_texted_to(&phone)).await;
    let chat_code = one_code("the chat's code", || async {
        let texts = w.telegram.texts_to(chat).await;
        texts
            .iter()
            .filter_map(|t| servicehub_tests::moto::code_in(t))
            .collect()
    })
    .await;
    for text in mails_to(&email)
        .await
        .into_iter()
        .map(|m| m.1)
        .chain(sms_to(&phone).await)
        .chain(w.telegram.texts_to(chat).await)
    {
        assert!(!text.contains("Вера") && !text.contains("script"), "{text}");
    }
    // Nothing keeps a code: the message's text is not stored, only a hash bound to the contact.
    let kept: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT subject, body FROM notifications WHERE recipient_id = $1::uuid AND template = 'contact_code'",
    )
    .bind(&user_id)
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(kept, vec![(None, None); 3]);
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT code_hash FROM contact_verifications WHERE user_id = $1::uuid ORDER BY channel",
    )
    .bind(&user_id)
    .fetch_all(&w.db.pool)
    .await
    .unwrap();
    assert_eq!(hashes.len(), 3);
    for hash in &hashes {
        assert_eq!(hash.len(), 32);
        for code in [&mail_code, &sms_code, &chat_code] {
            assert!(!hash.windows(6).any(|w| w == code.as_bytes()));
        }
    }

    // Unproved, the customer is told nothing about their request: notify records why.
    let first = w.file_request(&token).await;
    let rows = w.settled(&user_id, "request_created.customer").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "failed");
    assert!(rows[0].2.contains("proved"), "{rows:?}");
    assert_eq!(codes_mailed_to(&email).await.len(), 1);
    assert_eq!(
        mails_to(&email).await.len(),
        1,
        "only the code reached the e-mail"
    );
    assert_eq!(
        sms_to(&phone).await.len(),
        1,
        "only the code reached the phone"
    );

    // A wrong code counts; asking again within the minute is refused with Retry-After.
    let (status, problem) = verify(&w.stack, &token, "email", &wrong(&mail_code)).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["code"], "wrong_code", "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("4 more"),
        "{problem}"
    );
    let response = w
        .stack
        .http
        .post(w.stack.url("/me/contact-codes"))
        .header("authorization", &token)
        .json(&json!({"channel": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // A code belongs to its contact: the phone's code does not prove the e-mail.
    if sms_code != mail_code {
        let (status, _) = verify(&w.stack, &token, "email", &sms_code).await;
        assert_eq!(status, 422);
    }

    // The right code proves the e-mail (once); the confirmation of the next request arrives.
    let proved = w.stack.prove(&token, "email", &mail_code).await;
    assert_eq!(proved["verified_channels"], json!(["email"]));
    let (status, problem) = verify(&w.stack, &token, "email", &mail_code).await;
    assert_eq!(status, 409, "{problem}");
    let (status, problem) = w
        .stack
        .post(&token, "/me/contact-codes", &json!({"channel": "email"}))
        .await;
    assert_eq!(status, 409, "{problem}");
    let second = w.file_request(&token).await;
    assert_ne!(first, second);
    let notices = eventually("the confirmation e-mail", WAIT, || async {
        let notices: Vec<_> = mails_to(&email)
            .await
            .into_iter()
            .filter(|(subject, _)| !is_code_subject(subject))
            .collect();
        if notices.is_empty() {
            Err("none yet".to_owned())
        } else {
            Ok(notices)
        }
    })
    .await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    // The first request's failure, and the second's e-mail: SMS and Telegram are unproved.
    let rows = w.settled(&user_id, "request_created.customer").await;
    let states: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    assert_eq!(states, [("failed", "email"), ("sent", "email")], "{rows:?}");
    assert_eq!(sms_to(&phone).await.len(), 1, "the phone is still unproved");

    // The phone and the chat proved too: the next request reaches every preferred channel.
    w.stack.prove(&token, "sms", &sms_code).await;
    let me = w.stack.prove(&token, "telegram", &chat_code).await;
    assert_eq!(me["verified_channels"], json!(["email", "sms", "telegram"]));
    w.file_request(&token).await;
    eventually(
        "the confirmation SMS and Telegram message",
        WAIT,
        || async {
            let (texts, chats) = (sms_to(&phone).await, w.telegram.texts_to(chat).await);
            if texts.len() == 2 && chats.len() == 2 {
                Ok(())
            } else {
                Err(format!("{texts:?} {chats:?}"))
            }
        },
    )
    .await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_concurrent_guesses_get_five_tries_then_the_code_is_dead() {
    let w = World::start().await;
    let (user, token) = w
        .stack
        .register(json!({"role": "customer", "display_name": "Гость"}))
        .await;
    let email = user["email"].as_str().expect("email").to_owned();
    let code = one_code("the e-mail's code", || codes_mailed_to(&email)).await;
    let guesses = (0..20).map(|i| {
        let guess = format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
        let (stack, token) = (&w.stack, token.clone());
        async move { verify(stack, &token, "email", &guess).await }
    });
    let answers = join_all(guesses).await;
    let wrong = answers.iter().filter(|(s, _)| *s == 422).count();
    let locked = answers.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(
        (wrong, locked),
        (5, 15),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    // Dead even for the right code; a new code is needed.
    let (status, problem) = verify(&w.stack, &token, "email", &code).await;
    assert_eq!(status, 429, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("new one"));
    let (status, me) = w.stack.get(&token, "/me").await;
    assert_eq!((status, me["verified_channels"].clone()), (200, json!([])));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_phone_gets_at_most_five_codes_an_hour_however_many_accounts_claim_it() {
    let w = World::start().await;
    let phone = phone();
    // Seven registrations at once, each claiming the same phone.
    let registrations = (0..7).map(|i| {
        let (stack, phone) = (&w.stack, phone.clone());
        async move {
            stack
                .register(json!({
                    "role": "customer",
                    "display_name": format!("Клиент {i}"),
                    "phone": phone,
                    "notifications": {"channels": ["sms"]},
                }))
                .await
        }
    });
    let accounts = join_all(registrations).await;
    // Each e-mail got its code; the phone got five, never more.
    for (user, _) in &accounts {
        let email = user["email"].as_str().expect("email").to_owned();
        one_code("an e-mail code", || codes_mailed_to(&email)).await;
    }
    eventually("five codes on the phone", WAIT, || async {
        let codes = codes_texted_to(&phone).await;
        if codes.len() == 5 {
            Ok(())
        } else {
            Err(format!("{codes:?}"))
        }
    })
    .await;
    // Asking for more is refused until the oldest of the hour's codes is an hour old.
    for (_, token) in &accounts {
        let (status, problem) = w
            .stack
            .post(token, "/me/contact-codes", &json!({"channel": "sms"}))
            .await;
        assert_eq!(status, 429, "{problem}");
        let retry_after = problem["retry_after"].as_i64().unwrap();
        assert!((60..=3600).contains(&retry_after), "{problem}");
    }
    // Let late deliveries show: still five.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(codes_texted_to(&phone).await.len(), 5);
    // An account with no phone has nothing to prove there.
    let token = w.stack.customer().await;
    let (status, problem) = w
        .stack
        .post(&token, "/me/contact-codes", &json!({"channel": "sms"}))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        problem["detail"],
        "the account has no phone number to verify"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_code_event_sends_nothing() {
    let w = World::start().await;
    let phone = phone();
    let (user, _token) = w
        .stack
        .register(json!({
            "role": "customer",
            "display_name": "Жертва",
            "phone": phone,
            "notifications": {"channels": ["sms"]},
        }))
        .await;
    let user_id: Uuid = user["id"].as_str().expect("id").parse().unwrap();
    one_code("the phone's code", || codes_texted_to(&phone)).await;
    // Anyone who can produce to security-events asks notify for more codes to that phone.
    let producer = EventProducer::new(
        &Config::without_database_from_env("contacts-tests").expect("the Kafka settings"),
    )
    .unwrap();
    let mut forged = Vec::new();
    for _ in 0..3 {
        let event = Envelope::new(
            "forger",
            ContactVerificationRequested {
                user_id,
                channel: NotificationChannel::Sms,
                requested_at: chrono::Utc::now(),
            },
        );
        producer.send(&event.to_kafka()).await.unwrap();
        forged.push(event.meta.id);
    }
    for id in forged {
        let error: String = eventually("the forged event refused", WAIT, || async {
            sqlx::query_scalar(
                "SELECT last_error FROM notifications WHERE cause_event_id = $1 AND state = 'failed'",
            )
            .bind(id)
            .fetch_optional(&w.db.pool)
            .await
            .map_err(|e| e.to_string())?
            .flatten()
            .ok_or_else(|| "not yet".to_owned())
        })
        .await;
        assert!(error.contains("no code request matches"), "{error}");
    }
    assert_eq!(sms_to(&phone).await.len(), 1, "only the genuine code");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notification_settings_change_channels_language_quiet_hours_and_contacts() {
    let w = World::start().await;
    let (user, token) = w
        .stack
        .register_verified(json!({"role": "customer", "display_name": "Олег"}))
        .await;
    let user_id = user["id"].as_str().expect("id").to_owned();
    let email = user["email"].as_str().expect("email").to_owned();
    let settings = |body: Value| {
        let (stack, token) = (&w.stack, token.clone());
        async move {
            let response = stack
                .http
                .patch(stack.url("/me/notification-settings"))
                .header("authorization", &token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, current) = w.stack.get(&token, "/me/notification-settings").await;
    assert_eq!(status, 200, "{current}");
    assert_eq!(
        current,
        json!({"channels": ["email"], "language": "ru", "quiet_hours": null,
               "contacts": [{"channel": "email", "address": email, "verified": true}]})
    );

    // SMS needs a phone; a bad time zone, equal times, unknown fields are refused; nothing changes.
    for (body, field) in [
        (json!({"channels": ["sms", "email"]}), "phone"),
        (
            json!({"quiet_hours": {"from": "22:00", "to": "08:00", "time_zone": "Mars/Olympus"}}),
            "quiet_hours.time_zone",
        ),
        (
            json!({"quiet_hours": {"from": "22:00", "to": "22:00", "time_zone": "UTC"}}),
            "quiet_hours.to",
        ),
        (json!({"email": "other@example.test"}), "email"),
    ] {
        let (status, problem) = settings(body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(
        w.stack.get(&token, "/me/notification-settings").await.1,
        current
    );

    // A phone and SMS first, in English: the phone is claimed and gets its code (in English).
    let phone = phone();
    let (status, changed) =
        settings(json!({"phone": phone, "channels": ["sms", "email"], "language": "en"})).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["channels"], json!(["sms", "email"]));
    assert_eq!(changed["language"], "en");
    assert_eq!(
        changed["contacts"][1],
        json!({"channel": "sms", "address": phone, "verified": false})
    );
    let texts = eventually("the phone's code", WAIT, || async {
        let texts = sms_to(&phone).await;
        if texts.len() == 1 {
            Ok(texts)
        } else {
            Err(format!("{texts:?}"))
        }
    })
    .await;
    assert!(texts[0].starts_with("servicehub: code "), "{texts:?}");

    // Quiet hours around now: the confirmation is held for their end, with its text, unsent.
    let now = chrono::Utc::now();
    let (from, to) = (
        (now - chrono::Duration::hours(1)).time(),
        (now + chrono::Duration::hours(1)).time(),
    );
    let hhmm = |t: chrono::NaiveTime| t.format("%H:%M").to_string();
    let (status, quiet) =
        settings(json!({"quiet_hours": {"from": hhmm(from), "to": hhmm(to), "time_zone": "UTC"}}))
            .await;
    assert_eq!(status, 200, "{quiet}");
    assert_eq!(quiet["quiet_hours"]["time_zone"], "UTC");
    let window = servicehub_domain::quiet_hours::QuietHours::from_parts(
        chrono::NaiveTime::parse_from_str(&hhmm(from), "%H:%M").ok(),
        chrono::NaiveTime::parse_from_str(&hhmm(to), "%H:%M").ok(),
        Some("UTC"),
    )
    .unwrap();
    let filed_at = chrono::Utc::now();
    w.file_request(&token).await;
    let held: (
        String,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
    ) = eventually("the held confirmation", WAIT, || async {
        sqlx::query_as(
            "SELECT state, channel, next_attempt_at, subject FROM notifications
             WHERE recipient_id = $1::uuid AND template = 'request_created.customer'",
        )
        .bind(&user_id)
        .fetch_optional(&w.db.pool)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(
        (held.0.as_str(), held.1.as_str()),
        ("retrying", "email"),
        "{held:?}"
    );
    assert_eq!(held.2, window.defer_until(filed_at), "{held:?}");
    assert!(held.3.unwrap().starts_with("Your request"), "English");
    let notices = mails_to(&email)
        .await
        .into_iter()
        .filter(|(s, _)| !is_code_subject(s))
        .count();
    assert_eq!(notices, 0, "nothing sent during the quiet hours");

    // Quiet hours off, the phone dropped (SMS with it): the next confirmation goes out at once.
    let (status, cleared) =
        settings(json!({"quiet_hours": null, "phone": null, "channels": ["email"]})).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["quiet_hours"], Value::Null);
    assert_eq!(cleared["contacts"].as_array().unwrap().len(), 1);
    w.file_request(&token).await;
    eventually("the confirmation e-mail", WAIT, || async {
        let notices: Vec<_> = mails_to(&email)
            .await
            .into_iter()
            .filter(|(s, _)| !is_code_subject(s))
            .collect();
        if notices.len() == 1 {
            Ok(())
        } else {
            Err(format!("{notices:?}"))
        }
    })
    .await;
    w.stop().await;
}
