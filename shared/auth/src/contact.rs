//! Proving contacts: the codes asked for at registration, `POST /me/contact-codes` (send a new
//! code) and `POST /me/contact-verifications` (type it back). The rules are
//! [`servicehub_domain::contacts`]; notify makes and sends each code and keeps only its hash.
//!
//! The use cases know nothing of HTTP: the [`Caller`] and the body in; the code's or the
//! account's view or a [`ContactError`] out, whose HTTP answers are its `From` impl below.

use crate::input::{CodeConfirmation, CodeRequest};
use crate::service::{Audit, AuthServices};
use crate::store::{self, ContactChange, VouchedBy};
use crate::view::{ContactCodeView, UserView};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};
use servicehub_domain::contacts::{
    CODE_LIFETIME, CodeCheck, CodeRefusal, MAX_WRONG_CODES, RESEND_AFTER, check_code, may_send_code,
};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::Envelope;
use servicehub_events::catalog::ContactVerificationRequested;
use servicehub_events::values::{Actor, AuditOutcome, NotificationChannel};
use servicehub_platform::http::{Accepted, ApiError, Caller, Trace};
use sqlx::PgConnection;
use uuid::Uuid;

/// Why a code was not sent, or a contact not proved.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// The body is valid; the account has no contact on the channel to use it with.
    #[error("the account has no {} to verify", noun(*.0))]
    NoContact(NotificationChannel),
    #[error("this {} is verified already", noun(*.0))]
    AlreadyVerified(NotificationChannel),
    /// Within a minute of the last code, or past the address's caps.
    #[error(
        "a code was sent to this {} a moment ago, or it has had as many as it may get for now; \
         ask again in {retry_after} seconds",
        noun(*.channel)
    )]
    TooSoon {
        channel: NotificationChannel,
        retry_after: i64,
    },
    /// Expired, used up or never sent.
    #[error(
        "no live code for this {}: it expired, was used up or was never sent; ask for a new one \
         (POST /me/contact-codes)",
        noun(*.0)
    )]
    NoLiveCode(NotificationChannel),
    #[error("wrong code; {attempts_left} more tries for this code")]
    WrongCode { attempts_left: i32 },
    /// The code took [`MAX_WRONG_CODES`] wrong tries; a new one may be asked for in `retry_after`.
    #[error(
        "this code took {MAX_WRONG_CODES} wrong tries and no longer works; ask for a new one \
         (POST /me/contact-codes)"
    )]
    CodeUsedUp { retry_after: i64 },
    /// The caller's account was deleted after their token was issued.
    #[error("the account no longer exists")]
    NoLongerExists,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<ContactError> for ApiError {
    fn from(error: ContactError) -> ApiError {
        match error {
            ContactError::NoContact(_) | ContactError::AlreadyVerified(_) => ApiError::Conflict {
                detail: error.to_string(),
                current_status: None,
            },
            ContactError::TooSoon { retry_after, .. }
            | ContactError::CodeUsedUp { retry_after } => ApiError::TooManyRequests {
                detail: error.to_string(),
                retry_after,
            },
            // A code that proves nothing is a problem with the body's `code` field.
            ContactError::NoLiveCode(_) | ContactError::WrongCode { .. } => {
                let code = if matches!(error, ContactError::NoLiveCode(_)) {
                    "expired"
                } else {
                    "wrong_code"
                };
                let mut errors = ValidationErrors::default();
                errors.add("code", code, error.to_string());
                errors.into()
            }
            ContactError::NoLongerExists => ApiError::Unauthorized(error.to_string()),
            ContactError::Invalid(errors) => errors.into(),
            ContactError::Store(error) => error.into(),
        }
    }
}

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

/// The caller's address on `channel`.
async fn address_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    channel: NotificationChannel,
) -> Result<String, ContactError> {
    let contacts = store::current_contacts(conn, user_id).await?;
    match contacts.into_iter().find(|(c, _)| *c == channel) {
        Some((_, address)) => Ok(address),
        None => Err(ContactError::NoContact(channel)),
    }
}

/// The code requests' events, in the call's correlation and trace context.
pub(crate) fn code_events(
    auth: &AuthServices,
    trace: &Trace,
    codes: Vec<ContactVerificationRequested>,
) -> impl Iterator<Item = Envelope> {
    let (source, trace) = (auth.source().to_owned(), trace.clone());
    codes
        .into_iter()
        .map(move |code| trace.stamp(Envelope::new(&source, code)))
}

/// `POST /me/contact-codes`: a new code to one of the caller's contacts. 202 when asked for (notify
/// sends it); 409 when the contact is proved already or the account has none there; 429 with `Retry-After` within a minute of
/// the last code or past the address's caps.
pub async fn send_code(
    auth: &AuthServices,
    caller: Caller,
    body: Value,
) -> Result<Accepted<ContactCodeView>, ContactError> {
    let identity = &caller.identity;
    let input = CodeRequest::parse(&body)?;
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let address = address_of(&mut tx, identity.user_id, input.channel).await?;
    match ask_code(&mut tx, identity.user_id, input.channel, &address, now).await? {
        Ok(requested) => {
            let events: Vec<Envelope> = code_events(auth, &caller.trace, vec![requested]).collect();
            auth.services.commit_with_events(tx, &events).await?;
            tracing::info!(user_id = %identity.user_id, channel = %input.channel, "contact code asked for");
            let view = ContactCodeView {
                channel: input.channel.as_str().to_owned(),
                expires_in_seconds: CODE_LIFETIME.num_seconds(),
                resend_after_seconds: RESEND_AFTER.num_seconds(),
            };
            Ok(Accepted(view))
        }
        Err(CodeRefusal::AlreadyVerified) => Err(ContactError::AlreadyVerified(input.channel)),
        Err(CodeRefusal::TooSoon { retry_after }) => Err(ContactError::TooSoon {
            channel: input.channel,
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
    caller: Caller,
    body: Value,
) -> Result<UserView, ContactError> {
    let identity = &caller.identity;
    let input = CodeConfirmation::parse(&body)?;
    let channel = input.channel;
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let address = address_of(&mut tx, identity.user_id, channel).await?;
    let state = store::lock_contact(&mut tx, identity.user_id, channel, &address, now).await?;
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
                .ok_or(ContactError::NoLongerExists)?;
            let audit = Audit {
                actor: Actor::user(identity.user_id, identity.role),
                action: "user.contact_verify",
                resource_id: identity.user_id.to_string(),
                outcome: AuditOutcome::Success,
                details: json!({"channel": channel.as_str()}),
                at: now,
            }
            .envelope(auth.source(), &caller.trace);
            auth.services.commit_with_events(tx, &[audit]).await?;
            tracing::info!(user_id = %identity.user_id, %channel, "contact verified");
            Ok(view)
        }
        CodeCheck::AlreadyVerified => Err(ContactError::AlreadyVerified(channel)),
        CodeCheck::NoLiveCode => Err(ContactError::NoLiveCode(channel)),
        CodeCheck::TooManyWrong => {
            let retry_after = state
                .code_requested_at
                .map(|at| (at + RESEND_AFTER - now).num_seconds())
                .unwrap_or(0)
                .max(1);
            Err(ContactError::CodeUsedUp { retry_after })
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
            Err(ContactError::WrongCode { attempts_left })
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
