//! Sessions: `POST /auth/login`, `POST /auth/refresh`, `POST /auth/logout`.
//!
//! A login starts a refresh-token family. Each refresh rotates: the presented token is marked
//! rotated and a successor in the same family is returned with a new access token. A rotated (or
//! revoked) token presented again is refused; a rotated one also revokes its whole family, since
//! either the client or a thief holds a copy. Logout revokes the family of the given token, or every
//! family of the caller. Access tokens are stateless and live out their (short) lifetime.
//!
//! The use cases know nothing of HTTP: a [`Trace`] (login, refresh) or the [`Caller`] (logout)
//! and the body in; tokens, [`NoContent`] or a [`SessionError`] out, whose HTTP answers are its
//! `From` impl below.

use crate::bootstrap;
use crate::input::{LoginInput, LogoutInput, RefreshInput};
use crate::password::{verify_against_nothing, verify_password};
use crate::secrets::SecretError;
use crate::service::{Audit, AuthServices};
use crate::store::{self, NewRefreshToken, RevokeReason};
use crate::token::{JwtCodec, Principal, SignError, new_refresh_token, refresh_token_hash};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_platform::http::{ApiError, Caller, NoContent, Trace};
use sqlx::PgConnection;
use tokio::task::JoinError;
use uuid::Uuid;

/// Why a session was not started, renewed or ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The same answer for an unknown e-mail, a wrong password, a disabled account or one without
    /// a password: nothing tells which.
    #[error("the e-mail or the password is wrong")]
    WrongCredentials,
    /// The account is locked after too many failed logins.
    #[error("too many failed logins for this account; try again in {retry_after} seconds")]
    TooManyAttempts { retry_after: i64 },
    /// Unknown, expired, revoked or reused, or its account disabled: one answer for all.
    #[error("the refresh token is not valid; log in again")]
    InvalidRefreshToken,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The signing key could not be read.
    #[error(transparent)]
    SigningKey(#[from] SecretError),
    #[error(transparent)]
    Signing(#[from] SignError),
    #[error("the password check did not finish: {0}")]
    PasswordCheck(#[from] JoinError),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> ApiError {
        match error {
            SessionError::WrongCredentials | SessionError::InvalidRefreshToken => {
                ApiError::Unauthorized(error.to_string())
            }
            SessionError::TooManyAttempts { retry_after } => ApiError::TooManyRequests {
                detail: error.to_string(),
                retry_after,
            },
            SessionError::Invalid(errors) => errors.into(),
            SessionError::SigningKey(SecretError::Unavailable { .. }) => {
                tracing::warn!(%error, "secrets manager unavailable");
                ApiError::Unavailable("the credentials service is unavailable".into())
            }
            SessionError::SigningKey(_)
            | SessionError::Signing(_)
            | SessionError::PasswordCheck(_) => ApiError::Internal(error.to_string()),
            SessionError::Store(error) => error.into(),
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SessionUser {
    pub id: Uuid,
    pub role: Role,
    pub regions: Vec<String>,
}

/// The body of a successful login or refresh.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenResponse {
    pub token_type: &'static str,
    pub access_token: String,
    /// Seconds the access token stays valid.
    pub expires_in: i64,
    pub expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub refresh_token_expires_at: DateTime<Utc>,
    pub user: SessionUser,
}

/// Issues the access token and stores the successor refresh token of `family_id`.
async fn issue_tokens(
    conn: &mut PgConnection,
    codec: &JwtCodec,
    principal: Principal,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(TokenResponse, Uuid), SessionError> {
    let access = codec.issue(&principal, now)?;
    let (refresh_token, hash) = new_refresh_token();
    let refresh_id = Uuid::now_v7();
    let refresh_expires_at = now + codec.settings().refresh_ttl;
    store::insert_refresh_token(
        conn,
        &NewRefreshToken {
            id: refresh_id,
            family_id,
            user_id: principal.user_id,
            token_hash: &hash,
            created_at: now,
            expires_at: refresh_expires_at,
        },
    )
    .await?;
    Ok((
        TokenResponse {
            token_type: "Bearer",
            access_token: access.token,
            expires_in: (access.expires_at - now).num_seconds(),
            expires_at: access.expires_at,
            refresh_token,
            refresh_token_expires_at: refresh_expires_at,
            user: SessionUser {
                id: principal.user_id,
                role: principal.role,
                regions: principal.regions,
            },
        },
        refresh_id,
    ))
}

/// `POST /auth/login`: 200 with an access and a refresh token; 401 for any wrong credential;
/// 429 + `Retry-After` while the account is locked after too many failures.
pub async fn login(
    auth: &AuthServices,
    trace: Trace,
    body: Value,
) -> Result<TokenResponse, SessionError> {
    bootstrap::ensure_once(auth).await;
    let input = LoginInput::parse(&body)?;
    // The key first: an outage of Secrets Manager must not count as a failed login.
    let codec = auth.signing_keys.signer().await?;
    let policy = auth.config.throttle;
    let now = Utc::now();

    // The attempt counts as a failure before the password is checked, in a transaction of its
    // own that concurrent attempts on the e-mail wait for: argon2 takes tens of milliseconds, and
    // if the failure were recorded only after it, a burst of guesses would all pass the gate
    // before any was counted. A success clears the count.
    let mut tx = auth.services.pool.begin().await?;
    store::serialize_throttle(&mut tx, &input.email).await?;
    let state = store::lock_throttle(&mut tx, &input.email).await?;
    let gate = policy.gate(state.as_ref(), now);
    if let Some(retry_after) = gate.retry_after_seconds() {
        tracing::info!(retry_after, "login refused: the account is locked");
        return Err(SessionError::TooManyAttempts { retry_after });
    }
    let next = policy.record_failure(state.as_ref(), now);
    store::save_throttle(&mut tx, &input.email, &next, now).await?;
    tx.commit().await?;

    let mut conn = auth.services.pool.acquire().await?;
    let credentials = store::credentials_by_email(&mut conn, &input.email).await?;
    let usable = credentials
        .as_ref()
        .filter(|c| c.active)
        .and_then(|c| c.password_hash.clone());
    let password = input.password.clone();
    // argon2 off the async worker.
    let verified = tokio::task::spawn_blocking(move || match usable {
        Some(hash) => verify_password(&password, &hash),
        None => {
            verify_against_nothing(&password);
            false
        }
    })
    .await?;
    drop(conn);

    if !verified {
        let mut tx = auth.services.pool.begin().await?;
        store::prune_throttle(
            &mut tx,
            now - policy.window.max(policy.lock) - Duration::days(1),
        )
        .await?;
        let events: Vec<_> = credentials
            .iter()
            .map(|c| {
                Audit {
                    actor: Actor::user(c.principal.user_id, c.principal.role),
                    action: "auth.login",
                    resource_id: c.principal.user_id.to_string(),
                    outcome: AuditOutcome::Denied,
                    details: json!({
                        "reason": if c.active { "bad_credentials" } else { "account_disabled" },
                        "failures": next.failures,
                        "locked_until": next.locked_until,
                    }),
                    at: now,
                }
                .envelope(auth.source(), &trace)
            })
            .collect();
        auth.services.commit_with_events(tx, &events).await?;
        tracing::info!(
            failures = next.failures,
            locked = next.locked_until.is_some(),
            "login refused"
        );
        return Err(SessionError::WrongCredentials);
    }
    let Some(credentials) = credentials else {
        return Err(SessionError::WrongCredentials);
    };

    let principal = credentials.principal;
    let user_id = principal.user_id;
    let mut tx = auth.services.pool.begin().await?;
    store::clear_throttle(&mut tx, &input.email).await?;
    store::delete_expired_tokens(&mut tx, user_id, now).await?;
    let family_id = Uuid::now_v7();
    let (tokens, _) = issue_tokens(&mut tx, &codec, principal.clone(), family_id, now).await?;
    let audit = Audit {
        actor: Actor::user(user_id, principal.role),
        action: "auth.login",
        resource_id: user_id.to_string(),
        outcome: AuditOutcome::Success,
        details: json!({"session": family_id}),
        at: now,
    }
    .envelope(auth.source(), &trace);
    auth.services.commit_with_events(tx, &[audit]).await?;
    tracing::info!(%user_id, session = %family_id, "logged in");
    Ok(tokens)
}

/// `POST /auth/refresh`: exchanges a refresh token for a new access token and its successor.
pub async fn refresh(
    auth: &AuthServices,
    trace: Trace,
    body: Value,
) -> Result<TokenResponse, SessionError> {
    let input = RefreshInput::parse(&body)?;
    let codec = auth.signing_keys.signer().await?;
    let now = Utc::now();
    let hash = refresh_token_hash(&input.refresh_token);

    let mut tx = auth.services.pool.begin().await?;
    let Some(token) = store::lock_refresh_token(&mut tx, &hash).await? else {
        return Err(SessionError::InvalidRefreshToken);
    };
    if token.revoked_at.is_some() {
        return Err(SessionError::InvalidRefreshToken);
    }
    if token.rotated_at.is_some() {
        // Reuse of a rotated token: whoever holds the family, it is not safe any more.
        let revoked =
            store::revoke_family(&mut tx, token.family_id, RevokeReason::Reuse, now).await?;
        let credentials = store::credentials_by_id(&mut tx, token.user_id).await?;
        let events: Vec<_> = credentials
            .iter()
            .map(|c| {
                Audit {
                    actor: Actor::user(c.principal.user_id, c.principal.role),
                    action: "auth.refresh_token_reuse",
                    resource_id: token.user_id.to_string(),
                    outcome: AuditOutcome::Denied,
                    details: json!({"session": token.family_id, "revoked_tokens": revoked}),
                    at: now,
                }
                .envelope(auth.source(), &trace)
            })
            .collect();
        auth.services.commit_with_events(tx, &events).await?;
        tracing::warn!(user_id = %token.user_id, session = %token.family_id, "refresh token reused: session revoked");
        return Err(SessionError::InvalidRefreshToken);
    }
    if token.expires_at <= now {
        return Err(SessionError::InvalidRefreshToken);
    }
    let credentials = store::credentials_by_id(&mut tx, token.user_id)
        .await?
        .filter(|c| c.active);
    let Some(credentials) = credentials else {
        store::revoke_family(&mut tx, token.family_id, RevokeReason::AccountDisabled, now).await?;
        tx.commit().await?;
        return Err(SessionError::InvalidRefreshToken);
    };
    let (tokens, successor) =
        issue_tokens(&mut tx, &codec, credentials.principal, token.family_id, now).await?;
    store::mark_rotated(&mut tx, token.id, successor, now).await?;
    tx.commit().await?;
    Ok(tokens)
}

/// `POST /auth/logout` (authenticated): `{"refresh_token": ...}` ends that session,
/// `{"all": true}` every session of the caller. 204 either way; a token that is unknown or not
/// the caller's changes nothing.
pub async fn logout(
    auth: &AuthServices,
    caller: Caller,
    body: Value,
) -> Result<NoContent, SessionError> {
    let identity = &caller.identity;
    let input = LogoutInput::parse(&body)?;
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let (scope, revoked) = match input {
        LogoutInput::Session { refresh_token } => {
            let hash = refresh_token_hash(&refresh_token);
            match store::lock_refresh_token(&mut tx, &hash).await? {
                Some(token) if token.user_id == identity.user_id => (
                    "session",
                    store::revoke_family(&mut tx, token.family_id, RevokeReason::Logout, now)
                        .await?,
                ),
                _ => ("session", 0),
            }
        }
        LogoutInput::Everywhere => (
            "all",
            store::revoke_user_tokens(
                &mut tx,
                identity.user_id,
                RevokeReason::LogoutEverywhere,
                now,
            )
            .await?,
        ),
    };
    let audit = Audit {
        actor: Actor::user(identity.user_id, identity.role),
        action: "auth.logout",
        resource_id: identity.user_id.to_string(),
        outcome: AuditOutcome::Success,
        details: json!({"scope": scope, "revoked_tokens": revoked}),
        at: now,
    }
    .envelope(auth.source(), &caller.trace);
    auth.services.commit_with_events(tx, &[audit]).await?;
    Ok(NoContent)
}
