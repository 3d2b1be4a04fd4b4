//! SQL for accounts, refresh tokens and login throttling (tables of migration 0002_auth).

use crate::input::Language;
use crate::input::NewAccount;
use crate::throttle::FailureState;
use crate::token::Principal;
use crate::view::{NotificationsView, UserView};
use chrono::{DateTime, Utc};
use servicehub_domain::contacts::ContactState;
use servicehub_domain::quiet_hours::QuietHours;
use servicehub_events::values::{NotificationChannel, Role};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown value {value:?}").into(),
    }
}

fn role_of(row: &PgRow) -> Result<Role, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Role::parse(&role).ok_or_else(|| decode_error("role", &role))
}

/// Inserts a new account. `false` when the e-mail is taken (nothing was written).
pub async fn insert_user(
    conn: &mut PgConnection,
    id: Uuid,
    account: &NewAccount,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let regions: Vec<&str> = account.regions.iter().map(|r| r.as_str()).collect();
    let categories: Vec<&str> = account.categories.iter().map(|c| c.as_str()).collect();
    let channels: Vec<&str> = account
        .notifications
        .channels
        .iter()
        .map(|c| c.as_str())
        .collect();
    // Any unique violation is the e-mail (the primary key is a fresh UUIDv7).
    let inserted = sqlx::query(
        "INSERT INTO users (id, role, display_name, email, regions, active, created_at, phone,
            password_hash, categories, notification_channels, telegram_chat_id, language, updated_at)
         VALUES ($1, $2, $3, $4, $5, true, $6, $7, $8, $9, $10, $11, $12, $6)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(account.role.as_str())
    .bind(account.display_name.as_str())
    .bind(account.email.as_str())
    .bind(&regions)
    .bind(now)
    .bind(account.phone.as_ref().map(|p| p.as_str()))
    .bind(password_hash)
    .bind(&categories)
    .bind(&channels)
    .bind(account.notifications.telegram_chat_id)
    .bind(account.notifications.language.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

const USER_COLUMNS: &str = "id, email, phone, display_name, role, regions, categories,
    notification_channels, telegram_chat_id, language, verification_status, active, created_at,
    verified_channels(users) AS verified_channels";

fn user_from_row(row: &PgRow) -> Result<UserView, sqlx::Error> {
    let role = role_of(row)?;
    Ok(UserView {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        display_name: row.try_get("display_name")?,
        role,
        regions: row.try_get("regions")?,
        categories: row.try_get("categories")?,
        notifications: NotificationsView {
            channels: row.try_get("notification_channels")?,
            telegram_chat_id: row.try_get("telegram_chat_id")?,
            language: row.try_get("language")?,
        },
        verification_status: if role == Role::Contractor {
            row.try_get("verification_status")?
        } else {
            None
        },
        verified_channels: row.try_get("verified_channels")?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
    })
}

pub async fn find_user(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserView>, sqlx::Error> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|row| user_from_row(&row))
        .transpose()
}

/// What login needs to know about an account.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub principal: Principal,
    /// `None` for accounts that cannot log in with a password.
    pub password_hash: Option<String>,
    pub active: bool,
}

fn credentials_from_row(row: &PgRow) -> Result<Credentials, sqlx::Error> {
    Ok(Credentials {
        principal: Principal {
            user_id: row.try_get("id")?,
            role: role_of(row)?,
            regions: row.try_get("regions")?,
        },
        password_hash: row.try_get("password_hash")?,
        active: row.try_get("active")?,
    })
}

pub async fn credentials_by_email(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query("SELECT id, role, regions, password_hash, active FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(conn)
        .await?
        .map(|row| credentials_from_row(&row))
        .transpose()
}

/// The account's current role and regions (a refresh issues tokens with what is true now).
pub async fn credentials_by_id(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query("SELECT id, role, regions, password_hash, active FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|row| credentials_from_row(&row))
        .transpose()
}

/// Sets the account's `active` flag; whether it was active before (`None`: no such account).
pub async fn set_active(
    conn: &mut PgConnection,
    id: Uuid,
    active: bool,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET active = $2, updated_at = now()
         FROM (SELECT active AS was_active FROM users WHERE id = $1 FOR UPDATE) AS before
         WHERE id = $1
         RETURNING before.was_active",
    )
    .bind(id)
    .bind(active)
    .fetch_optional(conn)
    .await
}

pub async fn email_exists(conn: &mut PgConnection, email: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(conn)
        .await?
        .is_some())
}

// ---- refresh tokens ----

/// Why a family of refresh tokens was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    LogoutEverywhere,
    /// A rotated token was presented again: it leaked, so the whole family goes.
    Reuse,
    AccountDisabled,
}

impl RevokeReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::LogoutEverywhere => "logout_all",
            RevokeReason::Reuse => "reuse",
            RevokeReason::AccountDisabled => "account_disabled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub struct NewRefreshToken<'a> {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_refresh_token(
    conn: &mut PgConnection,
    token: &NewRefreshToken<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id)
    .bind(token.family_id)
    .bind(token.user_id)
    .bind(token.token_hash)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The token with this hash, locked until the transaction ends (one rotation at a time).
pub async fn lock_refresh_token(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<RefreshTokenRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, family_id, user_id, expires_at, rotated_at, revoked_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(RefreshTokenRow {
            id: row.try_get("id")?,
            family_id: row.try_get("family_id")?,
            user_id: row.try_get("user_id")?,
            expires_at: row.try_get("expires_at")?,
            rotated_at: row.try_get("rotated_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    })
    .transpose()
}

pub async fn mark_rotated(
    conn: &mut PgConnection,
    id: Uuid,
    replaced_by: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET rotated_at = $2, replaced_by = $3 WHERE id = $1")
        .bind(id)
        .bind(now)
        .bind(replaced_by)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every token of the family not yet revoked; how many.
pub async fn revoke_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    reason: RevokeReason,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = $3
         WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(now)
    .bind(reason.as_str())
    .execute(conn)
    .await?
    .rows_affected())
}

/// Revokes every live token of the user; how many.
pub async fn revoke_user_tokens(
    conn: &mut PgConnection,
    user_id: Uuid,
    reason: RevokeReason,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason.as_str())
    .execute(conn)
    .await?
    .rows_affected())
}

/// Deletes the user's tokens that expired before `before` (they can no longer be used anyway).
pub async fn delete_expired_tokens(
    conn: &mut PgConnection,
    user_id: Uuid,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_at < $2")
            .bind(user_id)
            .bind(before)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

// ---- login throttling ----

/// The failure state of `email`, locked until the transaction ends.
/// Makes concurrent logins of one e-mail wait for each other until the caller's transaction
/// ends, whether or not the e-mail has a throttle row yet (a row lock cannot cover a row that
/// does not exist). A transaction-scoped advisory lock on the e-mail's hash: a collision only
/// makes two e-mails wait for each other.
pub async fn serialize_throttle(conn: &mut PgConnection, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('login_throttle:' || $1, 0))")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn lock_throttle(
    conn: &mut PgConnection,
    email: &str,
) -> Result<Option<FailureState>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT failures, window_started_at, locked_until FROM login_throttle
         WHERE email = $1 FOR UPDATE",
    )
    .bind(email)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(FailureState {
            failures: row.try_get::<i32, _>("failures")?.max(0) as u32,
            window_started_at: row.try_get("window_started_at")?,
            locked_until: row.try_get("locked_until")?,
        })
    })
    .transpose()
}

pub async fn save_throttle(
    conn: &mut PgConnection,
    email: &str,
    state: &FailureState,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_throttle (email, failures, window_started_at, locked_until, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (email) DO UPDATE SET failures = EXCLUDED.failures,
            window_started_at = EXCLUDED.window_started_at, locked_until = EXCLUDED.locked_until,
            updated_at = EXCLUDED.updated_at",
    )
    .bind(email)
    .bind(state.failures.min(i32::MAX as u32) as i32)
    .bind(state.window_started_at)
    .bind(state.locked_until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn clear_throttle(conn: &mut PgConnection, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE email = $1")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops up to 100 states untouched since `before`, so that guessed e-mails do not pile up.
pub async fn prune_throttle(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM login_throttle WHERE email IN (
            SELECT email FROM login_throttle WHERE updated_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)",
    )
    .bind(before)
    .execute(conn)
    .await?
    .rows_affected())
}

// ---- contacts (migration 0010_contact_verification) ----

/// How an account's contact came to be trusted, when it did not prove it with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VouchedBy {
    Admin,
    Bootstrap,
}

/// The account's contacts: (channel, address as stored on the account).
pub async fn current_contacts(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<Vec<(NotificationChannel, String)>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT email, phone, telegram_chat_id FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?
    else {
        return Ok(Vec::new());
    };
    let mut contacts = Vec::new();
    if let Some(email) = row
        .try_get::<Option<String>, _>("email")?
        .filter(|e| !e.is_empty())
    {
        contacts.push((NotificationChannel::Email, email));
    }
    if let Some(phone) = row
        .try_get::<Option<String>, _>("phone")?
        .filter(|p| !p.is_empty())
    {
        contacts.push((NotificationChannel::Sms, phone));
    }
    if let Some(chat) = row.try_get::<Option<i64>, _>("telegram_chat_id")? {
        contacts.push((NotificationChannel::Telegram, chat.to_string()));
    }
    Ok(contacts)
}

/// Records that the account claims a contact (unproved), or that it is vouched for; a row that
/// exists is left as it is. `true` when the row is new.
pub async fn claim_contact(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    vouched: Option<VouchedBy>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let verified_by = vouched.map(|v| match v {
        VouchedBy::Admin => "admin",
        VouchedBy::Bootstrap => "bootstrap",
    });
    Ok(sqlx::query(
        "INSERT INTO contact_verifications (user_id, channel, address, verified_at, verified_by,
                                            created_at, updated_at)
         VALUES ($1, $2, $3, CASE WHEN $4::text IS NULL THEN NULL ELSE $5 END, $4, $5, $5)
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(channel.as_str())
    .bind(address)
    .bind(verified_by)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Locks the contact's row (claiming it first if another writer created the account) and reads
/// its state. Codes for one address are serialised across accounts by an advisory lock, so the
/// address's caps hold under concurrent requests.
pub async fn lock_contact(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    now: DateTime<Utc>,
) -> Result<ContactState, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("contact:{}:{address}", channel.as_str()))
        .execute(&mut *conn)
        .await?;
    claim_contact(&mut *conn, user_id, channel, address, None, now).await?;
    let row = sqlx::query(
        "SELECT verified_at IS NOT NULL AS verified, code_hash, code_expires_at, failed_attempts,
                code_requested_at
         FROM contact_verifications WHERE user_id = $1 AND channel = $2 AND address = $3
         FOR UPDATE",
    )
    .bind(user_id)
    .bind(channel.as_str())
    .bind(address)
    .fetch_one(conn)
    .await?;
    Ok(ContactState {
        verified: row.try_get("verified")?,
        code_hash: row.try_get("code_hash")?,
        code_expires_at: row.try_get("code_expires_at")?,
        failed_attempts: row.try_get("failed_attempts")?,
        code_requested_at: row.try_get("code_requested_at")?,
    })
}

/// When codes were asked for this address in the last day, by any account.
pub async fn recent_code_requests(
    conn: &mut PgConnection,
    channel: NotificationChannel,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT requested_at FROM contact_code_requests
         WHERE channel = $1 AND address = $2 AND requested_at > $3 - interval '1 day'",
    )
    .bind(channel.as_str())
    .bind(address)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Records a code asked for (the caps count it) by address; [`ContactChange::CodeRequested`]
/// records it on the contact.
pub async fn record_code_request(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contact_code_requests (id, channel, address, user_id, requested_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(channel.as_str())
    .bind(address)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    change_contact(
        conn,
        user_id,
        channel,
        address,
        ContactChange::CodeRequested,
        now,
    )
    .await
}

/// What happens to a contact's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactChange {
    /// A new code was asked for (the resend pace counts from now).
    CodeRequested,
    /// A wrong code counted against the live code.
    WrongCode,
    /// Proved by its code: verified, and the code is spent.
    Verified,
}

pub async fn change_contact(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    change: ContactChange,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let set = match change {
        ContactChange::CodeRequested => "code_requested_at = $4",
        ContactChange::WrongCode => "failed_attempts = failed_attempts + 1",
        ContactChange::Verified => {
            "verified_at = $4, verified_by = 'code', code_hash = NULL, code_expires_at = NULL"
        }
    };
    sqlx::query(&format!(
        "UPDATE contact_verifications SET {set}, updated_at = $4
         WHERE user_id = $1 AND channel = $2 AND address = $3"
    ))
    .bind(user_id)
    .bind(channel.as_str())
    .bind(address)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets code requests older than a day (the longest cap's window).
pub async fn prune_code_requests(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM contact_code_requests WHERE requested_at < $1 - interval '1 day'")
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

// ---- notification settings (migration 0011_notification_settings) ----

/// How the account wants to be told, and its phone and chat (the e-mail is its login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub channels: Vec<NotificationChannel>,
    pub language: Language,
    pub quiet_hours: Option<QuietHours>,
    pub phone: Option<String>,
    pub telegram_chat_id: Option<i64>,
}

/// The account's settings; with `for_update`, its row locked for a change.
pub async fn settings(
    conn: &mut PgConnection,
    user_id: Uuid,
    for_update: bool,
) -> Result<Option<Settings>, sqlx::Error> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT notification_channels, language, quiet_hours_from, quiet_hours_to, time_zone,
                phone, telegram_chat_id
         FROM users WHERE id = $1{lock}"
    );
    let Some(row) = sqlx::query(&sql).bind(user_id).fetch_optional(conn).await? else {
        return Ok(None);
    };
    let channels: Vec<String> = row.try_get("notification_channels")?;
    let language: String = row.try_get("language")?;
    let zone: Option<String> = row.try_get("time_zone")?;
    Ok(Some(Settings {
        channels: channels
            .iter()
            .filter_map(|c| NotificationChannel::parse(c))
            .collect(),
        language: Language::parse(&language).unwrap_or(Language::Ru),
        quiet_hours: QuietHours::from_parts(
            row.try_get("quiet_hours_from")?,
            row.try_get("quiet_hours_to")?,
            zone.as_deref(),
        ),
        phone: row
            .try_get::<Option<String>, _>("phone")?
            .filter(|p| !p.is_empty()),
        telegram_chat_id: row.try_get("telegram_chat_id")?,
    }))
}

pub async fn save_settings(
    conn: &mut PgConnection,
    user_id: Uuid,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let channels: Vec<&str> = settings.channels.iter().map(|c| c.as_str()).collect();
    let quiet = settings.quiet_hours;
    sqlx::query(
        "UPDATE users SET notification_channels = $2, language = $3, quiet_hours_from = $4,
                          quiet_hours_to = $5, time_zone = $6, phone = $7, telegram_chat_id = $8,
                          updated_at = $9
         WHERE id = $1",
    )
    .bind(user_id)
    .bind(&channels)
    .bind(settings.language.as_str())
    .bind(quiet.map(|q| q.from))
    .bind(quiet.map(|q| q.to))
    .bind(quiet.map(|q| q.time_zone.name().to_owned()))
    .bind(settings.phone.as_deref())
    .bind(settings.telegram_chat_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
