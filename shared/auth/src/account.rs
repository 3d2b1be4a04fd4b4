//! `POST /auth/register` (self-registration), `POST /users` (an admin creates staff),
//! `PATCH /users/{id}` (an admin disables or enables an account) and `GET /me`.
//!
//! The use cases know nothing of HTTP: a [`Trace`] (register) or the [`Caller`], the user's id
//! and the body in; the account's view or an [`AccountError`] out, whose HTTP answers are its
//! `From` impl below. [`crate::settings`] fails with it too.

use crate::contact;
use crate::input::{AccountChange, Enrolment, NewAccount};
use crate::password::hash_password;
use crate::service::{Audit, AuthServices};
use crate::store;
use crate::view::UserView;
use chrono::Utc;
use serde_json::{Value, json};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_platform::http::{ApiError, Caller, Created, Identity, Trace};
use uuid::Uuid;

/// Why an account, or its settings, could not be created, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// What the caller, not being an admin, may not do: "create users".
    #[error("only admins {0}")]
    NotAdmin(&'static str),
    #[error("no user with id {0}")]
    NoSuchUser(Uuid),
    /// So that the last admin cannot lock everyone out.
    #[error("an admin cannot disable their own account")]
    CannotDisableSelf,
    /// The bootstrap admin's e-mail, reserved before the first admin login, included.
    #[error("an account with this e-mail already exists")]
    EmailTaken,
    /// The caller's account was deleted after their token was issued.
    #[error("the account no longer exists")]
    NoLongerExists,
    #[error("the account is disabled")]
    Disabled,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("the password could not be hashed: {0}")]
    PasswordHash(String),
    /// An account written in this transaction could not be read back in it.
    #[error("the account {0} vanished")]
    Vanished(Uuid),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> ApiError {
        match error {
            AccountError::NotAdmin(_) | AccountError::Disabled => {
                ApiError::Forbidden(error.to_string())
            }
            AccountError::NoSuchUser(_) => ApiError::NotFound(error.to_string()),
            AccountError::CannotDisableSelf | AccountError::EmailTaken => ApiError::Conflict {
                detail: error.to_string(),
                current_status: None,
            },
            AccountError::NoLongerExists => ApiError::Unauthorized(error.to_string()),
            AccountError::Invalid(errors) => errors.into(),
            AccountError::PasswordHash(_) | AccountError::Vanished(_) => {
                ApiError::Internal(error.to_string())
            }
            AccountError::Store(error) => error.into(),
        }
    }
}

/// `POST /auth/register`: a customer or a contractor signs up. 201 with the account; 409 when the
/// e-mail is taken. Contractors start `pending` until security verifies them.
pub async fn register(
    auth: &AuthServices,
    trace: Trace,
    body: Value,
) -> Result<Created<UserView>, AccountError> {
    let account = NewAccount::parse(&body, Enrolment::SelfRegistration)?;
    let view = create_account(auth, account, None, &trace, "user.register").await?;
    Ok(Created {
        view,
        location: None,
    })
}

/// `POST /users`: an admin creates a manager (with regions), a security officer or an admin.
pub async fn create_user(
    auth: &AuthServices,
    caller: Caller,
    body: Value,
) -> Result<Created<UserView>, AccountError> {
    let identity = admin(&caller, "create users")?;
    let account = NewAccount::parse(&body, Enrolment::ByAdmin)?;
    let view = create_account(auth, account, Some(identity), &caller.trace, "user.create").await?;
    Ok(Created {
        view,
        location: None,
    })
}

/// `PATCH /users/{id}`: an admin disables (`{"active": false}`) or enables an account. A disabled
/// account cannot log in or refresh; its refresh tokens are revoked in the same transaction, and
/// the authorizer refuses its access tokens at the latest `AuthorizerCacheSeconds` later. An admin
/// cannot disable their own account (409), so the last admin cannot lock everyone out.
pub async fn update_user(
    auth: &AuthServices,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<UserView, AccountError> {
    let identity = admin(&caller, "change accounts")?;
    let change = AccountChange::parse(&body)?;
    if id == identity.user_id && !change.active {
        return Err(AccountError::CannotDisableSelf);
    }
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let was_active = store::set_active(&mut tx, id, change.active)
        .await?
        .ok_or(AccountError::NoSuchUser(id))?;
    let sessions_revoked = if change.active {
        0
    } else {
        store::revoke_user_tokens(&mut tx, id, store::RevokeReason::AccountDisabled, now).await?
    };
    let view = store::find_user(&mut tx, id)
        .await?
        .ok_or(AccountError::Vanished(id))?;
    let audit = Audit {
        actor: Actor::user(identity.user_id, identity.role),
        action: if change.active {
            "user.enable"
        } else {
            "user.disable"
        },
        resource_id: id.to_string(),
        outcome: AuditOutcome::Success,
        details: json!({
            "active": change.active,
            "was_active": was_active,
            "sessions_revoked": sessions_revoked,
        }),
        at: now,
    }
    .envelope(auth.source(), &caller.trace);
    auth.services.commit_with_events(tx, &[audit]).await?;
    tracing::info!(user_id = %id, active = change.active, sessions_revoked, "account changed");
    Ok(view)
}

/// The caller, if an admin; else what they may not do.
fn admin<'a>(caller: &'a Caller, may_not: &'static str) -> Result<&'a Identity, AccountError> {
    if caller.identity.role != Role::Admin {
        return Err(AccountError::NotAdmin(may_not));
    }
    Ok(&caller.identity)
}

/// `GET /me`: the caller's own account.
pub async fn me(auth: &AuthServices, caller: Caller) -> Result<UserView, AccountError> {
    let mut conn = auth.services.pool.acquire().await?;
    let view = store::find_user(&mut conn, caller.identity.user_id)
        .await?
        .ok_or(AccountError::NoLongerExists)?;
    if !view.active {
        return Err(AccountError::Disabled);
    }
    Ok(view)
}

/// Hashes the password, inserts the account and its `audit.user_action` in one transaction.
async fn create_account(
    auth: &AuthServices,
    account: NewAccount,
    created_by: Option<&Identity>,
    trace: &Trace,
    action: &str,
) -> Result<UserView, AccountError> {
    // The bootstrap admin's e-mail is reserved: an account taking it before the first admin
    // login would lock the admin out for good (bootstrap never touches an existing account).
    // The answer is the one any taken e-mail gets.
    if auth
        .config
        .bootstrap_admin
        .as_ref()
        .is_some_and(|admin| admin.email == account.email)
    {
        return Err(AccountError::EmailTaken);
    }
    let password = account.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountError::PasswordHash(e.to_string()))?
        .map_err(|e| AccountError::PasswordHash(e.to_string()))?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    if !store::insert_user(&mut tx, id, &account, &hash, now).await? {
        return Err(AccountError::EmailTaken);
    }
    // Contacts a user gives themselves are claimed until proved with a code; an admin answers
    // for the ones they enter.
    let vouched = created_by.map(|_| store::VouchedBy::Admin);
    let codes = contact::claim_contacts(&mut tx, id, vouched, now).await?;
    let view = store::find_user(&mut tx, id)
        .await?
        .ok_or(AccountError::Vanished(id))?;
    let actor = match created_by {
        Some(admin) => Actor::user(admin.user_id, admin.role),
        None => Actor::user(id, view.role),
    };
    let audit = Audit {
        actor,
        action,
        resource_id: id.to_string(),
        outcome: AuditOutcome::Success,
        details: json!({
            "role": view.role,
            "regions": view.regions,
            "categories": view.categories,
            "channels": view.notifications.channels,
        }),
        at: now,
    }
    .envelope(auth.source(), trace);
    let mut events = vec![audit];
    events.extend(contact::code_events(auth, trace, codes));
    auth.services.commit_with_events(tx, &events).await?;
    tracing::info!(user_id = %id, role = %view.role, action, "account created");
    Ok(view)
}
