//! Small value types that events carry. They are the wire vocabulary; the domain crate gives them
//! behaviour (the state machine, priorities) without redefining them.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// How urgent the customer says the request is.
    Urgency { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" }
);

wire_enum!(
    /// The order in which a manager should handle a request.
    Priority { Low => "low", Normal => "normal", High => "high", Critical => "critical" }
);

wire_enum!(
    /// Where a service request is in its lifecycle (the workflow state machine in the domain crate).
    RequestStatus {
        New => "new",
        ManagerAssigned => "manager_assigned",
        ClarificationNeeded => "clarification_needed",
        SentToContractors => "sent_to_contractors",
        ContractorAssigned => "contractor_assigned",
        InProgress => "in_progress",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// Who a user is in the marketplace.
    Role { Customer => "customer", Manager => "manager", Contractor => "contractor", Security => "security", Admin => "admin" }
);

wire_enum!(
    /// A channel a notification goes out on.
    NotificationChannel { Email => "email", Telegram => "telegram", Sms => "sms" }
);

wire_enum!(
    /// The language a user's messages are written in.
    Language { Ru => "ru", En => "en" }
);

wire_enum!(
    /// The kinds of documents HR produces.
    DocumentKind { Contract => "contract", CompletionAct => "completion_act", PaymentOrder => "payment_order" }
);

wire_enum!(
    /// How a user action ended.
    AuditOutcome { Success => "success", Denied => "denied", Failed => "failed" }
);

/// Who caused a change: a user with a role, or the system itself (no user id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The user id, absent when a function acted on its own.
    pub user_id: Option<Uuid>,
    /// The user's role, absent for the system.
    pub role: Option<Role>,
    /// For the system: the function that acted, e.g. `assign-manager`.
    pub service: Option<String>,
}

impl Actor {
    pub fn user(user_id: Uuid, role: Role) -> Actor {
        Actor {
            user_id: Some(user_id),
            role: Some(role),
            service: None,
        }
    }

    pub fn system(service: &str) -> Actor {
        Actor {
            user_id: None,
            role: None,
            service: Some(service.to_owned()),
        }
    }
}

/// A window of time, e.g. when the customer would like the work done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TimeWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// An amount of money in minor units (kopecks, cents) of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `RUB`.
    pub currency: String,
}
