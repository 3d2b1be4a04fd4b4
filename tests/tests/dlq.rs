//! `servicehub-admin dlq` against the real Kafka and PostgreSQL: a dead letter a consumer wrote is
//! listed with its reason and source, shown in full, and replayed to its source topic with its
//! original key, value and headers, once however often it is asked for.

use chrono::Utc;
use servicehub_events::Envelope;
use servicehub_events::catalog::WorkStarted;
use servicehub_events::dlq::{DeadLetter, HEADER_REPLAYED_FROM, dead_letter_of};
use servicehub_platform::Config;
use servicehub_platform::kafka::EventProducer;
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::{TestDatabase, required_env, run_admin};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

fn admin(db: &TestDatabase, args: &[&str]) -> (bool, String) {
    run_admin(
        args,
        &[
            ("DATABASE_URL", &db.url),
            (
                "KAFKA_BOOTSTRAP_SERVERS",
                &required_env("KAFKA_BOOTSTRAP_SERVERS"),
            ),
        ],
        &[],
    )
}

#[tokio::test]
async fn a_dead_letter_is_listed_shown_and_replayed_once_with_its_original_headers() {
    let db = TestDatabase::new().await;
    let producer = EventProducer::new(
        &Config::from_vars(
            [
                ("DATABASE_URL".to_owned(), db.url.clone()),
                (
                    "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
                    required_env("KAFKA_BOOTSTRAP_SERVERS"),
                ),
            ],
            "dlq-tests",
        )
        .unwrap(),
    )
    .unwrap();
    let request = Uuid::now_v7();
    let event = Envelope::new(
        "tests",
        WorkStarted {
            request_id: request,
            contractor_id: Uuid::now_v7(),
            started_at: Utc::now(),
        },
    );
    let original = event.to_kafka();
    let reason = format!("test reason {}", Uuid::now_v7());
    let letter = dead_letter_of(
        &original,
        &original.topic,
        1,
        Some(42),
        "hr-documents",
        &reason,
        Utc::now(),
    );
    let dlq_probe = KafkaProbe::new(&letter.topic);
    producer.send(&letter).await.unwrap();
    let stored = dlq_probe.read_key(&request.to_string(), 1, WAIT);
    let (partition, offset) = (stored[0].partition, stored[0].offset);
    let position = format!("{partition}:{offset}");

    // Listed with where it sits, its source, the consumer and the reason.
    let (ok, listed) = admin(
        &db,
        &["dlq", "list", "--topic", &letter.topic, "--limit", "20"],
    );
    assert!(ok, "{listed}");
    let line = listed
        .lines()
        .find(|l| l.contains(&reason))
        .unwrap_or_else(|| panic!("not listed:\n{listed}"));
    assert!(
        line.starts_with(&format!(
            "{}/{partition}/{offset}  from {}/1/42  hr-documents",
            letter.topic, original.topic
        )),
        "{line}"
    );
    assert!(line.contains("workflow.work_started"), "{line}");

    // Shown in full.
    let (ok, shown) = admin(&db, &["dlq", "show", &letter.topic, &position]);
    assert!(ok, "{shown}");
    assert!(shown.contains(&format!("dlq_reason: {reason}")), "{shown}");
    assert!(shown.contains(&event.meta.id.to_string()), "{shown}");

    // Replayed to the source topic once, however often asked.
    let source_probe = KafkaProbe::new(&original.topic);
    let (ok, replayed) = admin(&db, &["dlq", "replay", &letter.topic, &position]);
    assert!(ok, "{replayed}");
    assert!(
        replayed.contains(&format!(
            "replayed {}/{partition}/{offset} to {}",
            letter.topic, original.topic
        )),
        "{replayed}"
    );
    let (ok, again) = admin(&db, &["dlq", "replay", &letter.topic, &position]);
    assert!(ok, "{again}");
    assert!(again.contains("replayed before"), "{again}");
    let arrived = source_probe.read_key(&request.to_string(), 2, Duration::from_secs(5));
    assert_eq!(arrived.len(), 1, "replayed exactly once");
    let replay = &arrived[0].message;
    assert_eq!(replay.key, original.key);
    assert_eq!(replay.value, original.value);
    for (name, value) in &original.headers {
        assert_eq!(replay.header(name), Some(value.as_slice()), "{name}");
    }
    assert_eq!(
        replay.header(HEADER_REPLAYED_FROM),
        Some(format!("{}/{partition}/{offset}", letter.topic).as_bytes())
    );
    assert!(DeadLetter::parse(replay).is_none(), "no dlq_* headers left");

    // Bad input is a clear error, not a panic.
    let (ok, refused) = admin(&db, &["dlq", "show", &letter.topic, "nonsense"]);
    assert!(
        !ok && refused.contains("is not <partition>:<offset>"),
        "{refused}"
    );
}
