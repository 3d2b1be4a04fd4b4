use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

/// A contractor as security sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ContractorView {
    pub id: Uuid,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub regions: Vec<String>,
    pub categories: Vec<String>,
    /// pending, verified or rejected.
    pub verification_status: String,
    pub access_revoked: bool,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// `GET /contractors`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContractorList {
    pub items: Vec<ContractorView>,
}
