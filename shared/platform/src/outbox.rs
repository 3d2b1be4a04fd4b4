//! The transactional outbox. A state change and the events it causes are written in one
//! transaction ([`enqueue`]); right after commit the function publishes them ([`publish_keys`],
//! within a small budget: see [`crate::Services::publish_after_commit`]); whatever is left (a
//! crash, a broker outage, a budget run out) is published by the scheduled relay ([`relay`]).
//!
//! Order: rows are published in id order per key. A publisher locks the rows it takes
//! (`FOR UPDATE SKIP LOCKED`, so publishers never wait for each other) and sends a row only when
//! every unpublished row of its key before it is in its own hands; a key another publisher is busy
//! with waits for the next pass. So the relay and a function never publish one key's events out of
//! order, and never the same row twice at once.
//!
//! Poison: a row the broker can never take (over its size limit, a topic that does not exist) is
//! retried [`PARK_AFTER_ATTEMPTS`] times, then parked with its reason (`parked_at`,
//! `last_error`). Only then do the later rows of its key go out: they are never reordered around
//! a row that may still be published. A broker outage never parks anything.

use crate::kafka::{EventProducer, ProduceError};
use serde_json::Value;
use servicehub_events::{Envelope, KafkaMessage};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Attempts that failed for a reason the broker will never accept before a row is parked.
pub const PARK_AFTER_ATTEMPTS: i32 = 3;

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(
        "{failed} of {attempted} outbox records could not be published; first error: {first_error}"
    )]
    Publish {
        attempted: usize,
        failed: usize,
        first_error: String,
    },
}

/// Writes `envelopes` into the outbox inside the caller's transaction, in one statement (one
/// round trip however many events a change causes), ids in the order given.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    envelopes: &[Envelope],
) -> Result<(), sqlx::Error> {
    if envelopes.is_empty() {
        return Ok(());
    }
    let n = envelopes.len();
    let (mut ids, mut types, mut topics, mut keys, mut headers, mut payloads) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for envelope in envelopes {
        let message = envelope.to_kafka();
        ids.push(envelope.meta.id);
        types.push(envelope.meta.event_type.clone());
        topics.push(message.topic);
        keys.push(envelope.meta.subject.clone());
        headers.push(
            message
                .headers
                .iter()
                .map(|(name, value)| {
                    Value::Array(vec![
                        name.clone().into(),
                        String::from_utf8_lossy(value).into(),
                    ])
                })
                .collect::<Value>(),
        );
        payloads.push(message.value.unwrap_or_default());
    }
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, topic, message_key, headers, payload)
         SELECT event_id, event_type, topic, message_key, headers, payload
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[])
              WITH ORDINALITY AS e(event_id, event_type, topic, message_key, headers, payload, n)
         ORDER BY n",
    )
    .bind(ids)
    .bind(types)
    .bind(topics)
    .bind(keys)
    .bind(headers)
    .bind(payloads)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The distinct keys of `envelopes`, for [`publish_keys`] after commit.
pub fn keys_of(envelopes: &[Envelope]) -> Vec<String> {
    envelopes
        .iter()
        .map(|e| e.meta.subject.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Publishes every unpublished row of `keys` (older leftovers first). Returns how many were published.
pub async fn publish_keys(
    pool: &PgPool,
    producer: &EventProducer,
    keys: &[String],
) -> Result<usize, OutboxError> {
    if keys.is_empty() {
        return Ok(0);
    }
    Ok(publish(pool, producer, Some(keys), i64::MAX)
        .await?
        .published)
}

/// What a relay invocation did (one pass, or all the passes of a drain).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    pub published: usize,
    /// Rows parked in this pass (their error can never go away).
    pub parked: usize,
    pub deleted_published: u64,
}

/// Publishes up to `batch_size` of the oldest unpublished rows, then deletes rows published more
/// than `retention_hours` ago: one relay pass.
pub async fn relay(
    pool: &PgPool,
    producer: &EventProducer,
    batch_size: i64,
    retention_hours: i64,
) -> Result<RelayReport, OutboxError> {
    let now = Instant::now();
    drain(
        pool,
        producer,
        batch_size,
        retention_hours,
        now,
        Duration::ZERO,
    )
    .await
}

/// Relays until `until`: pass after pass while rows go out, a pause of `poll` when none is
/// waiting or a pass failed (broker or database down), then deletes what is past its retention.
/// One scheduled invocation thus keeps the outbox drained for most of its minute, and rows left
/// behind by an outage go out within a poll of its end instead of at the next tick. With `until`
/// already past it makes exactly one pass. An error is returned only when the last pass failed.
pub async fn drain(
    pool: &PgPool,
    producer: &EventProducer,
    batch_size: i64,
    retention_hours: i64,
    until: Instant,
    poll: Duration,
) -> Result<RelayReport, OutboxError> {
    let mut report = RelayReport::default();
    let last_error = loop {
        let pass = publish(pool, producer, None, batch_size).await;
        let progressed = match &pass {
            Ok(done) => {
                report.published += done.published;
                report.parked += done.parked;
                done.published + done.parked > 0
            }
            Err(error) => {
                tracing::warn!(%error, "relay pass failed; trying again");
                false
            }
        };
        let now = Instant::now();
        if now >= until {
            break pass.err();
        }
        if !progressed {
            tokio::time::sleep(poll.min(until - now)).await;
        }
    };
    if let Some(error) = last_error {
        return Err(error);
    }
    report.deleted_published = delete_published(pool, retention_hours).await?;
    Ok(report)
}

async fn delete_published(pool: &PgPool, retention_hours: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => $1::int)",
    )
    .bind(retention_hours as i32)
    .execute(pool)
    .await?
    .rows_affected())
}

/// How the outbox stands, for the relay's metrics and alarms.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct Backlog {
    pub unpublished: i64,
    /// Age of the oldest row still waiting to be published (0 when none waits).
    pub oldest_unpublished_seconds: f64,
    pub parked: i64,
}

pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    let row = sqlx::query(
        "SELECT
            (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL) AS unpublished,
            (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 FROM outbox
              WHERE published_at IS NULL AND parked_at IS NULL) AS oldest,
            (SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL) AS parked",
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        unpublished: row.try_get("unpublished")?,
        oldest_unpublished_seconds: row.try_get("oldest")?,
        parked: row.try_get("parked")?,
    })
}

/// Whether a function publishes right after commit. After a publish that failed or ran out of
/// its budget, the commits of the next [`PublishGate::PAUSE`] leave their rows to the relay
/// without trying: a broker outage then costs one budget per pause, not one per request.
#[derive(Debug)]
pub struct PublishGate {
    origin: Instant,
    closed_until_ms: AtomicU64,
}

impl Default for PublishGate {
    fn default() -> Self {
        PublishGate {
            origin: Instant::now(),
            closed_until_ms: AtomicU64::new(0),
        }
    }
}

impl PublishGate {
    pub const PAUSE: Duration = Duration::from_secs(1);

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    pub fn is_open(&self) -> bool {
        self.now_ms() >= self.closed_until_ms.load(Ordering::Relaxed)
    }

    pub fn close(&self) {
        let until = self.now_ms() + Self::PAUSE.as_millis() as u64;
        self.closed_until_ms.store(until, Ordering::Relaxed);
    }
}

struct Published {
    published: usize,
    parked: usize,
}

struct PendingRow {
    id: i64,
    key: String,
    attempts: i32,
    message: KafkaMessage,
}

/// Whether a failed send can never succeed. Size and format errors cannot; a topic is known to be
/// missing only when the broker answers and says so (a timeout alone may be an outage). The
/// broker is asked once per topic per pass (`missing_topics`): an outage fails every row of a
/// pass, and each question waits for a broker that is not there.
async fn is_permanent(
    error: &ProduceError,
    producer: &EventProducer,
    missing_topics: &mut HashMap<String, bool>,
) -> bool {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode as Code};
    match error.error.rdkafka_error_code() {
        Some(
            Code::MessageSizeTooLarge
            | Code::InvalidMessageSize
            | Code::InvalidMessage
            | Code::InvalidRecord
            | Code::MessageBatchTooLarge
            | Code::InvalidTopic
            | Code::UnknownTopic
            | Code::UnknownPartition,
        ) => true,
        Some(Code::UnknownTopicOrPartition | Code::MessageTimedOut) | None
            if matches!(error.error, KafkaError::MessageProduction(_)) =>
        {
            if let Some(&missing) = missing_topics.get(&error.topic) {
                return missing;
            }
            let missing = producer.topic_is_missing(&error.topic).await;
            missing_topics.insert(error.topic.clone(), missing);
            missing
        }
        _ => false,
    }
}

async fn publish(
    pool: &PgPool,
    producer: &EventProducer,
    keys: Option<&[String]>,
    limit: i64,
) -> Result<Published, OutboxError> {
    let mut tx = pool.begin().await?;
    // No keys: the oldest rows of any key (the relay). Rows another publisher holds are skipped.
    // A row may go out only if no unpublished row of its key before it is out of this
    // publisher's hands (held by another publisher, or beyond this pass's limit): `blocked`,
    // found in the same statement as the lock, saving a round trip per publish.
    let locked = sqlx::query(
        "WITH locked AS (
             SELECT id, topic, message_key, headers, payload, attempts FROM outbox
             WHERE published_at IS NULL AND parked_at IS NULL
               AND ($1::text[] IS NULL OR message_key = ANY($1))
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         SELECT l.id, l.topic, l.message_key, l.headers, l.payload, l.attempts,
                EXISTS (SELECT 1 FROM outbox o
                        WHERE o.message_key = l.message_key AND o.id < l.id
                          AND o.published_at IS NULL AND o.parked_at IS NULL
                          AND o.id NOT IN (SELECT id FROM locked)) AS blocked
         FROM locked l ORDER BY l.id",
    )
    .bind(keys)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if locked.is_empty() {
        tx.commit().await?;
        return Ok(Published {
            published: 0,
            parked: 0,
        });
    }
    let mut rows = Vec::with_capacity(locked.len());
    for row in &locked {
        if row.try_get::<bool, _>("blocked")? {
            continue;
        }
        let headers: Value = row.try_get("headers")?;
        let key: String = row.try_get("message_key")?;
        rows.push(PendingRow {
            id: row.try_get("id")?,
            attempts: row.try_get("attempts")?,
            message: KafkaMessage {
                topic: row.try_get("topic")?,
                key: Some(key.clone().into_bytes()),
                headers: headers
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|pair| {
                        let name = pair.get(0)?.as_str()?;
                        let value = pair.get(1)?.as_str()?;
                        Some((name.to_owned(), value.as_bytes().to_vec()))
                    })
                    .collect(),
                value: Some(row.try_get("payload")?),
            },
            key,
        });
    }
    let results = producer.send_all(rows.iter().map(|r| &r.message)).await;
    // A key whose earlier record failed must not have a later one marked as published out of
    // order: publish marks only the prefix of each key that went through.
    let mut failed_keys = BTreeSet::new();
    let mut published_ids = Vec::new();
    let mut failed: Vec<(i64, String)> = Vec::new();
    let mut parked_ids = Vec::new();
    let mut first_error = None;
    let mut missing_topics = HashMap::new();
    for (row, result) in rows.iter().zip(results) {
        match result {
            Ok(()) if !failed_keys.contains(&row.key) => published_ids.push(row.id),
            Ok(()) => failed.push((row.id, "an earlier record of its key failed".into())),
            Err(error) => {
                let reason = error.to_string();
                first_error.get_or_insert_with(|| reason.clone());
                failed_keys.insert(row.key.clone());
                if row.attempts + 1 >= PARK_AFTER_ATTEMPTS
                    && is_permanent(&error, producer, &mut missing_topics).await
                {
                    tracing::error!(outbox_id = row.id, key = %row.key, %reason, "outbox row parked");
                    parked_ids.push(row.id);
                }
                failed.push((row.id, reason));
            }
        }
    }
    sqlx::query(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
    )
    .bind(&published_ids)
    .execute(&mut *tx)
    .await?;
    if !failed.is_empty() {
        let (ids, reasons): (Vec<i64>, Vec<String>) = failed.iter().cloned().unzip();
        sqlx::query(
            "UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.reason,
                    parked_at = CASE WHEN o.id = ANY($3) THEN now() END
             FROM unnest($1::bigint[], $2::text[]) AS f(id, reason) WHERE o.id = f.id",
        )
        .bind(&ids)
        .bind(&reasons)
        .bind(&parked_ids)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    match first_error {
        None => Ok(Published {
            published: published_ids.len(),
            parked: 0,
        }),
        // Parking is progress: the key's later rows go out on the next pass.
        Some(_) if failed.len() == parked_ids.len() => Ok(Published {
            published: published_ids.len(),
            parked: parked_ids.len(),
        }),
        Some(first_error) => Err(OutboxError::Publish {
            attempted: rows.len(),
            failed: failed.len(),
            first_error,
        }),
    }
}
