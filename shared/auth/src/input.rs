//! Account input parsed into types that only hold valid values: every problem becomes a
//! [`FieldError`](servicehub_domain::validation::FieldError), so bad input answers 422 with
//! field-level errors. What each body looks like, as the OpenAPI document shows it, is in
//! [`bodies`], held to these parsers by the tests.

pub mod bodies;

use serde_json::Value;
use servicehub_domain::contacts::ContactCode;
use servicehub_domain::quiet_hours::QuietHours;
use servicehub_domain::request::{Category, Region};
use servicehub_domain::validation::{ObjectReader, ValidationErrors, object, text};
use servicehub_events::values::{NotificationChannel, Role};

/// An e-mail address, trimmed and lower-cased: the login name of an account, unique among users.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str, field: &str, errors: &mut ValidationErrors) -> Option<Email> {
        let email = normalize_email(raw);
        if email.is_empty() {
            errors.add(field, "empty", format!("{field} must not be empty"));
            return None;
        }
        if email.chars().count() > Email::MAX_CHARS {
            errors.add(
                field,
                "too_long",
                format!("{field} must be at most {} characters", Email::MAX_CHARS),
            );
            return None;
        }
        if !is_email(&email) {
            errors.add(
                field,
                "invalid_format",
                format!("{field} must be an e-mail address such as name@example.com"),
            );
            return None;
        }
        Some(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// How an e-mail is compared and stored: trimmed, lower case. Login uses it on unchecked input too,
/// so that the per-account throttle counts `Ann@X.ru` and `ann@x.ru` as one account.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.chars().count())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.chars().count())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().any(char::is_alphabetic));
    local_ok && domain_ok
}

/// A phone number in E.164 form, `+` and 8 to 15 digits (spaces, dashes, dots and parentheses are
/// accepted on input and dropped): `+7 (916) 123-45-67` is stored as `+79161234567`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str, field: &str, errors: &mut ValidationErrors) -> Option<Phone> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or_default();
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Some(Phone(compact))
        } else {
            errors.add(
                field,
                "invalid_format",
                format!("{field} must be an international number such as +7 916 123-45-67"),
            );
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a user is shown to others: "Иван Петров".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str, field: &str, errors: &mut ValidationErrors) -> Option<DisplayName> {
        text(raw, field, 1, DisplayName::MAX_CHARS, false, errors).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy: 10 to 128 characters, no control characters, not one
/// character repeated, not a well-known password, and not containing the e-mail's name part.
/// Never trimmed (spaces count), never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Passwords that appear at the top of every breach list (compared case-insensitively).
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "0987654321",
    "12345678910",
    "123456789a",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "password123",
    "password1234",
    "passw0rd123",
    "qwertyuiop",
    "qwerty12345",
    "qwerty123456",
    "1234qwerty",
    "iloveyou123",
    "administrator",
    "changeme123",
    "letmein123",
    "welcome123",
    "servicehub",
    "servicehub123",
    "йцукенгшщз",
];

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// Checks `raw` against the policy; `email`, when known, must not be part of it.
    pub fn parse(
        raw: &str,
        field: &str,
        email: Option<&Email>,
        errors: &mut ValidationErrors,
    ) -> Option<Password> {
        let length = raw.chars().count();
        let problem = if length < Password::MIN_CHARS {
            Some((
                "too_short",
                format!(
                    "{field} must be at least {} characters",
                    Password::MIN_CHARS
                ),
            ))
        } else if length > Password::MAX_CHARS {
            Some((
                "too_long",
                format!("{field} must be at most {} characters", Password::MAX_CHARS),
            ))
        } else if raw.chars().any(char::is_control) {
            Some((
                "invalid_characters",
                format!("{field} must not contain control characters"),
            ))
        } else if raw.chars().all(|c| raw.starts_with(c)) {
            Some((
                "too_weak",
                format!("{field} must not be one character repeated"),
            ))
        } else if COMMON_PASSWORDS.contains(&raw.to_lowercase().as_str()) {
            Some((
                "too_common",
                format!("{field} is one of the most common passwords; choose another"),
            ))
        } else if email.is_some_and(|e| {
            e.local_part().chars().count() >= 3 && raw.to_lowercase().contains(e.local_part())
        }) {
            Some((
                "contains_email",
                format!("{field} must not contain the e-mail address"),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => {
                errors.add(field, code, message);
                None
            }
            None => Some(Password(raw.to_owned())),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

pub use servicehub_events::values::Language;

/// How a user wants to be told about their requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPreferences {
    /// Distinct, in the order given; never empty.
    pub channels: Vec<NotificationChannel>,
    pub telegram_chat_id: Option<i64>,
    pub language: Language,
}

impl Default for NotificationPreferences {
    fn default() -> NotificationPreferences {
        NotificationPreferences {
            channels: vec![NotificationChannel::Email],
            telegram_chat_id: None,
            language: Language::Ru,
        }
    }
}

impl NotificationPreferences {
    /// Parses `{"channels": [...], "telegram_chat_id": ..., "language": "ru"}`; every part is
    /// optional (channels default to e-mail, language to Russian). Telegram needs a chat id.
    pub fn parse(
        value: &Value,
        field: &str,
        errors: &mut ValidationErrors,
    ) -> Option<NotificationPreferences> {
        let mut reader = ObjectReader::new(object(value, field, errors)?, field);
        let defaults = NotificationPreferences::default();
        let channels = match reader.optional("channels") {
            None => Some(defaults.channels),
            Some(v) => parse_channels(v, &reader.path("channels"), errors),
        };
        let chat_id = match reader.optional("telegram_chat_id") {
            None => Some(None),
            Some(v) => parse_chat_id(v, &reader.path("telegram_chat_id"), errors).map(Some),
        };
        let language = match reader.optional_str("language", errors) {
            None if reader.optional("language").is_none() => Some(defaults.language),
            None => None,
            Some(v) => {
                let language = Language::parse(v);
                if language.is_none() {
                    errors.add(
                        reader.path("language"),
                        "invalid_value",
                        "language must be one of ru, en",
                    );
                }
                language
            }
        };
        reader.reject_unknown(errors);
        let (channels, telegram_chat_id, language) = (channels?, chat_id?, language?);
        if channels.contains(&NotificationChannel::Telegram) && telegram_chat_id.is_none() {
            errors.add(
                reader.path("telegram_chat_id"),
                "required",
                "telegram_chat_id is required when notifications go to Telegram",
            );
            return None;
        }
        Some(NotificationPreferences {
            channels,
            telegram_chat_id,
            language,
        })
    }
}

fn parse_channels(
    value: &Value,
    field: &str,
    errors: &mut ValidationErrors,
) -> Option<Vec<NotificationChannel>> {
    let allowed = || {
        NotificationChannel::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(items) = value.as_array() else {
        errors.add(
            field,
            "invalid_type",
            format!("{field} must be an array of channels among {}", allowed()),
        );
        return None;
    };
    if items.is_empty() {
        errors.add(
            field,
            "empty",
            format!("{field} must name at least one channel"),
        );
        return None;
    }
    let mut channels = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(NotificationChannel::parse) {
            Some(channel) if !channels.contains(&channel) => channels.push(channel),
            Some(_) => {}
            None => {
                ok = false;
                errors.add(
                    format!("{field}[{i}]"),
                    "invalid_value",
                    format!("a channel must be one of {}", allowed()),
                );
            }
        }
    }
    ok.then_some(channels)
}

/// A Telegram chat id: an integer (negative for groups), as a JSON number or a string of digits.
fn parse_chat_id(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<i64> {
    let id = match value {
        Value::Number(_) => servicehub_domain::validation::integer(value),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .filter(|id| *id != 0);
    if id.is_none() {
        errors.add(
            field,
            "invalid_format",
            format!("{field} must be a Telegram chat id (a non-zero integer)"),
        );
    }
    id
}

const MAX_LIST_ITEMS: usize = 50;

/// A non-empty array of distinct items parsed by `parse_item`, at most [`MAX_LIST_ITEMS`].
fn parse_list<T: PartialEq>(
    value: &Value,
    field: &str,
    what: &str,
    errors: &mut ValidationErrors,
    parse_item: impl Fn(&str, &str, &mut ValidationErrors) -> Option<T>,
) -> Option<Vec<T>> {
    let Some(items) = value.as_array() else {
        errors.add(
            field,
            "invalid_type",
            format!("{field} must be an array of {what}"),
        );
        return None;
    };
    if items.is_empty() {
        errors.add(field, "empty", format!("{field} must not be empty"));
        return None;
    }
    if items.len() > MAX_LIST_ITEMS {
        errors.add(
            field,
            "too_many",
            format!("{field} may hold at most {MAX_LIST_ITEMS} items"),
        );
        return None;
    }
    let mut parsed = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let Some(text) = item.as_str() else {
            errors.add(&path, "invalid_type", format!("{path} must be a string"));
            ok = false;
            continue;
        };
        match parse_item(text, &path, errors) {
            Some(value) if !parsed.contains(&value) => parsed.push(value),
            Some(_) => {}
            None => ok = false,
        }
    }
    ok.then_some(parsed)
}

/// Who may be created by which route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    /// `POST /auth/register`: customers and contractors sign themselves up.
    SelfRegistration,
    /// `POST /users`: an admin creates managers, security officers and admins.
    ByAdmin,
}

impl Enrolment {
    pub fn roles(self) -> &'static [Role] {
        match self {
            Enrolment::SelfRegistration => &[Role::Customer, Role::Contractor],
            Enrolment::ByAdmin => &[Role::Manager, Role::Security, Role::Admin],
        }
    }
}

/// A new account, every field valid.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub display_name: DisplayName,
    pub phone: Option<Phone>,
    pub role: Role,
    /// Contractors and managers: where they work (required for them, refused for others).
    pub regions: Vec<Region>,
    /// Contractors: what they do (required for them, refused for others).
    pub categories: Vec<Category>,
    pub notifications: NotificationPreferences,
}

impl NewAccount {
    /// Parses the body of `POST /auth/register` or `POST /users`, reporting every problem at once.
    pub fn parse(body: &Value, enrolment: Enrolment) -> Result<NewAccount, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        let email = r
            .required_str("email", e)
            .and_then(|v| Email::parse(v, "email", e));
        let password = r
            .required_str("password", e)
            .and_then(|v| Password::parse(v, "password", email.as_ref(), e));
        let display_name = r
            .required_str("display_name", e)
            .and_then(|v| DisplayName::parse(v, "display_name", e));
        let phone = match r.optional_str("phone", e) {
            Some(v) => Phone::parse(v, "phone", e).map(Some),
            None if r.optional("phone").is_none() => Some(None),
            None => None,
        };
        let role = r.required_str("role", e).and_then(|v| {
            let role = Role::parse(v).filter(|role| enrolment.roles().contains(role));
            if role.is_none() {
                let allowed: Vec<&str> = enrolment.roles().iter().map(|r| r.as_str()).collect();
                let hint = match enrolment {
                    Enrolment::SelfRegistration => {
                        "; managers, security officers and admins are created by an admin"
                    }
                    Enrolment::ByAdmin => "; customers and contractors register themselves",
                };
                e.add(
                    "role",
                    "invalid_value",
                    format!("role must be one of {}{hint}", allowed.join(", ")),
                );
            }
            role
        });
        let regions_value = r.optional("regions");
        let categories_value = r.optional("categories");
        let notifications = match r.optional("notifications") {
            Some(v) => NotificationPreferences::parse(v, "notifications", e),
            None => Some(NotificationPreferences::default()),
        };
        r.reject_unknown(e);

        // What a role needs: regions for contractors and managers, categories for contractors.
        let (needs_regions, needs_categories) = match role {
            Some(Role::Contractor) => (Some(true), Some(true)),
            Some(Role::Manager) => (Some(true), Some(false)),
            Some(_) => (Some(false), Some(false)),
            None => (None, None),
        };
        let regions = list_for_role(
            regions_value,
            "regions",
            "regions",
            needs_regions,
            role,
            e,
            Region::parse,
        );
        let categories = list_for_role(
            categories_value,
            "categories",
            "category slugs",
            needs_categories,
            role,
            e,
            Category::parse,
        );
        if let (Some(prefs), Some(None)) = (&notifications, &phone)
            && prefs.channels.contains(&NotificationChannel::Sms)
        {
            e.add(
                "phone",
                "required",
                "phone is required when notifications go by SMS",
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let missing = unreachable_parse;
        Ok(NewAccount {
            email: email.ok_or_else(missing)?,
            password: password.ok_or_else(missing)?,
            display_name: display_name.ok_or_else(missing)?,
            phone: phone.ok_or_else(missing)?,
            role: role.ok_or_else(missing)?,
            regions: regions.ok_or_else(missing)?,
            categories: categories.ok_or_else(missing)?,
            notifications: notifications.ok_or_else(missing)?,
        })
    }
}

/// A list a role requires (`Some(true)`), refuses (`Some(false)`), or cannot be judged yet because
/// the role itself is invalid (`None`: the list is still checked, but an absent one is no error).
fn list_for_role<T: PartialEq>(
    value: Option<&Value>,
    field: &str,
    what: &str,
    needed: Option<bool>,
    role: Option<Role>,
    errors: &mut ValidationErrors,
    parse_item: impl Fn(&str, &str, &mut ValidationErrors) -> Option<T>,
) -> Option<Vec<T>> {
    let role_name = role.map(|r| r.as_str()).unwrap_or_default();
    match (value, needed) {
        (None, Some(true)) => {
            errors.add(
                field,
                "required",
                format!("{field} is required for a {role_name}"),
            );
            None
        }
        (None, _) => Some(Vec::new()),
        (Some(_), Some(false)) => {
            errors.add(
                field,
                "not_allowed",
                format!("{field} may not be given for a {role_name}"),
            );
            None
        }
        (Some(v), _) => parse_list(v, field, what, errors, parse_item),
    }
}

/// The body of `POST /auth/login`. The address is only normalised, not checked: an address that
/// cannot exist simply does not match an account (401), like any other unknown one.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInput")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Longest password a login accepts (bytes); anything longer cannot be a valid password anyway.
const MAX_LOGIN_PASSWORD_BYTES: usize = 1024;

impl LoginInput {
    pub fn parse(body: &Value) -> Result<LoginInput, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        let email = r.required_str("email", e).and_then(|v| {
            let email = normalize_email(v);
            if email.is_empty() {
                e.add("email", "empty", "email must not be empty");
                None
            } else if email.chars().count() > Email::MAX_CHARS {
                e.add(
                    "email",
                    "too_long",
                    format!("email must be at most {} characters", Email::MAX_CHARS),
                );
                None
            } else {
                Some(email)
            }
        });
        let password = r.required_str("password", e).and_then(|v| {
            if v.is_empty() {
                e.add("password", "empty", "password must not be empty");
                None
            } else if v.len() > MAX_LOGIN_PASSWORD_BYTES {
                e.add("password", "too_long", "password is too long");
                None
            } else {
                Some(v.to_owned())
            }
        });
        r.reject_unknown(e);
        match (email, password) {
            (Some(email), Some(password)) if errors.is_empty() => {
                Ok(LoginInput { email, password })
            }
            _ => Err(errors),
        }
    }
}

/// Longest refresh token accepted; ours are 43 characters.
const MAX_REFRESH_TOKEN_CHARS: usize = 256;

fn parse_refresh_token(
    reader: &mut ObjectReader<'_>,
    required: bool,
    errors: &mut ValidationErrors,
) -> Option<String> {
    let value = if required {
        reader.required_str("refresh_token", errors)
    } else {
        reader.optional_str("refresh_token", errors)
    }?;
    let token = value.trim();
    if token.is_empty() {
        errors.add("refresh_token", "empty", "refresh_token must not be empty");
        return None;
    }
    if token.len() > MAX_REFRESH_TOKEN_CHARS {
        errors.add(
            "refresh_token",
            "too_long",
            "refresh_token is not a token we issued",
        );
        return None;
    }
    // Ours are base64url; anything but visible ASCII cannot be one (and is not looked up).
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        errors.add(
            "refresh_token",
            "invalid_format",
            "refresh_token is not a token we issued",
        );
        return None;
    }
    Some(token.to_owned())
}

/// The body of `POST /auth/refresh`: `{"refresh_token": "..."}`.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshInput {
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshInput(<redacted>)")
    }
}

impl RefreshInput {
    pub fn parse(body: &Value) -> Result<RefreshInput, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let token = parse_refresh_token(&mut r, true, &mut errors);
        r.reject_unknown(&mut errors);
        match token {
            Some(refresh_token) if errors.is_empty() => Ok(RefreshInput { refresh_token }),
            _ => Err(errors),
        }
    }
}

/// The body of `POST /auth/logout`: the session to end (`{"refresh_token": "..."}`), or every
/// session of the caller (`{"all": true}`).
#[derive(Clone, PartialEq, Eq)]
pub enum LogoutInput {
    Session { refresh_token: String },
    Everywhere,
}

impl std::fmt::Debug for LogoutInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogoutInput::Session { .. } => f.write_str("LogoutInput::Session(<redacted>)"),
            LogoutInput::Everywhere => f.write_str("LogoutInput::Everywhere"),
        }
    }
}

impl LogoutInput {
    pub fn parse(body: &Value) -> Result<LogoutInput, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let token = parse_refresh_token(&mut r, false, &mut errors);
        let all = match r.optional("all") {
            None => Some(false),
            Some(Value::Bool(all)) => Some(*all),
            Some(_) => {
                errors.add("all", "invalid_type", "all must be true or false");
                None
            }
        };
        r.reject_unknown(&mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        match (token, all) {
            (None, Some(true)) => Ok(LogoutInput::Everywhere),
            (Some(refresh_token), Some(false)) => Ok(LogoutInput::Session { refresh_token }),
            (Some(_), Some(true)) => {
                errors.add(
                    "all",
                    "conflict",
                    "send either refresh_token (this session) or all: true (every session)",
                );
                Err(errors)
            }
            _ => {
                errors.add(
                    "refresh_token",
                    "required",
                    "refresh_token is required (or all: true to end every session)",
                );
                Err(errors)
            }
        }
    }
}

/// The body of `PATCH /users/{id}`: `{"active": false}` disables the account, `true` enables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountChange {
    pub active: bool,
}

impl AccountChange {
    pub fn parse(body: &Value) -> Result<AccountChange, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let active = match r.required("active", &mut errors) {
            Some(Value::Bool(active)) => Some(*active),
            Some(_) => {
                errors.add("active", "invalid_type", "active must be true or false");
                None
            }
            None => None,
        };
        r.reject_unknown(&mut errors);
        match active {
            Some(active) if errors.is_empty() => Ok(AccountChange { active }),
            _ => Err(errors),
        }
    }
}

/// The body of `PATCH /me/notification-settings`: every field optional; `null` clears the quiet
/// hours, the phone or the chat. Whether the channels have their contacts is checked against the
/// account as it will be.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsChange {
    pub channels: Option<Vec<NotificationChannel>>,
    pub language: Option<Language>,
    pub quiet_hours: Option<Option<QuietHours>>,
    pub phone: Option<Option<Phone>>,
    pub telegram_chat_id: Option<Option<i64>>,
}

impl SettingsChange {
    pub fn parse(body: &Value) -> Result<SettingsChange, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        // A present key: `Some(None)` for null, `Some(Some(_))` for a value, `None` if unparsable.
        let mut nullable = |name: &'static str| -> Option<Option<&Value>> {
            let present = body.get(name).is_some();
            let value = r.optional(name);
            present.then_some(value)
        };
        let channels = nullable("channels").map(|v| match v {
            Some(v) => parse_channels(v, "channels", e),
            None => {
                e.add("channels", "invalid_type", "channels must be a list");
                None
            }
        });
        let language = nullable("language").map(|v| {
            let language = v.and_then(Value::as_str).and_then(Language::parse);
            if language.is_none() {
                e.add(
                    "language",
                    "invalid_value",
                    "language must be one of ru, en",
                );
            }
            language
        });
        let quiet_hours = nullable("quiet_hours").map(|v| match v {
            None => Some(None),
            Some(v) => QuietHours::parse(v, "quiet_hours", e).map(Some),
        });
        let phone = nullable("phone").map(|v| match v {
            None => Some(None),
            Some(Value::String(text)) => Phone::parse(text, "phone", e).map(Some),
            Some(_) => {
                e.add("phone", "invalid_type", "phone must be a string or null");
                None
            }
        });
        let telegram_chat_id = nullable("telegram_chat_id").map(|v| match v {
            None => Some(None),
            Some(v) => parse_chat_id(v, "telegram_chat_id", e).map(Some),
        });
        r.reject_unknown(e);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SettingsChange {
            channels: present(channels)?,
            language: present(language)?,
            quiet_hours: present(quiet_hours)?,
            phone: present(phone)?,
            telegram_chat_id: present(telegram_chat_id)?,
        })
    }
}

/// A present field, parsed (a field that did not parse was reported already).
fn present<T>(field: Option<Option<T>>) -> Result<Option<T>, ValidationErrors> {
    field.map(|v| v.ok_or_else(unreachable_parse)).transpose()
}

/// The channel a contact-code body names: `email`, `sms` or `telegram`.
fn contact_channel(
    r: &mut ObjectReader<'_>,
    errors: &mut ValidationErrors,
) -> Option<NotificationChannel> {
    let text = r.required_str("channel", errors)?;
    let channel = NotificationChannel::parse(text);
    if channel.is_none() {
        errors.add(
            "channel",
            "invalid_value",
            "channel must be one of email, sms, telegram",
        );
    }
    channel
}

/// The body of `POST /me/contact-codes`: `{"channel": "sms"}` sends a new code to the caller's
/// phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRequest {
    pub channel: NotificationChannel,
}

impl CodeRequest {
    pub fn parse(body: &Value) -> Result<CodeRequest, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let channel = contact_channel(&mut r, &mut errors);
        r.reject_unknown(&mut errors);
        match channel {
            Some(channel) if errors.is_empty() => Ok(CodeRequest { channel }),
            _ => Err(errors),
        }
    }
}

/// The body of `POST /me/contact-verifications`: `{"channel": "sms", "code": "123456"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeConfirmation {
    pub channel: NotificationChannel,
    pub code: ContactCode,
}

impl CodeConfirmation {
    pub fn parse(body: &Value) -> Result<CodeConfirmation, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let channel = contact_channel(&mut r, &mut errors);
        let code = r.required_str("code", &mut errors).and_then(|text| {
            let code = ContactCode::parse(text);
            if code.is_none() {
                errors.add("code", "invalid_format", "code must be the six digits sent");
            }
            code
        });
        r.reject_unknown(&mut errors);
        match (channel, code) {
            (Some(channel), Some(code)) if errors.is_empty() => {
                Ok(CodeConfirmation { channel, code })
            }
            _ => Err(errors),
        }
    }
}

/// A parser returned nothing without reporting why: a bug, reported rather than panicking.
fn unreachable_parse() -> ValidationErrors {
    let mut errors = ValidationErrors::default();
    errors.add("", "invalid", "the request could not be parsed");
    errors
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_parsers_follow_their_documented_bodies() {
        use super::bodies::*;
        use super::*;
        use servicehub_domain::validation::check_parser_against_schema as check;
        check::<LoginBody>(|body| LoginInput::parse(body).map(drop)).unwrap();
        check::<RefreshBody>(|body| RefreshInput::parse(body).map(drop)).unwrap();
        check::<UpdateUserBody>(|body| AccountChange::parse(body).map(drop)).unwrap();
        check::<NotificationSettingsBody>(|body| SettingsChange::parse(body).map(drop)).unwrap();
        check::<ContactCodeBody>(|body| CodeRequest::parse(body).map(drop)).unwrap();
        check::<ContactVerificationBody>(|body| CodeConfirmation::parse(body).map(drop)).unwrap();
    }

    use super::*;
    use serde_json::json;

    fn codes(
        result: Result<impl std::fmt::Debug, ValidationErrors>,
    ) -> Vec<(String, &'static str)> {
        result
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    fn one<T>(parse: impl Fn(&mut ValidationErrors) -> Option<T>) -> Result<T, Vec<&'static str>> {
        let mut errors = ValidationErrors::default();
        parse(&mut errors).ok_or_else(|| errors.0.iter().map(|e| e.code).collect())
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        let email = one(|e| Email::parse("  Ivan.Petrov@Example.RU ", "email", e)).unwrap();
        assert_eq!(email.as_str(), "ivan.petrov@example.ru");
        assert_eq!(email.local_part(), "ivan.petrov");
        assert!(one(|e| Email::parse("мария@почта.рф", "email", e)).is_ok());
        assert!(one(|e| Email::parse("a+tag@sub.example.com", "email", e)).is_ok());
        for bad in [
            "plain",
            "@example.com",
            "a@b",
            "a@@b.ru",
            "a@b.r",
            "a..b@c.ru",
            ".a@c.ru",
            "a@-c.ru",
            "a b@c.ru",
            "a@c.123",
        ] {
            assert_eq!(
                one(|e| Email::parse(bad, "email", e)),
                Err(vec!["invalid_format"]),
                "{bad}"
            );
        }
        assert_eq!(one(|e| Email::parse("  ", "email", e)), Err(vec!["empty"]));
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            one(|e| Email::parse(&long, "email", e)),
            Err(vec!["too_long"])
        );
    }

    #[test]
    fn phones_become_e164() {
        let phone = one(|e| Phone::parse(" +7 (916) 123-45-67 ", "phone", e)).unwrap();
        assert_eq!(phone.as_str(), "+79161234567");
        for bad in [
            "89161234567",
            "+7 916",
            "+0123456789",
            "+7916abc4567",
            "+1234567890123456",
        ] {
            assert_eq!(
                one(|e| Phone::parse(bad, "phone", e)),
                Err(vec!["invalid_format"]),
                "{bad}"
            );
        }
    }

    #[test]
    fn display_names_are_trimmed_single_lines() {
        let name = one(|e| DisplayName::parse("  Иван Петров ", "display_name", e)).unwrap();
        assert_eq!(name.as_str(), "Иван Петров");
        assert_eq!(
            one(|e| DisplayName::parse("Ivan\nPetrov", "display_name", e)),
            Err(vec!["invalid_characters"])
        );
        assert_eq!(
            one(|e| DisplayName::parse(&"я".repeat(101), "display_name", e)),
            Err(vec!["too_long"])
        );
    }

    #[test]
    fn the_password_policy() {
        let email = one(|e| Email::parse("ivan.petrov@example.ru", "email", e)).unwrap();
        let check = |raw: &str| one(|e| Password::parse(raw, "password", Some(&email), e));
        assert_eq!(
            check("correct horse battery").unwrap().expose(),
            "correct horse battery"
        );
        assert!(check(" spaces count ").is_ok(), "not trimmed");
        assert!(check(&"ж".repeat(128)).is_err(), "one character repeated");
        assert_eq!(check("short1!"), Err(vec!["too_short"]));
        assert_eq!(check(&"ab".repeat(65)), Err(vec!["too_long"]));
        assert_eq!(check("aaaaaaaaaaaa"), Err(vec!["too_weak"]));
        assert_eq!(check("Password123"), Err(vec!["too_common"]));
        assert_eq!(check("my Ivan.Petrov pass"), Err(vec!["contains_email"]));
        assert_eq!(check("tab\there is bad"), Err(vec!["invalid_characters"]));
        assert_eq!(
            format!("{:?}", check("correct horse battery").unwrap()),
            "Password(<redacted>)"
        );
    }

    fn customer() -> Value {
        json!({
            "email": "Anna@Example.ru",
            "password": "correct horse battery",
            "display_name": "Анна",
            "role": "customer",
        })
    }

    fn contractor() -> Value {
        json!({
            "email": "master@example.ru",
            "password": "correct horse battery",
            "display_name": "Мастер Иван",
            "phone": "+7 916 123 45 67",
            "role": "contractor",
            "regions": ["Москва", "Тверь", "Москва"],
            "categories": ["appliance-repair", "plumbing"],
            "notifications": {"channels": ["telegram", "sms", "email"], "telegram_chat_id": "123456789", "language": "en"}
        })
    }

    #[test]
    fn a_customer_registers_with_defaults() {
        let account = NewAccount::parse(&customer(), Enrolment::SelfRegistration).unwrap();
        assert_eq!(account.email.as_str(), "anna@example.ru");
        assert_eq!(account.role, Role::Customer);
        assert!(account.regions.is_empty() && account.categories.is_empty());
        assert_eq!(account.phone, None);
        assert_eq!(account.notifications, NotificationPreferences::default());
    }

    #[test]
    fn a_contractor_registers_with_regions_categories_and_preferences() {
        let account = NewAccount::parse(&contractor(), Enrolment::SelfRegistration).unwrap();
        let regions: Vec<&str> = account.regions.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            regions,
            ["Москва", "Тверь"],
            "duplicates dropped, order kept"
        );
        assert_eq!(account.categories.len(), 2);
        assert_eq!(account.phone.unwrap().as_str(), "+79161234567");
        assert_eq!(
            account.notifications,
            NotificationPreferences {
                channels: vec![
                    NotificationChannel::Telegram,
                    NotificationChannel::Sms,
                    NotificationChannel::Email
                ],
                telegram_chat_id: Some(123_456_789),
                language: Language::En,
            }
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let body = json!({
            "email": "not-an-email",
            "password": "short",
            "display_name": " ",
            "phone": "12",
            "role": "contractor",
            "regions": [],
            "categories": ["Plumbing", 5],
            "notifications": {"channels": ["email", "pigeon"], "language": "de", "extra": 1},
            "colour": "red"
        });
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![
                ("email".into(), "invalid_format"),
                ("password".into(), "too_short"),
                ("display_name".into(), "empty"),
                ("phone".into(), "invalid_format"),
                ("notifications.channels[1]".into(), "invalid_value"),
                ("notifications.language".into(), "invalid_value"),
                ("notifications.extra".into(), "unknown_field"),
                ("colour".into(), "unknown_field"),
                ("regions".into(), "empty"),
                ("categories[0]".into(), "invalid_format"),
                ("categories[1]".into(), "invalid_type"),
            ]
        );
    }

    #[test]
    fn roles_decide_what_is_required_and_who_may_enrol() {
        let mut body = contractor();
        body.as_object_mut().unwrap().remove("regions");
        body.as_object_mut().unwrap().remove("categories");
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![
                ("regions".into(), "required"),
                ("categories".into(), "required")
            ]
        );
        let mut body = customer();
        body["regions"] = json!(["Москва"]);
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![("regions".into(), "not_allowed")]
        );
        let mut body = customer();
        body["role"] = json!("admin");
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![("role".into(), "invalid_value")]
        );
        body["role"] = json!("manager");
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::ByAdmin)),
            vec![("regions".into(), "required")]
        );
        body["regions"] = json!(["Москва"]);
        let manager = NewAccount::parse(&body, Enrolment::ByAdmin).unwrap();
        assert_eq!(manager.role, Role::Manager);
        body["role"] = json!("customer");
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::ByAdmin)),
            vec![("role".into(), "invalid_value")]
        );
    }

    #[test]
    fn channels_need_their_contact() {
        let mut body = customer();
        body["notifications"] = json!({"channels": ["sms", "telegram"]});
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![("notifications.telegram_chat_id".into(), "required")]
        );
        body["notifications"] = json!({"channels": ["sms"]});
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![("phone".into(), "required")]
        );
        body["notifications"] = json!({"channels": []});
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![("notifications.channels".into(), "empty")]
        );
    }

    #[test]
    fn the_password_may_not_contain_the_email() {
        let mut body = customer();
        body["password"] = json!("anna-secret-2026");
        assert_eq!(
            codes(NewAccount::parse(&body, Enrolment::SelfRegistration)),
            vec![("password".into(), "contains_email")]
        );
    }

    #[test]
    fn login_input_normalises_the_email_only() {
        let input =
            LoginInput::parse(&json!({"email": " Anna@Example.RU", "password": "x"})).unwrap();
        assert_eq!(input.email, "anna@example.ru");
        assert!(!format!("{input:?}").contains("\"x\""));
        assert_eq!(
            codes(LoginInput::parse(&json!({"email": "", "password": 5}))),
            vec![
                ("email".into(), "empty"),
                ("password".into(), "invalid_type")
            ]
        );
        assert_eq!(
            codes(LoginInput::parse(&json!({"email": "a@b.ru"}))),
            vec![("password".into(), "required")]
        );
    }

    #[test]
    fn refresh_and_logout_bodies() {
        assert_eq!(
            RefreshInput::parse(&json!({"refresh_token": " abc "}))
                .unwrap()
                .refresh_token,
            "abc"
        );
        assert_eq!(
            codes(RefreshInput::parse(&json!({}))),
            vec![("refresh_token".into(), "required")]
        );
        assert_eq!(
            LogoutInput::parse(&json!({"all": true})).unwrap(),
            LogoutInput::Everywhere
        );
        assert_eq!(
            LogoutInput::parse(&json!({"refresh_token": "abc"})).unwrap(),
            LogoutInput::Session {
                refresh_token: "abc".into()
            }
        );
        assert_eq!(
            codes(LogoutInput::parse(&json!({}))),
            vec![("refresh_token".into(), "required")]
        );
        assert_eq!(
            codes(LogoutInput::parse(
                &json!({"refresh_token": "abc", "all": true})
            )),
            vec![("all".into(), "conflict")]
        );
    }

    #[test]
    fn an_account_change_is_active_true_or_false_and_nothing_else() {
        assert_eq!(
            AccountChange::parse(&json!({"active": false})),
            Ok(AccountChange { active: false })
        );
        assert_eq!(
            AccountChange::parse(&json!({"active": true})),
            Ok(AccountChange { active: true })
        );
        for bad in [
            json!({}),
            json!({"active": "no"}),
            json!({"active": false, "role": "admin"}),
            json!([]),
        ] {
            assert!(AccountChange::parse(&bad).is_err(), "{bad}");
        }
    }
}
