use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use servicehub_domain::access::RequestParties;
use servicehub_events::values::{Money, Priority, RequestStatus, TimeWindow, Urgency};
use uuid::Uuid;

/// A service request as the API shows it, and as the store loads it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ServiceRequestView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub title: String,
    pub description: String,
    pub category: String,
    pub urgency: Urgency,
    pub region: String,
    pub city: String,
    pub address: String,
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
    pub status: RequestStatus,
    pub priority: Option<Priority>,
    pub manager_id: Option<Uuid>,
    pub contractor_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The manager's open question while the request is `clarification_needed`.
    pub clarification_question: Option<String>,
    pub completion_report: Option<String>,
    pub final_price: Option<Money>,
}

impl ServiceRequestView {
    pub fn location(&self) -> String {
        format!("/requests/{}", self.id)
    }

    /// The facts that decide who may see and act on it.
    pub fn parties(&self) -> RequestParties<'_> {
        RequestParties {
            customer_id: self.customer_id,
            region: &self.region,
            manager_id: self.manager_id,
            contractor_id: self.contractor_id,
        }
    }
}
