//! Idempotent consumers: the effect of an event and the (consumer, event id) mark commit in one
//! transaction, so a redelivered event finds its mark and changes nothing.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Begins the transaction in which `consumer` handles `event_id`, with the mark already written.
/// `None` when the event was handled before. A concurrent duplicate waits on the mark's row lock
/// and then sees the committed mark, so two deliveries can never both apply.
pub async fn begin_once(
    pool: &PgPool,
    consumer: &str,
    event_id: Uuid,
) -> Result<Option<Transaction<'static, Postgres>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}

/// Whether `consumer` has handled `event_id` already: a cheap look before expensive work (the
/// mark of [`begin_once`] still decides, in case two deliveries race).
pub async fn handled(pool: &PgPool, consumer: &str, event_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)",
    )
    .bind(consumer)
    .bind(event_id)
    .fetch_one(pool)
    .await
}
