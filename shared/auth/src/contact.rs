//! Proving contacts: the codes asked for at registration, `POST /me/contact-codes` (send a new
//! code) and `POST /me/contact-verifications` (type it back). The rules are
//! [`servicehub_domain::contacts`]; notify makes and sends each code and keeps only its hash.

use crate::input::{CodeConfirmation, CodeRequest};
use crate::service::{Audit, AuthServices};
use crate::store::{self, ContactChange, VouchedBy};
use crate::view::ContactCodeView;
use chrono::{DateTime, SubsecRound, Utc};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use servicehub_domain::contacts::{
    CODE_LIFETIME, CodeCheck, CodeRefusal, MAX_WRONG_CODES, RESEND_AFTER, check_code, may_send_code,
};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::Envelope;
use servicehub_events::catalog::ContactVerificationRequested;
use servicehub_events::values::{Actor, AuditOutcome, NotificationChannel};
use servicehub_platform::http::{ApiError, RequestInfo, json_body, json_response};
use sqlx::PgConnection;
use uuid::Uuid;

/// The account's contacts not recorded yet (all of a new account's; a phone or chat just set):
/// vouched for (an admin's or the operator's), or claimed, with a code asked for each one its
/// address's caps allow. The events to publish with the change.
pub(crate) async fn claim_contacts(
    conn: &mut PgConnection,
    user_id: Uuid,
    vouched: Option<VouchedBy>,
    now: DateTime<Utc>,
) -> Result<Vec<ContactVerificationRequested>, sqlx::Error> {
    let mut requested = Vec::new();
    for (channel, address) in store::current_contacts(&mut *conn, user_id).await? {
        let new =
            store::claim_contact(&mut *conn, user_id, channel, &address, vouched, now).await?;
        if new && vouched.is_none() {
            // A capped address gets no code now; its owner can ask for one later.
            if let Ok(event) = ask_code(&mut *conn, user_id, channel, &address, now).await? {
                requested.push(event);
            }
        }
    }
    Ok(requested)
}

/// Asks for a code to `address` if the rules allow it now.
async fn ask_code(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Result<ContactVerificationRequested, CodeRefusal>, sqlx::Error> {
    // Microseconds, as Postgres keeps it: notify matches the event's time to the row's.
    let now = now.trunc_subsecs(6);
    let state = store::lock_contact(&mut *conn, user_id, channel, address, now).await?;
    let recent = store::recent_code_requests(&mut *conn, channel, address, now).await?;
    if let Err(refusal) = may_send_code(&state, &recent, now) {
        return Ok(Err(refusal));
    }
    store::record_code_request(&mut *conn, user_id, channel, address, now).await?;
    store::prune_code_requests(conn, now).await?;
    Ok(Ok(ContactVerificationRequested {
        user_id,
        channel,
        requested_at: now,
    }))
}

/// The caller's address on `channel`, or a 409 naming what the account lacks (the body is valid;
/// the account is not in a state to use it).
async fn address_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
) -> Result<String, ApiError> {
    let contacts = store::current_contacts(conn, user_id).await?;
    match contacts.into_iter().find(|(c, _)| *c == channel) {
        Some((_, address)) => Ok(address),
        None => Err(ApiError::Conflict {
            detail: format!("the account has no {} to verify", noun(channel)),
            current_status: None,
        }),
    }
}

/// The code requests' events, in the request's correlation and trace context.
pub(crate) fn code_events(
    auth: &AuthServices,
    info: &RequestInfo,
    codes: Vec<ContactVerificationRequested>,
) -> impl Iterator<Item = Envelope> {
    let (source, correlation, trace) = (
        auth.source().to_owned(),
        info.correlation_id,
        info.traceparent.clone(),
    );
    codes.into_iter().map(move |code| {
        Envelope::new(&source, code).with_context(correlation, None, trace.clone())
    })
}

/// `POST /me/contact-codes`: a new code to one of the caller's contacts. 202 when asked for (notify
/// sends it); 409 when the contact is proved already or the account has none there; 429 with `Retry-After` within a minute of
/// the last code or past the address's caps.
pub async fn send_code(
    auth: &AuthServices,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?.clone();
    let input = CodeRequest::parse(&json_body(&request)?)?;
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let address = address_of(&mut tx, identity.user_id, input.channel).await?;
    match ask_code(&mut tx, identity.user_id, input.channel, &address, now).await? {
        Ok(requested) => {
            let events: Vec<Envelope> = code_events(auth, &info, vec![requested]).collect();
            auth.commit_with_events(tx, &events).await?;
            tracing::info!(user_id = %identity.user_id, channel = %input.channel, "contact code asked for");
            let view = ContactCodeView {
                channel: input.channel.as_str().to_owned(),
                expires_in_seconds: CODE_LIFETIME.num_seconds(),
                resend_after_seconds: RESEND_AFTER.num_seconds(),
            };
            Ok(json_response(202, &view, &info, None))
        }
        Err(CodeRefusal::AlreadyVerified) => Err(already_verified(input.channel)),
        Err(CodeRefusal::TooSoon { retry_after }) => Err(ApiError::TooManyRequests {
            detail: format!(
                "a code was sent to this {} a moment ago, or it has had as many as it may get \
                 for now; ask again in {retry_after} seconds",
                noun(input.channel)
            ),
            retry_after,
        }),
    }
}

/// `POST /me/contact-verifications`: the caller types back the code. 200 with the account (the
/// channel now among `verified_channels`); 422 for a wrong, expired or missing code; 429 once the
/// code has taken [`MAX_WRONG_CODES`] wrong tries (a new one must be asked for); 409 when proved
/// already.
pub async fn verify(
    auth: &AuthServices,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?.clone();
    let input = CodeConfirmation::parse(&json_body(&request)?)?;
    let channel = input.channel;
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let address = address_of(&mut tx, identity.user_id, channel).await?;
    let state = store::lock_contact(&mut tx, identity.user_id, channel, &address, now).await?;
    let code_error = |code, message: String| {
        let mut errors = ValidationErrors::default();
        errors.add("code", code, message);
        ApiError::from(errors)
    };
    match check_code(
        &state,
        &input.code,
        identity.user_id,
        channel,
        &address,
        now,
    ) {
        CodeCheck::Verified => {
            store::change_contact(
                &mut tx,
                identity.user_id,
                channel,
                &address,
                ContactChange::Verified,
                now,
            )
            .await?;
            let view = store::find_user(&mut tx, identity.user_id)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("the account no longer exists".into()))?;
            let audit = Audit {
                actor: Actor::user(identity.user_id, identity.role),
                action: "user.contact_verify",
                resource_id: identity.user_id.to_string(),
                outcome: AuditOutcome::Success,
                details: json!({"channel": channel.as_str()}),
                at: now,
            }
            .envelope(auth.source(), &info);
            auth.commit_with_events(tx, &[audit]).await?;
            tracing::info!(user_id = %identity.user_id, %channel, "contact verified");
            Ok(json_response(200, &view, &info, None))
        }
        CodeCheck::AlreadyVerified => Err(already_verified(channel)),
        CodeCheck::NoLiveCode => Err(code_error(
            "expired",
            format!(
                "no live code for this {}: it expired, was used up or was never sent; ask for a \
                 new one (POST /me/contact-codes)",
                noun(channel)
            ),
        )),
        CodeCheck::TooManyWrong => {
            let retry_after = state
                .code_requested_at
                .map(|at| (at + RESEND_AFTER - now).num_seconds())
                .unwrap_or(0)
                .max(1);
            Err(ApiError::TooManyRequests {
                detail: format!(
                    "this code took {MAX_WRONG_CODES} wrong tries and no longer works; ask for a \
                     new one (POST /me/contact-codes)"
                ),
                retry_after,
            })
        }
        CodeCheck::Wrong { attempts_left } => {
            store::change_contact(
                &mut tx,
                identity.user_id,
                channel,
                &address,
                ContactChange::WrongCode,
                now,
            )
            .await?;
            tx.commit().await?;
            tracing::info!(user_id = %identity.user_id, %channel, attempts_left, "wrong contact code");
            Err(code_error(
                "wrong_code",
                format!("wrong code; {attempts_left} more tries for this code"),
            ))
        }
    }
}

fn noun(channel: NotificationChannel) -> &'static str {
    match channel {
        NotificationChannel::Email => "e-mail address",
        NotificationChannel::Sms => "phone number",
        NotificationChannel::Telegram => "Telegram chat id",
    }
}

fn already_verified(channel: NotificationChannel) -> ApiError {
    ApiError::Conflict {
        detail: format!("this {} is verified already", noun(channel)),
        current_status: None,
    }
}
