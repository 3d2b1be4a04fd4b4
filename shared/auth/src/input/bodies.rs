//! The documented shape of each auth request body (what the OpenAPI document shows), beside the
//! parsers in [`super`] that read them by hand, every field error at once; the tests hold each
//! parser to its type (`check_parser_against_schema`) and the sample payloads under `events/` to
//! the types.

use schemars::JsonSchema;
use serde::Deserialize;
use servicehub_domain::request::SLUG;
use servicehub_domain::validation::ONE_LINE;
use servicehub_events::values::{Language, NotificationChannel};

/// A refresh token as the API reads it: trimmed, 1 to 256 visible ASCII characters.
pub const REFRESH_TOKEN: &str = r"^\s*[\x21-\x7E]{1,256}\s*$";
/// A new password: no control characters, and not one character repeated.
pub const NEW_PASSWORD: &str = r"^(?!(.)\1*$)[^\x00-\x1F\x7F-\x9F]+$";

/// How the user wants to be told; absent fields take their defaults (email, ru).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "if" = {"properties": {"channels": {"type": "array", "contains": {"const": "telegram"}}}, "required": ["channels"]},
    "then" = {"required": ["telegram_chat_id"], "properties": {"telegram_chat_id": {"type": "integer"}}}
))]
pub struct NotificationsBody {
    #[schemars(length(min = 1))]
    pub channels: Option<Vec<NotificationChannel>>,
    /// Required when the channels include telegram; not 0.
    #[schemars(extend("not" = {"const": 0}))]
    pub telegram_chat_id: Option<i64>,
    pub language: Option<Language>,
}

/// E.164, e.g. `+79161234567` (spaces, dashes, dots and brackets are accepted and dropped).
pub const PHONE: &str = r"^\+[1-9][0-9]{7,14}$";

/// `POST /auth/register`: a customer, or a contractor with the regions and categories they serve.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RegisterBody {
    Customer(CustomerRegistration),
    Contractor(ContractorRegistration),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CustomerRole {
    Customer,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContractorRole {
    Contractor,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// SMS needs a phone number.
#[schemars(extend(
    "if" = {"properties": {"notifications": {"type": "object", "properties": {"channels": {"type": "array", "contains": {"const": "sms"}}}, "required": ["channels"]}}, "required": ["notifications"]},
    "then" = {"required": ["phone"], "properties": {"phone": {"type": "string"}}}
))]
pub struct CustomerRegistration {
    #[schemars(email)]
    pub email: String,
    /// 10 to 128 characters; not a well-known password, not the e-mail's name, not one
    /// character repeated.
    #[schemars(length(min = 10, max = 128), regex(pattern = NEW_PASSWORD))]
    pub password: String,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub display_name: String,
    /// Required when notifications go by SMS; stored as E.164.
    #[schemars(regex(pattern = PHONE))]
    pub phone: Option<String>,
    pub role: CustomerRole,
    pub notifications: Option<NotificationsBody>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// SMS needs a phone number.
#[schemars(extend(
    "if" = {"properties": {"notifications": {"type": "object", "properties": {"channels": {"type": "array", "contains": {"const": "sms"}}}, "required": ["channels"]}}, "required": ["notifications"]},
    "then" = {"required": ["phone"], "properties": {"phone": {"type": "string"}}}
))]
pub struct ContractorRegistration {
    #[schemars(email)]
    pub email: String,
    #[schemars(length(min = 10, max = 128), regex(pattern = NEW_PASSWORD))]
    pub password: String,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub display_name: String,
    #[schemars(regex(pattern = PHONE))]
    pub phone: Option<String>,
    pub role: ContractorRole,
    /// The regions they serve.
    #[schemars(length(min = 1, max = 50), inner(length(min = 1, max = 100), regex(pattern = ONE_LINE)))]
    pub regions: Vec<String>,
    /// Category slugs of their work.
    #[schemars(length(min = 1, max = 50), inner(length(min = 2, max = 64), regex(pattern = SLUG)))]
    pub categories: Vec<String>,
    pub notifications: Option<NotificationsBody>,
}

/// `POST /users` (admin): a manager with the regions they manage, or a security officer or admin.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CreateUserBody {
    Manager(ManagerAccount),
    Staff(StaffAccount),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManagerRole {
    Manager,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    Security,
    Admin,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// SMS needs a phone number.
#[schemars(extend(
    "if" = {"properties": {"notifications": {"type": "object", "properties": {"channels": {"type": "array", "contains": {"const": "sms"}}}, "required": ["channels"]}}, "required": ["notifications"]},
    "then" = {"required": ["phone"], "properties": {"phone": {"type": "string"}}}
))]
pub struct ManagerAccount {
    #[schemars(email)]
    pub email: String,
    #[schemars(length(min = 10, max = 128), regex(pattern = NEW_PASSWORD))]
    pub password: String,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub display_name: String,
    #[schemars(regex(pattern = PHONE))]
    pub phone: Option<String>,
    pub role: ManagerRole,
    /// The regions they manage.
    #[schemars(length(min = 1, max = 50), inner(length(min = 1, max = 100), regex(pattern = ONE_LINE)))]
    pub regions: Vec<String>,
    pub notifications: Option<NotificationsBody>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// SMS needs a phone number.
#[schemars(extend(
    "if" = {"properties": {"notifications": {"type": "object", "properties": {"channels": {"type": "array", "contains": {"const": "sms"}}}, "required": ["channels"]}}, "required": ["notifications"]},
    "then" = {"required": ["phone"], "properties": {"phone": {"type": "string"}}}
))]
pub struct StaffAccount {
    #[schemars(email)]
    pub email: String,
    #[schemars(length(min = 10, max = 128), regex(pattern = NEW_PASSWORD))]
    pub password: String,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub display_name: String,
    #[schemars(regex(pattern = PHONE))]
    pub phone: Option<String>,
    pub role: StaffRole,
    pub notifications: Option<NotificationsBody>,
}

/// `PATCH /users/{id}` (admin).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    /// `false` disables the account, `true` enables it again.
    pub active: bool,
}

/// An IANA time zone name, as the quiet hours take it.
fn time_zone(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    schemars::json_schema!({"type": "string", "enum": names})
}

/// Quiet hours: local `HH:MM` times, different from each other (the window ends at `to`; `from`
/// after `to` spans midnight).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursBody {
    #[schemars(regex(pattern = HH_MM))]
    pub from: String,
    #[schemars(regex(pattern = HH_MM))]
    pub to: String,
    #[schemars(schema_with = "time_zone")]
    pub time_zone: String,
}

/// Absent means unchanged, not null: no default to show.
fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A 24-hour time of day.
pub const HH_MM: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// `PATCH /me/notification-settings`: what the body names changes; `null` clears the quiet hours,
/// the phone or the chat.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsBody {
    /// In the order of preference; SMS needs a phone and Telegram a chat (on the account or in
    /// this body).
    #[serde(default)]
    #[schemars(with = "Vec<NotificationChannel>", length(min = 1), transform = no_default)]
    pub channels: Option<Vec<NotificationChannel>>,
    #[serde(default)]
    #[schemars(with = "Language", transform = no_default)]
    pub language: Option<Language>,
    pub quiet_hours: Option<QuietHoursBody>,
    #[schemars(regex(pattern = PHONE))]
    pub phone: Option<String>,
    /// Not 0.
    #[schemars(extend("not" = {"const": 0}))]
    pub telegram_chat_id: Option<i64>,
}

/// A contact of the caller's account.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContactChannel {
    /// The account's e-mail address.
    Email,
    /// The account's phone number.
    Sms,
    /// The account's Telegram chat.
    Telegram,
}

/// `POST /me/contact-codes`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCodeBody {
    pub channel: ContactChannel,
}

/// `POST /me/contact-verifications`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactVerificationBody {
    pub channel: ContactChannel,
    /// The six digits sent to the contact.
    #[schemars(regex(pattern = r"^[0-9]{6}$"))]
    pub code: String,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Compared in lower case, trimmed.
    #[schemars(length(min = 1, max = 254), regex(pattern = ONE_LINE))]
    pub email: String,
    #[schemars(length(min = 1, max = 256))]
    pub password: String,
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// As issued (43 characters of base64url); surrounding white space is ignored.
    #[schemars(regex(pattern = REFRESH_TOKEN))]
    pub refresh_token: String,
}

/// `POST /auth/logout`: `refresh_token` ends that session, `all: true` every session.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LogoutBody {
    Session(LogoutSession),
    Everywhere(LogoutEverywhere),
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutSession {
    /// As issued (43 characters of base64url); surrounding white space is ignored.
    #[schemars(regex(pattern = REFRESH_TOKEN))]
    pub refresh_token: String,
    /// `false`, or absent.
    #[serde(default)]
    #[schemars(with = "bool", extend("const" = false))]
    pub all: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutEverywhere {
    #[schemars(extend("const" = true))]
    pub all: bool,
}
