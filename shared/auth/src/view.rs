//! How an account is shown: the body of `GET /me`, `POST /auth/register` and `POST /users`.
//! Never the password hash.

use chrono::{DateTime, Utc};
use serde::Serialize;
use servicehub_events::values::Role;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotificationsView {
    pub channels: Vec<String>,
    pub telegram_chat_id: Option<i64>,
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub display_name: String,
    pub role: Role,
    pub regions: Vec<String>,
    pub categories: Vec<String>,
    pub notifications: NotificationsView,
    /// Contractors only: `pending` until security verifies them, then `verified` or `rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<String>,
    /// The channels whose current address the owner proved (or an admin vouched for): notify
    /// sends nothing but a verification code to the others.
    pub verified_channels: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// The answer of `POST /me/contact-codes`: a code is on its way (notify sends it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ContactCodeView {
    pub channel: String,
    /// How long the code can be typed back once it arrives.
    pub expires_in_seconds: i64,
    /// How long until another code may be asked for this contact.
    pub resend_after_seconds: i64,
}

/// Quiet hours as shown: local `HH:MM` times and an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct QuietHoursView {
    pub from: String,
    pub to: String,
    pub time_zone: String,
}

/// One contact of the account and whether it is proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ContactView {
    /// `email`, `sms` (the phone) or `telegram` (the chat).
    pub channel: String,
    pub address: String,
    pub verified: bool,
}

/// The body of `GET` and `PATCH /me/notification-settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotificationSettingsView {
    /// In the order of preference; only proved contacts are written to.
    pub channels: Vec<String>,
    pub language: String,
    /// Messages that can wait are held back during them (codes are not).
    pub quiet_hours: Option<QuietHoursView>,
    pub contacts: Vec<ContactView>,
}
