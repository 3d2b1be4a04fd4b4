//! The transactional outbox. A state change and the events it causes are written in one
//! transaction ([`enqueue`]); right after commit the function publishes them ([`publish_keys`]);
//! whatever is left (a crash, a broker outage) is published by the scheduled relay ([`relay`]).
//!
//! Order: rows are published in id order per key. Both paths lock the rows they publish
//! (`FOR UPDATE`, in id order) and re-check `published_at` after the lock, so the relay and a
//! function never publish one key's events out of order or twice in the same pass.

use crate::kafka::EventProducer;
use serde_json::Value;
use servicehub_events::{Envelope, KafkaMessage};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::BTreeSet;
use thiserror::Error;

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

/// Writes `envelopes` into the outbox inside the caller's transaction.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    envelopes: &[Envelope],
) -> Result<(), sqlx::Error> {
    for envelope in envelopes {
        let message = envelope.to_kafka();
        let headers: Value = message
            .headers
            .iter()
            .map(|(name, value)| {
                Value::Array(vec![
                    name.clone().into(),
                    String::from_utf8_lossy(value).into(),
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO outbox (event_id, event_type, topic, message_key, headers, payload)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(envelope.meta.id)
        .bind(&envelope.meta.event_type)
        .bind(&message.topic)
        .bind(&envelope.meta.subject)
        .bind(headers)
        .bind(message.value.unwrap_or_default())
        .execute(&mut **tx)
        .await?;
    }
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
    publish(pool, producer, Some(keys), i64::MAX).await
}

/// What one relay pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    pub published: usize,
    pub deleted_published: u64,
}

/// Publishes up to `batch_size` of the oldest unpublished rows, then deletes rows published more
/// than `retention_hours` ago. The scheduled `outbox-relay` function runs this.
pub async fn relay(
    pool: &PgPool,
    producer: &EventProducer,
    batch_size: i64,
    retention_hours: i64,
) -> Result<RelayReport, OutboxError> {
    let published = publish(pool, producer, None, batch_size).await?;
    let deleted_published = sqlx::query(
        "DELETE FROM outbox WHERE published_at < now() - make_interval(hours => $1::int)",
    )
    .bind(retention_hours as i32)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(RelayReport {
        published,
        deleted_published,
    })
}

async fn publish(
    pool: &PgPool,
    producer: &EventProducer,
    keys: Option<&[String]>,
    limit: i64,
) -> Result<usize, OutboxError> {
    let mut tx = pool.begin().await?;
    // No keys: the oldest rows of any key (the relay).
    let rows = sqlx::query(
        "SELECT id, topic, message_key, headers, payload FROM outbox
         WHERE published_at IS NULL AND ($1::text[] IS NULL OR message_key = ANY($1))
         ORDER BY id LIMIT $2 FOR UPDATE",
    )
    .bind(keys)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>("id")?);
        let headers: Value = row.try_get("headers")?;
        messages.push(KafkaMessage {
            topic: row.try_get("topic")?,
            key: Some(row.try_get::<String, _>("message_key")?.into_bytes()),
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
        });
    }
    let results = producer.send_all(&messages).await;
    // A key whose earlier record failed must not have a later one marked as published out of
    // order: publish marks only the prefix of each key that went through.
    let mut failed_keys = BTreeSet::new();
    let mut published_ids = Vec::new();
    let mut failed_ids = Vec::new();
    let mut first_error = None;
    for ((id, message), result) in ids.iter().zip(&messages).zip(results) {
        let key = message.key.clone().unwrap_or_default();
        match result {
            Ok(()) if !failed_keys.contains(&key) => published_ids.push(*id),
            Ok(()) => failed_ids.push(*id),
            Err(error) => {
                first_error.get_or_insert_with(|| error.to_string());
                failed_keys.insert(key);
                failed_ids.push(*id);
            }
        }
    }
    sqlx::query(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
    )
    .bind(&published_ids)
    .execute(&mut *tx)
    .await?;
    if let Some(error) = &first_error {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
        )
        .bind(&failed_ids)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    match first_error {
        None => Ok(published_ids.len()),
        Some(first_error) => Err(OutboxError::Publish {
            attempted: messages.len(),
            failed: failed_ids.len(),
            first_error,
        }),
    }
}
