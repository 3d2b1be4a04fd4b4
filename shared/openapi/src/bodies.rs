//! The documented shape of each request body and of problem+json. The functions parse bodies by
//! hand into domain types (reporting every field error at once); these types say what that
//! parsing accepts, and a test checks them against the sample payloads under `events/`.

use schemars::JsonSchema;
use serde::Deserialize;
use servicehub_events::values::{Money, NotificationChannel, RequestStatus, TimeWindow, Urgency};
use uuid::Uuid;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Ru,
    En,
}

/// How the user wants to be told; absent fields take their defaults (email, ru).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsBody {
    pub channels: Option<Vec<NotificationChannel>>,
    /// Required when the channels include telegram.
    pub telegram_chat_id: Option<i64>,
    pub language: Option<Language>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SelfRegisteringRole {
    Customer,
    Contractor,
}

/// `POST /auth/register`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schemars(email)]
    pub email: String,
    /// 10 to 128 characters; not a well-known password, not the e-mail's name.
    #[schemars(length(min = 10, max = 128))]
    pub password: String,
    #[schemars(length(min = 1, max = 100))]
    pub display_name: String,
    /// Required when notifications go by SMS; stored as E.164.
    pub phone: Option<String>,
    pub role: SelfRegisteringRole,
    /// Contractors: the regions they serve (required).
    pub regions: Option<Vec<String>>,
    /// Contractors: category slugs of their work (required).
    pub categories: Option<Vec<String>>,
    pub notifications: Option<NotificationsBody>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StaffRole {
    Manager,
    Security,
    Admin,
}

/// `POST /users` (admin).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    #[schemars(email)]
    pub email: String,
    #[schemars(length(min = 10, max = 128))]
    pub password: String,
    #[schemars(length(min = 1, max = 100))]
    pub display_name: String,
    pub phone: Option<String>,
    pub role: StaffRole,
    /// Managers: the regions they manage (required).
    pub regions: Option<Vec<String>>,
    pub notifications: Option<NotificationsBody>,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

/// `POST /auth/refresh`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

/// `POST /auth/logout`: `refresh_token` ends that session, `all: true` every session.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    pub refresh_token: Option<String>,
    pub all: Option<bool>,
}

/// `POST /requests`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    #[schemars(length(min = 3, max = 200))]
    pub title: String,
    #[schemars(length(min = 1, max = 5000))]
    pub description: String,
    /// A slug: `appliance-repair`.
    #[schemars(
        regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"),
        length(min = 2, max = 64)
    )]
    pub category: String,
    /// Default normal.
    pub urgency: Option<Urgency>,
    #[schemars(length(min = 1, max = 100))]
    pub region: String,
    #[schemars(length(min = 1, max = 100))]
    pub city: String,
    #[schemars(length(min = 3, max = 300))]
    pub address: String,
    /// In the future, `from` before `to`.
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
}

/// `PATCH /requests/{id}`: at least one field; the region cannot change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPatchBody {
    #[schemars(length(min = 3, max = 200))]
    pub title: Option<String>,
    #[schemars(length(min = 1, max = 5000))]
    pub description: Option<String>,
    pub category: Option<String>,
    pub urgency: Option<Urgency>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
    /// Only while the request is clarification_needed.
    #[schemars(length(min = 1, max = 2000))]
    pub clarification_answer: Option<String>,
}

/// `POST /requests/{id}/cancel`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[schemars(length(min = 1, max = 1000))]
    pub reason: String,
}

/// `POST /requests/{id}/clarification`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClarificationBody {
    #[schemars(length(min = 1, max = 2000))]
    pub question: String,
}

/// `POST /requests/{id}/assign`: one of the contractors the request was offered to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub contractor_id: Uuid,
}

/// `POST /requests/{id}/complete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionBody {
    #[schemars(length(min = 1, max = 5000))]
    pub completion_report: String,
    pub final_price: Money,
}

/// `POST /contractors/{id}/reject` and `/access/revoke` (required), `/access/grant` (optional).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[schemars(length(min = 1, max = 1000))]
    pub reason: String,
}

/// One invalid input field.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FieldError {
    /// The field's path, e.g. `preferred_time_window.to`.
    pub field: String,
    /// Stable machine-readable code, e.g. `too_long`, `required`, `unknown_field`.
    pub code: String,
    pub message: String,
}

/// RFC 7807 problem details.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Problem {
    /// `urn:servicehub:problem:<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request path.
    pub instance: String,
    /// API Gateway's request id: quote it when reporting a problem.
    pub request_id: String,
    pub correlation_id: Uuid,
    /// 422: every invalid field.
    pub errors: Option<Vec<FieldError>>,
    /// 409 from a workflow step: the request's status.
    pub current_status: Option<RequestStatus>,
}
