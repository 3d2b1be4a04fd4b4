//! `POST /auth/register` (self-registration), `POST /users` (an admin creates staff),
//! `PATCH /users/{id}` (an admin disables or enables an account) and `GET /me`.

use crate::contact;
use crate::input::{AccountChange, Enrolment, NewAccount};
use crate::password::hash_password;
use crate::service::{Audit, AuthServices, blocking};
use crate::store;
use crate::view::UserView;
use chrono::Utc;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_platform::http::{
    ApiError, Identity, RequestInfo, json_body, json_response, path_uuid,
};
use uuid::Uuid;

/// `POST /auth/register`: a customer or a contractor signs up. 201 with the account; 409 when the
/// e-mail is taken. Contractors start `pending` until security verifies them.
pub async fn register(
    auth: &AuthServices,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let body = json_body(&request)?;
    let account = NewAccount::parse(&body, Enrolment::SelfRegistration)?;
    let view = create_account(auth, account, None, &info, "user.register").await?;
    Ok(json_response(201, &view, &info, None))
}

/// `POST /users`: an admin creates a manager (with regions), a security officer or an admin.
pub async fn create_user(
    auth: &AuthServices,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = admin(&info, "only admins create users")?;
    let body = json_body(&request)?;
    let account = NewAccount::parse(&body, Enrolment::ByAdmin)?;
    let view = create_account(auth, account, Some(&identity), &info, "user.create").await?;
    Ok(json_response(201, &view, &info, None))
}

/// `PATCH /users/{id}`: an admin disables (`{"active": false}`) or enables an account. A disabled
/// account cannot log in or refresh; its refresh tokens are revoked in the same transaction, and
/// the authorizer refuses its access tokens at the latest `AuthorizerCacheSeconds` later. An admin
/// cannot disable their own account (409), so the last admin cannot lock everyone out.
pub async fn update_user(
    auth: &AuthServices,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = admin(&info, "only admins change accounts")?;
    let id = path_uuid(&request, "id", "user")?;
    let change = AccountChange::parse(&json_body(&request)?)?;
    if id == identity.user_id && !change.active {
        return Err(ApiError::Conflict {
            detail: "an admin cannot disable their own account".into(),
            current_status: None,
        });
    }
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let was_active = store::set_active(&mut tx, id, change.active)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user with id {id}")))?;
    let sessions_revoked = if change.active {
        0
    } else {
        store::revoke_user_tokens(&mut tx, id, store::RevokeReason::AccountDisabled, now).await?
    };
    let view = store::find_user(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::Internal("the account vanished".into()))?;
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
    .envelope(auth.source(), &info);
    auth.commit_with_events(tx, &[audit]).await?;
    tracing::info!(user_id = %id, active = change.active, sessions_revoked, "account changed");
    Ok(json_response(200, &view, &info, None))
}

/// The caller, if an admin; else 401 (no identity) or 403 with `why`.
fn admin(info: &RequestInfo, why: &str) -> Result<Identity, ApiError> {
    let identity = info.require_identity()?.clone();
    if identity.role != Role::Admin {
        return Err(ApiError::Forbidden(why.into()));
    }
    Ok(identity)
}

/// `GET /me`: the caller's own account.
pub async fn me(
    auth: &AuthServices,
    _request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let mut conn = auth.services.pool.acquire().await?;
    let view = store::find_user(&mut conn, identity.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
    if !view.active {
        return Err(ApiError::Forbidden("the account is disabled".into()));
    }
    Ok(json_response(200, &view, &info, None))
}

/// Hashes the password, inserts the account and its `audit.user_action` in one transaction.
async fn create_account(
    auth: &AuthServices,
    account: NewAccount,
    created_by: Option<&Identity>,
    info: &RequestInfo,
    action: &str,
) -> Result<UserView, ApiError> {
    // The bootstrap admin's e-mail is reserved: an account taking it before the first admin
    // login would lock the admin out for good (bootstrap never touches an existing account).
    // The answer is the one any taken e-mail gets.
    let taken = || ApiError::Conflict {
        detail: "an account with this e-mail already exists".into(),
        current_status: None,
    };
    if auth
        .config
        .bootstrap_admin
        .as_ref()
        .is_some_and(|admin| admin.email == account.email)
    {
        return Err(taken());
    }
    let password = account.password.clone();
    let hash = blocking(move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    if !store::insert_user(&mut tx, id, &account, &hash, now).await? {
        return Err(taken());
    }
    // Contacts a user gives themselves are claimed until proved with a code; an admin answers
    // for the ones they enter.
    let vouched = created_by.map(|_| store::VouchedBy::Admin);
    let codes = contact::claim_contacts(&mut tx, id, vouched, now).await?;
    let view = store::find_user(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::Internal("the new account vanished".into()))?;
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
    .envelope(auth.source(), info);
    let mut events = vec![audit];
    events.extend(contact::code_events(auth, info, codes));
    auth.commit_with_events(tx, &events).await?;
    tracing::info!(user_id = %id, role = %view.role, action, "account created");
    Ok(view)
}
