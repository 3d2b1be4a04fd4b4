//! SQL for accounts, refresh tokens and login throttling (tables of migration 0002_auth).

use crate::input::NewAccount;
use crate::throttle::FailureState;
use crate::token::Principal;
use crate::view::{NotificationsView, UserView};
use chrono::{DateTime, Utc};
use servicehub_events::values::Role;
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
    notification_channels, telegram_chat_id, language, verification_status, active, created_at";

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
