//! The SQL of notifications: the request's parties, the recipients' contacts, and the
//! `notifications` table that makes every message go out at most once.

use crate::plan::{Contact, Language, OfferFacts, RequestFacts};
use chrono::{DateTime, Utc};
use servicehub_domain::quiet_hours::QuietHours;
use servicehub_events::values::{Money, NotificationChannel, Role};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::time::Duration;
use uuid::Uuid;

pub async fn request_facts(
    pool: &PgPool,
    request_id: Uuid,
) -> Result<Option<RequestFacts>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, title, region, customer_id, manager_id, contractor_id, status,
                category, city, preferred_from, preferred_to, budget_amount_minor, budget_currency,
                ARRAY(SELECT contractor_id FROM request_offers o WHERE o.request_id = r.id
                      ORDER BY contractor_id) AS offered
         FROM service_requests r WHERE id = $1",
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
            offered: row.try_get("offered")?,
            offer: OfferFacts {
                status: row.try_get("status")?,
                category: row.try_get("category")?,
                city: row.try_get("city")?,
                preferred: match (row.try_get("preferred_from")?, row.try_get("preferred_to")?) {
                    (Some(from), Some(to)) => Some((from, to)),
                    _ => None,
                },
                budget: match (
                    row.try_get::<Option<i64>, _>("budget_amount_minor")?,
                    row.try_get::<Option<String>, _>("budget_currency")?,
                ) {
                    (Some(amount_minor), Some(currency)) => Some(Money {
                        amount_minor,
                        currency,
                    }),
                    _ => None,
                },
            },
        })
    })
    .transpose()
}

pub async fn contact(pool: &PgPool, user_id: Uuid) -> Result<Option<Contact>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, role, display_name, email, phone, telegram_chat_id, notification_channels, language, active,
                quiet_hours_from, quiet_hours_to, time_zone,
                verified_channels(users) AS verified
         FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        let channels: Vec<String> = row.try_get("notification_channels")?;
        let verified: Vec<String> = row.try_get("verified")?;
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
            verified: verified
                .iter()
                .filter_map(|c| NotificationChannel::parse(c))
                .collect(),
            // A language the account no longer has a template for reads as ru.
            language: Language::parse(&language).unwrap_or(Language::Ru),
            quiet_hours: QuietHours::from_parts(
                row.try_get("quiet_hours_from")?,
                row.try_get("quiet_hours_to")?,
                row.try_get::<Option<String>, _>("time_zone")?.as_deref(),
            ),
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
    /// The rendered text, kept so that a later retry sends what this attempt would have; `None`
    /// for a text that must not be stored (a verification code: such a message is not retried).
    pub subject: Option<&'a str>,
    pub body: Option<&'a str>,
    /// The cause's correlation id and trace context, for the `notification.*` event of a retry.
    pub correlation_id: Uuid,
    pub traceparent: Option<&'a str>,
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
    let taken = insert(
        message,
        "INSERT INTO notifications (id, dedup_key, recipient_id, channel, template, language,
                                    cause_event_id, request_id, address, subject, body,
                                    correlation_id, traceparent, state, claimed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'sending', now())
         ON CONFLICT (dedup_key, recipient_id, channel) DO UPDATE
             SET state = 'sending', claimed_at = now(), updated_at = now(), address = EXCLUDED.address,
                 subject = EXCLUDED.subject, body = EXCLUDED.body, next_attempt_at = NULL
             WHERE notifications.state = 'retrying'
         RETURNING id, attempts",
        None,
    )
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

/// Releases the claim after transient failures: notify's schedule takes it again once it is due,
/// after as long as the message has been failing (at least 15 s, at most `max_delay`), so a
/// provider's outage is retried often at first and then about every `max_delay`.
pub async fn schedule_retry(
    pool: &PgPool,
    id: Uuid,
    attempts: i32,
    reason: &str,
    max_delay: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET state = 'retrying', attempts = $2, last_error = $3, updated_at = now(),
                next_attempt_at = now() + LEAST(GREATEST(now() - created_at, interval '15 seconds'),
                                                make_interval(secs => $4))
         WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(reason)
    .bind(max_delay.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// A message as the table keeps it, taken by notify's schedule.
#[derive(Debug, Clone)]
pub struct StoredNotification {
    pub id: Uuid,
    pub attempts: i32,
    pub recipient_id: Uuid,
    pub channel: NotificationChannel,
    pub template: String,
    pub language: Language,
    pub cause_event_id: Uuid,
    pub request_id: Option<Uuid>,
    pub address: String,
    /// None for rows written before the text was kept.
    pub subject: Option<String>,
    pub body: Option<String>,
    pub correlation_id: Option<Uuid>,
    pub traceparent: Option<String>,
    /// How long ago the message was first claimed.
    pub age: Duration,
}

const STORED_COLUMNS: &str = "id, attempts, recipient_id, channel, template, language, cause_event_id, \
     request_id, address, subject, body, correlation_id, traceparent, \
     EXTRACT(EPOCH FROM now() - created_at)::float8 AS age_seconds";

fn stored(row: &sqlx::postgres::PgRow) -> Result<StoredNotification, sqlx::Error> {
    let channel: String = row.try_get("channel")?;
    let language: String = row.try_get("language")?;
    let age: f64 = row.try_get("age_seconds")?;
    Ok(StoredNotification {
        id: row.try_get("id")?,
        attempts: row.try_get("attempts")?,
        recipient_id: row.try_get("recipient_id")?,
        channel: NotificationChannel::parse(&channel).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "channel".into(),
            source: format!("unknown channel {channel:?}").into(),
        })?,
        template: row.try_get("template")?,
        language: Language::parse(&language).unwrap_or(Language::Ru),
        cause_event_id: row.try_get("cause_event_id")?,
        request_id: row.try_get("request_id")?,
        address: row.try_get("address")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        correlation_id: row.try_get("correlation_id")?,
        traceparent: row.try_get("traceparent")?,
        age: Duration::from_secs_f64(age.max(0.0)),
    })
}

/// Claims up to `limit` messages whose retry is due (`sending` again, as a delivery would), the
/// longest-waiting first; rows another sweep holds are skipped.
pub async fn take_due(pool: &PgPool, limit: i64) -> Result<Vec<StoredNotification>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "UPDATE notifications SET state = 'sending', claimed_at = now(), updated_at = now(),
                next_attempt_at = NULL
         WHERE id IN (SELECT id FROM notifications
                      WHERE state = 'retrying' AND COALESCE(next_attempt_at, updated_at) <= now()
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING {STORED_COLUMNS}"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

/// Takes over up to `limit` claims left `sending` for longer than `lease` (their invocation died
/// mid-send: whether the provider got the message is unknown), for settling.
pub async fn take_abandoned(
    pool: &PgPool,
    lease: Duration,
    limit: i64,
) -> Result<Vec<StoredNotification>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "UPDATE notifications SET claimed_at = now(), updated_at = now()
         WHERE id IN (SELECT id FROM notifications
                      WHERE state = 'sending' AND claimed_at < now() - make_interval(secs => $1)
                      ORDER BY claimed_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING {STORED_COLUMNS}"
    ))
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(stored).collect()
}

/// Stores the hash of the code about to be sent for the code request of `requested_at`, if that
/// is still the contact's latest request and no code answered it yet. `false`: the event is stale
/// (a newer code was asked for, or the contact was proved) or not backed by any request.
pub async fn set_contact_code(
    pool: &PgPool,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    requested_at: DateTime<Utc>,
    code_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE contact_verifications
         SET code_hash = $5, code_expires_at = $6, failed_attempts = 0, code_sent_for = $4,
             updated_at = now()
         WHERE user_id = $1 AND channel = $2 AND address = $3 AND verified_at IS NULL
           AND code_requested_at = $4 AND code_sent_for IS DISTINCT FROM $4",
    )
    .bind(user_id)
    .bind(channel.as_str())
    .bind(address)
    .bind(requested_at)
    .bind(code_hash)
    .bind(expires_at)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Keeps `message` for the schedule to send at `until` (the recipient's quiet hours end then):
/// a `retrying` row with its text and no attempt yet. `false` when the message exists already
/// (a redelivered event).
pub async fn hold(
    pool: &PgPool,
    message: &NewNotification<'_>,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(insert(
        message,
        "INSERT INTO notifications (id, dedup_key, recipient_id, channel, template, language,
                                    cause_event_id, request_id, address, subject, body,
                                    correlation_id, traceparent, state, claimed_at,
                                    next_attempt_at, last_error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'retrying', now(), $14,
                 'held for the recipient''s quiet hours')
         ON CONFLICT (dedup_key, recipient_id, channel) DO NOTHING",
        Some(until),
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// `sql`, an `INSERT INTO notifications` whose $1 to $13 are `message`'s fields (and $14
/// `until`, when given), with them bound.
fn insert<'q>(
    message: &'q NewNotification<'q>,
    sql: &'static str,
    until: Option<DateTime<Utc>>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let query = sqlx::query(sql)
        .bind(message.id)
        .bind(message.dedup_key)
        .bind(message.recipient_id)
        .bind(message.channel.as_str())
        .bind(message.template)
        .bind(message.language.as_str())
        .bind(message.cause_event_id)
        .bind(message.request_id)
        .bind(message.address)
        .bind(message.subject)
        .bind(message.body)
        .bind(message.correlation_id)
        .bind(message.traceparent);
    match until {
        Some(until) => query.bind(until),
        None => query,
    }
}
