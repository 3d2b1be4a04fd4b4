//! `GET` and `PATCH /me/notification-settings`: the caller's channels, language, quiet hours,
//! phone and Telegram chat. A phone or chat set here is a claimed contact like one given at
//! registration: it gets a code and nothing else until proved.
//!
//! The use cases know nothing of HTTP: the [`Caller`] (and the body) in; the settings' view or an
//! [`AccountError`] out.

use crate::account::AccountError;
use crate::contact;
use crate::input::{Phone, SettingsChange};
use crate::service::{Audit, AuthServices};
use crate::store::{self, Settings};
use crate::view::{ContactView, NotificationSettingsView, QuietHoursView};
use chrono::Utc;
use serde_json::{Value, json};
use servicehub_domain::quiet_hours::format_time;
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::values::{Actor, AuditOutcome, NotificationChannel};
use servicehub_platform::http::Caller;
use sqlx::PgConnection;
use uuid::Uuid;

/// `GET /me/notification-settings`.
pub async fn get(
    auth: &AuthServices,
    caller: Caller,
) -> Result<NotificationSettingsView, AccountError> {
    let user_id = caller.identity.user_id;
    let mut conn = auth.services.pool.acquire().await?;
    let settings = store::settings(&mut conn, user_id, false)
        .await?
        .ok_or(AccountError::NoLongerExists)?;
    view_of(&mut conn, user_id, &settings).await
}

/// `PATCH /me/notification-settings`: changes what the body names. 422 when a channel would have
/// no contact (SMS without a phone, Telegram without a chat).
pub async fn update(
    auth: &AuthServices,
    caller: Caller,
    body: Value,
) -> Result<NotificationSettingsView, AccountError> {
    let identity = &caller.identity;
    let trace = &caller.trace;
    let change = SettingsChange::parse(&body)?;
    let now = Utc::now();
    let mut tx = auth.services.pool.begin().await?;
    let current = store::settings(&mut tx, identity.user_id, true)
        .await?
        .ok_or(AccountError::NoLongerExists)?;
    let settings = apply(&current, &change)?;
    store::save_settings(&mut tx, identity.user_id, &settings, now).await?;
    let codes = contact::claim_contacts(&mut tx, identity.user_id, None, now).await?;
    let view = view_of(&mut tx, identity.user_id, &settings).await?;
    let changed: Vec<&str> = [
        ("channels", current.channels != settings.channels),
        ("language", current.language != settings.language),
        ("quiet_hours", current.quiet_hours != settings.quiet_hours),
        ("phone", current.phone != settings.phone),
        (
            "telegram_chat_id",
            current.telegram_chat_id != settings.telegram_chat_id,
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    let audit = Audit {
        actor: Actor::user(identity.user_id, identity.role),
        action: "user.notification_settings",
        resource_id: identity.user_id.to_string(),
        outcome: AuditOutcome::Success,
        details: json!({"changed": changed, "codes_requested": codes.len()}),
        at: now,
    }
    .envelope(auth.source(), trace);
    let mut events = vec![audit];
    events.extend(contact::code_events(auth, trace, codes));
    auth.services.commit_with_events(tx, &events).await?;
    Ok(view)
}

/// The settings after `change`, if every chosen channel has its contact.
pub fn apply(current: &Settings, change: &SettingsChange) -> Result<Settings, ValidationErrors> {
    let mut next = current.clone();
    if let Some(channels) = &change.channels {
        next.channels = channels.clone();
    }
    if let Some(language) = change.language {
        next.language = language;
    }
    if let Some(quiet) = change.quiet_hours {
        next.quiet_hours = quiet;
    }
    if let Some(phone) = &change.phone {
        next.phone = phone.as_ref().map(Phone::as_str).map(str::to_owned);
    }
    if let Some(chat) = change.telegram_chat_id {
        next.telegram_chat_id = chat;
    }
    let mut errors = ValidationErrors::default();
    if next.channels.contains(&NotificationChannel::Sms) && next.phone.is_none() {
        errors.add("phone", "required", "SMS needs a phone number");
    }
    if next.channels.contains(&NotificationChannel::Telegram) && next.telegram_chat_id.is_none() {
        errors.add("telegram_chat_id", "required", "Telegram needs a chat id");
    }
    errors.finish(|| next)
}

async fn view_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    settings: &Settings,
) -> Result<NotificationSettingsView, AccountError> {
    let user = store::find_user(conn, user_id)
        .await?
        .ok_or(AccountError::NoLongerExists)?;
    // The account's contacts as `find_user` read them, each with whether it is proved.
    let contacts = [
        (NotificationChannel::Email, user.email.clone()),
        (NotificationChannel::Sms, user.phone.clone()),
        (
            NotificationChannel::Telegram,
            user.notifications.telegram_chat_id.map(|id| id.to_string()),
        ),
    ]
    .into_iter()
    .filter_map(|(channel, address)| Some((channel, address.filter(|a| !a.is_empty())?)));
    Ok(NotificationSettingsView {
        channels: settings
            .channels
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        language: settings.language.as_str().to_owned(),
        quiet_hours: settings.quiet_hours.map(|q| QuietHoursView {
            from: format_time(q.from),
            to: format_time(q.to),
            time_zone: q.time_zone.name().to_owned(),
        }),
        contacts: contacts
            .map(|(channel, address)| ContactView {
                verified: user.verified_channels.iter().any(|v| v == channel.as_str()),
                channel: channel.as_str().to_owned(),
                address,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Language;
    use serde_json::json;

    fn current() -> Settings {
        Settings {
            channels: vec![NotificationChannel::Email],
            language: Language::Ru,
            quiet_hours: None,
            phone: None,
            telegram_chat_id: None,
        }
    }

    fn change(body: serde_json::Value) -> SettingsChange {
        SettingsChange::parse(&body).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    #[test]
    fn a_channel_needs_its_contact_given_now_or_before() {
        let sms = change(json!({"channels": ["sms", "email"]}));
        let errors = apply(&current(), &sms).unwrap_err();
        assert_eq!(errors.0[0].field, "phone");
        let with_phone = change(json!({"channels": ["sms"], "phone": "+7 916 123-45-67"}));
        let next = apply(&current(), &with_phone).unwrap();
        assert_eq!(next.phone.as_deref(), Some("+79161234567"));
        // Clearing the chat the preferred channel needs is refused.
        let mut telegram = current();
        telegram.channels = vec![NotificationChannel::Telegram];
        telegram.telegram_chat_id = Some(42);
        let errors = apply(&telegram, &change(json!({"telegram_chat_id": null}))).unwrap_err();
        assert_eq!(errors.0[0].field, "telegram_chat_id");
    }

    #[test]
    fn only_what_the_body_names_changes_and_null_clears() {
        let mut quiet = current();
        quiet.language = Language::En;
        let next = apply(
            &quiet,
            &change(json!({"quiet_hours": {"from": "22:00", "to": "07:30", "time_zone": "Asia/Yekaterinburg"}})),
        )
        .unwrap();
        assert_eq!(next.language, Language::En);
        let hours = next.quiet_hours.unwrap();
        assert_eq!(format_time(hours.to), "07:30");
        let cleared = apply(&next, &change(json!({"quiet_hours": null}))).unwrap();
        assert_eq!(cleared.quiet_hours, None);
        assert_eq!(apply(&next, &change(json!({}))).unwrap(), next);
        for bad in [
            json!({"language": null}),
            json!({"language": "de"}),
            json!({"channels": []}),
            json!({"channels": null}),
            json!({"phone": 7}),
            json!({"quiet_hours": {"from": "22:00"}}),
            json!({"email": "x@y.z"}),
        ] {
            assert!(SettingsChange::parse(&bad).is_err(), "{bad}");
        }
    }
}
