//! The outbox against the real PostgreSQL and Kafka: what a publisher does when the broker refuses
//! a row for good, when another publisher holds a key, and when the broker is absent.

use chrono::Utc;
use servicehub_events::Envelope;
use servicehub_events::catalog::WorkStarted;
use servicehub_platform::kafka::EventProducer;
use servicehub_platform::{Config, Services, outbox};
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::{TestDatabase, required_env};
use sqlx::Row;
use std::time::{Duration, Instant};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

fn config(db: &TestDatabase, bootstrap_servers: &str) -> Config {
    Config::from_vars(
        [
            ("DATABASE_URL".to_owned(), db.url.clone()),
            (
                "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
                bootstrap_servers.to_owned(),
            ),
            // A broker that is not there fails a delivery in 2 s rather than 10.
            (
                "KAFKA_PROPERTY_MESSAGE_TIMEOUT_MS".to_owned(),
                "2000".to_owned(),
            ),
        ],
        "outbox-tests",
    )
    .unwrap()
}

fn producer(db: &TestDatabase) -> EventProducer {
    EventProducer::new(&config(db, &required_env("KAFKA_BOOTSTRAP_SERVERS"))).unwrap()
}

fn work_started(key: Uuid, n: u128) -> Envelope {
    Envelope::new(
        "tests",
        WorkStarted {
            request_id: key,
            contractor_id: Uuid::from_u128(n),
            started_at: Utc::now(),
        },
    )
}

/// The ids of the next `count` events published under `key`, in the order Kafka holds them.
async fn published_ids(probe: KafkaProbe, key: Uuid, count: usize) -> Vec<Uuid> {
    probe
        .envelopes(&key.to_string(), count, WAIT)
        .await
        .iter()
        .map(|e| e.meta.id)
        .collect()
}

async fn enqueue(db: &TestDatabase, events: &[Envelope]) {
    let mut tx = db.pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, events).await.unwrap();
    tx.commit().await.unwrap();
}

/// Makes the outbox row of `event` one the broker can never take.
async fn poison(db: &TestDatabase, event: &Envelope, topic: &str, payload: Vec<u8>) {
    sqlx::query("UPDATE outbox SET topic = $2, payload = $3 WHERE event_id = $1")
        .bind(event.meta.id)
        .bind(topic)
        .bind(payload)
        .execute(&db.pool)
        .await
        .unwrap();
}

async fn row_state(db: &TestDatabase, event: &Envelope) -> (bool, bool, i32, Option<String>) {
    let row = sqlx::query(
        "SELECT published_at IS NOT NULL AS published, parked_at IS NOT NULL AS parked, attempts, last_error
         FROM outbox WHERE event_id = $1",
    )
    .bind(event.meta.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    (
        row.get("published"),
        row.get("parked"),
        row.get("attempts"),
        row.get("last_error"),
    )
}

#[tokio::test]
async fn a_row_the_broker_refuses_for_good_is_parked_and_its_key_moves_on_in_order() {
    let db = TestDatabase::new().await;
    let producer = producer(&db);
    for (topic, payload, reason) in [
        // Over the broker's (and the producer's) 1 MB limit.
        ("workflow-events", vec![b'x'; 2 * 1024 * 1024], "size"),
        // A topic that does not exist (the broker creates none by itself).
        ("no-such-topic-for-outbox-tests", b"{}".to_vec(), "topic"),
    ] {
        let key = Uuid::now_v7();
        let events: Vec<Envelope> = (0..3).map(|n| work_started(key, n)).collect();
        enqueue(&db, &events).await;
        poison(&db, &events[1], topic, payload).await;
        let probe = KafkaProbe::new("workflow-events");

        // Passes until the poisoned row is parked; it is retried first, never parked at once.
        let mut passes = 0;
        while !row_state(&db, &events[1]).await.1 {
            passes += 1;
            assert!(
                passes <= outbox::PARK_AFTER_ATTEMPTS,
                "{reason}: never parked"
            );
            let _ = outbox::relay(&db.pool, &producer, 500, 72).await;
            if passes < outbox::PARK_AFTER_ATTEMPTS {
                let (published, parked, _, _) = row_state(&db, &events[2]).await;
                assert!(!published && !parked, "{reason}: a later row overtook it");
            }
        }
        assert_eq!(passes, outbox::PARK_AFTER_ATTEMPTS, "{reason}");
        let (published, parked, attempts, error) = row_state(&db, &events[1]).await;
        assert!(!published && parked, "{reason}");
        assert_eq!(attempts, outbox::PARK_AFTER_ATTEMPTS, "{reason}");
        assert!(
            error.is_some_and(|e| !e.is_empty()),
            "{reason}: the reason is kept"
        );

        // Parked, it no longer holds its key back: the next pass sends the rest, in order.
        let report = outbox::relay(&db.pool, &producer, 500, 72).await.unwrap();
        assert_eq!(report.published, 1, "{reason}: {report:?}");
        let ids = published_ids(probe, key, 2).await;
        assert_eq!(ids, [events[0].meta.id, events[2].meta.id], "{reason}");
        let backlog = outbox::backlog(&db.pool).await.unwrap();
        assert_eq!(backlog.unpublished, 0, "{reason}");
    }
    assert_eq!(outbox::backlog(&db.pool).await.unwrap().parked, 2);
}

#[tokio::test]
async fn a_key_another_publisher_holds_waits_and_the_relay_does_not_block_on_it() {
    let db = TestDatabase::new().await;
    let producer = producer(&db);
    let (held, free) = (Uuid::now_v7(), Uuid::now_v7());
    let held_events: Vec<Envelope> = (0..2).map(|n| work_started(held, n)).collect();
    let free_events: Vec<Envelope> = (0..2).map(|n| work_started(free, n)).collect();
    enqueue(&db, &held_events[..1]).await;
    enqueue(&db, &free_events).await;
    enqueue(&db, &held_events[1..]).await;

    // Another publisher holds the first row of `held` (as a function mid-publish does).
    let mut other = db.pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM outbox WHERE event_id = $1 FOR UPDATE")
        .bind(held_events[0].meta.id)
        .execute(&mut *other)
        .await
        .unwrap();

    let started = Instant::now();
    let report = outbox::relay(&db.pool, &producer, 500, 72).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the relay skipped the locked row instead of waiting for it"
    );
    assert_eq!(report.published, 2, "only the free key: {report:?}");
    for event in &held_events {
        assert!(
            !row_state(&db, event).await.0,
            "held key published out of turn"
        );
    }
    other.rollback().await.unwrap();

    let probe = KafkaProbe::new("workflow-events");
    let report = outbox::relay(&db.pool, &producer, 500, 72).await.unwrap();
    assert_eq!(report.published, 2, "{report:?}");
    let ids = published_ids(probe, held, 2).await;
    assert_eq!(ids, [held_events[0].meta.id, held_events[1].meta.id]);
}

#[tokio::test]
async fn without_a_broker_a_commit_waits_one_budget_then_leaves_its_rows_to_the_relay() {
    let db = TestDatabase::new().await;
    // Nothing listens there: every delivery fails (after the message timeout).
    let services = Services {
        config: config(&db, "127.0.0.1:1"),
        pool: db.pool.clone(),
        producer: EventProducer::new(&config(&db, "127.0.0.1:1")).unwrap(),
        reporter: std::sync::Arc::new(servicehub_platform::report::Reporter::new(
            "outbox-tests",
            EventProducer::new(&config(&db, "127.0.0.1:1")).unwrap(),
            Duration::ZERO,
        )),
        publish_gate: Default::default(),
    };
    let budget = services.config.outbox_publish_budget;
    let key = Uuid::now_v7();
    let first = [work_started(key, 0)];
    enqueue(&db, &first).await;

    let started = Instant::now();
    services
        .publish_after_commit(&outbox::keys_of(&first))
        .await;
    let waited = started.elapsed();
    assert!(
        waited >= budget && waited < budget + Duration::from_secs(1),
        "waited {waited:?} for a budget of {budget:?}"
    );
    assert!(!row_state(&db, &first[0]).await.0, "left for the relay");
    // A metric and an error report are handed over without waiting either.
    let started = Instant::now();
    services
        .reporter
        .record("probe", Duration::from_millis(1), 1);
    services.reporter.flush_if_due();
    let error = services.reporter.error("probe", "no broker", true);
    services
        .reporter
        .publish_error(Envelope::new("outbox-tests", error));
    assert!(started.elapsed() < Duration::from_millis(100));

    // The gate is closed now: the next commit does not wait at all.
    let second = [work_started(key, 1)];
    enqueue(&db, &second).await;
    let started = Instant::now();
    services
        .publish_after_commit(&outbox::keys_of(&second))
        .await;
    assert!(
        started.elapsed() < budget,
        "paused: {:?}",
        started.elapsed()
    );

    // The real broker back: the relay publishes both rows, in order.
    let probe = KafkaProbe::new("workflow-events");
    let report = outbox::relay(&db.pool, &producer(&db), 500, 72)
        .await
        .unwrap();
    assert_eq!(report.published, 2, "{report:?}");
    let ids = published_ids(probe, key, 2).await;
    assert_eq!(ids, [first[0].meta.id, second[0].meta.id]);
}

#[tokio::test]
async fn a_drain_keeps_publishing_what_commits_while_it_runs() {
    let db = TestDatabase::new().await;
    let producer = producer(&db);
    let key = Uuid::now_v7();
    let events: Vec<Envelope> = (0..3).map(|n| work_started(key, n)).collect();
    let probe = KafkaProbe::new("workflow-events");
    let pool = db.pool.clone();
    let drain = tokio::spawn(async move {
        outbox::drain(
            &pool,
            &producer,
            500,
            72,
            Instant::now() + Duration::from_secs(3),
            Duration::from_millis(100),
        )
        .await
    });
    for event in &events {
        tokio::time::sleep(Duration::from_millis(400)).await;
        enqueue(&db, std::slice::from_ref(event)).await;
    }
    let report = drain.await.unwrap().unwrap();
    assert_eq!(report.published, 3, "{report:?}");
    let ids = published_ids(probe, key, 3).await;
    assert_eq!(ids, events.iter().map(|e| e.meta.id).collect::<Vec<_>>());
}
