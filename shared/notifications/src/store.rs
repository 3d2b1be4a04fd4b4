//! The SQL of notifications: the request's parties, the recipients' contacts, and the
//! `notifications` table that makes every message go out at most once.

use crate::plan::{Contact, Language, RequestFacts};
use servicehub_events::values::{NotificationChannel, Role};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::time::Duration;
use uuid::Uuid;

pub async fn request_facts(
    pool: &PgPool,
    request_id: Uuid,
) -> Result<Option<RequestFacts>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, title, region, customer_id, manager_id, contractor_id FROM service_requests WHERE id = $1",
    )
    .bind(request_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(RequestFacts {
            request_id: row.try_get("id")?,
            title: row.try_get("title")?,
            region: row.try_get("region")?,
            customer_id: row.try_get("customer_id")?,
            manager_id: row.try_get("manager_id")?,
            contractor_id: row.try_get("contractor_id")?,
        })
    })
    .transpose()
}

pub async fn contact(pool: &PgPool, user_id: Uuid) -> Result<Option<Contact>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, role, display_name, email, phone, telegram_chat_id, notification_channels, language, active
         FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        let channels: Vec<String> = row.try_get("notification_channels")?;
        let language: String = row.try_get("language")?;
        let role: String = row.try_get("role")?;
        Ok(Contact {
            user_id: row.try_get("id")?,
            role: Role::parse(&role),
            display_name: row.try_get("display_name")?,
            email: row
                .try_get::<Option<String>, _>("email")?
                .filter(|e| !e.is_empty()),
            phone: row
                .try_get::<Option<String>, _>("phone")?
                .filter(|p| !p.is_empty()),
            telegram_chat_id: row.try_get("telegram_chat_id")?,
            channels: channels
                .iter()
                .filter_map(|c| NotificationChannel::parse(c))
                .collect(),
            language: Language::parse(&language),
            active: row.try_get("active")?,
        })
    })
    .transpose()
}

/// A message about to be claimed.
#[derive(Debug, Clone)]
pub struct NewNotification<'a> {
    pub id: Uuid,
    pub dedup_key: &'a str,
    pub recipient_id: Uuid,
    pub channel: NotificationChannel,
    pub template: &'a str,
    pub language: Language,
    pub cause_event_id: Uuid,
    pub request_id: Option<Uuid>,
    pub address: &'a str,
}

/// What claiming a message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours to send: new, or left `retrying` by an earlier delivery.
    Taken { id: Uuid, attempts: i32 },
    /// Sent or given up before.
    Done,
    /// Another invocation is sending it right now.
    InFlight,
    /// Claimed by an invocation that ended mid-send longer than the lease ago; now ours to give up on.
    Abandoned { id: Uuid, attempts: i32 },
}

/// Claims `message`. `lease` is how long a `sending` claim may be held (longer than the function's
/// timeout) before it counts as abandoned.
pub async fn claim(
    pool: &PgPool,
    message: &NewNotification<'_>,
    lease: Duration,
) -> Result<Claim, sqlx::Error> {
    let taken = sqlx::query(
        "INSERT INTO notifications (id, dedup_key, recipient_id, channel, template, language,
                                    cause_event_id, request_id, address, state, claimed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sending', now())
         ON CONFLICT (dedup_key, recipient_id, channel) DO UPDATE
             SET state = 'sending', claimed_at = now(), updated_at = now(), address = EXCLUDED.address
             WHERE notifications.state = 'retrying'
         RETURNING id, attempts",
    )
    .bind(message.id)
    .bind(message.dedup_key)
    .bind(message.recipient_id)
    .bind(message.channel.as_str())
    .bind(message.template)
    .bind(message.language.as_str())
    .bind(message.cause_event_id)
    .bind(message.request_id)
    .bind(message.address)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = taken {
        return Ok(Claim::Taken {
            id: row.try_get("id")?,
            attempts: row.try_get("attempts")?,
        });
    }
    // Someone has it: done, in flight, or abandoned (taken over atomically, so only one of two
    // concurrent deliveries gives it up).
    let abandoned = sqlx::query(
        "UPDATE notifications SET claimed_at = now(), updated_at = now()
         WHERE dedup_key = $1 AND recipient_id = $2 AND channel = $3
           AND state = 'sending' AND claimed_at < now() - make_interval(secs => $4)
         RETURNING id, attempts",
    )
    .bind(message.dedup_key)
    .bind(message.recipient_id)
    .bind(message.channel.as_str())
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if let Some(row) = abandoned {
        return Ok(Claim::Abandoned {
            id: row.try_get("id")?,
            attempts: row.try_get("attempts")?,
        });
    }
    let state: Option<String> = sqlx::query_scalar(
        "SELECT state FROM notifications WHERE dedup_key = $1 AND recipient_id = $2 AND channel = $3",
    )
    .bind(message.dedup_key)
    .bind(message.recipient_id)
    .bind(message.channel.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(match state.as_deref() {
        Some("sending") | Some("retrying") => Claim::InFlight,
        _ => Claim::Done,
    })
}

pub async fn mark_sent(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    attempts: i32,
    provider_message_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET state = 'sent', attempts = $2, provider_message_id = $3,
                sent_at = now(), last_error = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(provider_message_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn mark_failed(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    attempts: i32,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET state = 'failed', attempts = $2, last_error = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Releases the claim after transient failures: the next delivery of the event takes it again.
pub async fn mark_retrying(
    pool: &PgPool,
    id: Uuid,
    attempts: i32,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET state = 'retrying', attempts = $2, last_error = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}
