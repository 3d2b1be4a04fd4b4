//! One Rust type per event version, and [`DomainEvent`] over all of them.
//!
//! A breaking change to an event is a new type with a new version (`...V2`), never an edit:
//! the committed JSON Schemas and their test hold us to that.

use crate::error::RecordError;
use crate::topic::Topic;
use crate::values::*;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// An event version: its CloudEvents type, schema version, topic and record key.
pub trait Event: Serialize + for<'de> Deserialize<'de> + JsonSchema + Into<DomainEvent> {
    const TYPE: &'static str;
    const VERSION: u32;
    const TOPIC: Topic;
    /// The aggregate id: the CloudEvents subject and the Kafka record key, so that one
    /// aggregate's events stay ordered in one partition.
    fn subject(&self) -> String;
}

/// What the catalog knows of one event version.
#[derive(Clone, Copy)]
pub struct EventInfo {
    pub event_type: &'static str,
    pub version: u32,
    pub topic: Topic,
    pub schema: fn() -> schemars::Schema,
}

impl std::fmt::Debug for EventInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{} on {}", self.event_type, self.version, self.topic)
    }
}

/// The `dataschema` URI of an event version.
pub fn dataschema_uri(event_type: &str, version: u32) -> String {
    format!("urn:servicehub:schema:{event_type}:{version}")
}

/// The version a `dataschema` URI names for `event_type`, if it is one of ours.
pub fn parse_dataschema(event_type: &str, uri: &str) -> Option<u32> {
    uri.strip_prefix("urn:servicehub:schema:")?
        .strip_prefix(event_type)?
        .strip_prefix(':')?
        .parse()
        .ok()
}

macro_rules! event_catalog {
    ($( $variant:ident ($ty:ident) = $name:literal version $ver:literal on $topic:ident keyed |$e:ident| $subject:expr; )+) => {
        $(
            impl Event for $ty {
                const TYPE: &'static str = $name;
                const VERSION: u32 = $ver;
                const TOPIC: Topic = Topic::$topic;
                fn subject(&self) -> String {
                    let $e = self;
                    $subject.to_string()
                }
            }

            impl From<$ty> for DomainEvent {
                fn from(event: $ty) -> DomainEvent {
                    DomainEvent::$variant(event)
                }
            }
        )+

        /// Any event servicehub knows, as it travels in an envelope's `data`.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum DomainEvent {
            $( $variant($ty), )+
        }

        impl DomainEvent {
            pub fn event_type(&self) -> &'static str {
                match self { $( DomainEvent::$variant(_) => $name, )+ }
            }

            pub fn version(&self) -> u32 {
                match self { $( DomainEvent::$variant(_) => $ver, )+ }
            }

            pub fn topic(&self) -> Topic {
                match self { $( DomainEvent::$variant(_) => Topic::$topic, )+ }
            }

            pub fn subject(&self) -> String {
                match self { $( DomainEvent::$variant(e) => Event::subject(e), )+ }
            }

            /// Decodes `data` as the event `event_type` in the version `dataschema` names.
            pub fn decode(event_type: &str, dataschema: &str, data: &RawValue) -> Result<DomainEvent, RecordError> {
                let version = || parse_dataschema(event_type, dataschema).ok_or_else(|| RecordError::UnsupportedVersion {
                    event_type: event_type.to_owned(),
                    dataschema: dataschema.to_owned(),
                });
                let invalid = |error: serde_json::Error| RecordError::InvalidData {
                    event_type: event_type.to_owned(),
                    error: error.to_string(),
                };
                match event_type {
                    $( $name => {
                        if version()? != $ver {
                            return Err(RecordError::UnsupportedVersion { event_type: event_type.to_owned(), dataschema: dataschema.to_owned() });
                        }
                        serde_json::from_str::<$ty>(data.get()).map(DomainEvent::$variant).map_err(invalid)
                    } )+
                    other => Err(RecordError::UnknownEventType(other.to_owned())),
                }
            }
        }

        /// Every event version, in the order of docs/architecture.md.
        pub const CATALOG: &[EventInfo] = &[
            $( EventInfo { event_type: $name, version: $ver, topic: Topic::$topic, schema: || schemars::schema_for!($ty) }, )+
        ];
    };
}

event_catalog! {
    RequestCreated(RequestCreated) = "request.created" version 1 on RequestEvents keyed |e| e.request_id;
    RequestUpdated(RequestUpdated) = "request.updated" version 1 on RequestEvents keyed |e| e.request_id;
    RequestCancelled(RequestCancelled) = "request.cancelled" version 1 on RequestEvents keyed |e| e.request_id;
    RequestClarificationNeeded(RequestClarificationNeeded) = "request.clarification_needed" version 1 on RequestEvents keyed |e| e.request_id;

    ManagerAssigned(ManagerAssigned) = "workflow.manager_assigned" version 1 on WorkflowEvents keyed |e| e.request_id;
    SentToContractors(SentToContractors) = "workflow.sent_to_contractors" version 1 on WorkflowEvents keyed |e| e.request_id;
    ContractorAssigned(ContractorAssigned) = "workflow.contractor_assigned" version 1 on WorkflowEvents keyed |e| e.request_id;
    WorkStarted(WorkStarted) = "workflow.work_started" version 1 on WorkflowEvents keyed |e| e.request_id;
    WorkCompleted(WorkCompleted) = "workflow.work_completed" version 1 on WorkflowEvents keyed |e| e.request_id;
    StatusChanged(StatusChanged) = "workflow.status_changed" version 1 on WorkflowEvents keyed |e| e.request_id;

    EmailSent(EmailSent) = "notification.email.sent" version 1 on NotificationEvents keyed |e| e.notification_id;
    TelegramSent(TelegramSent) = "notification.telegram.sent" version 1 on NotificationEvents keyed |e| e.notification_id;
    SmsSent(SmsSent) = "notification.sms.sent" version 1 on NotificationEvents keyed |e| e.notification_id;
    NotificationFailed(NotificationFailed) = "notification.failed" version 1 on NotificationEvents keyed |e| e.notification_id;

    ContractorVerified(ContractorVerified) = "security.contractor_verified" version 1 on SecurityEvents keyed |e| e.contractor_id;
    ContractorRejected(ContractorRejected) = "security.contractor_rejected" version 1 on SecurityEvents keyed |e| e.contractor_id;
    AccessGranted(AccessGranted) = "security.access_granted" version 1 on SecurityEvents keyed |e| e.contractor_id;
    AccessRevoked(AccessRevoked) = "security.access_revoked" version 1 on SecurityEvents keyed |e| e.contractor_id;
    ContactVerificationRequested(ContactVerificationRequested) = "security.contact_verification_requested" version 1 on SecurityEvents keyed |e| e.user_id;

    DocumentCreated(DocumentCreated) = "hr.document_created" version 1 on HrEvents keyed |e| e.document_id;
    DocumentSigned(DocumentSigned) = "hr.document_signed" version 1 on HrEvents keyed |e| e.document_id;
    ContractGenerated(ContractGenerated) = "hr.contract_generated" version 1 on HrEvents keyed |e| e.document_id;
    PaymentProcessed(PaymentProcessed) = "hr.payment_processed" version 1 on HrEvents keyed |e| e.document_id;

    UserAction(UserAction) = "audit.user_action" version 1 on AuditEvents keyed |e| e.resource_id;
    SystemEvent(SystemEvent) = "audit.system_event" version 1 on AuditEvents keyed |e| e.subject_id;
    ErrorOccurred(ErrorOccurred) = "audit.error_occurred" version 1 on AuditEvents keyed |e| e.component;
    PerformanceMetric(PerformanceMetric) = "audit.performance_metric" version 1 on AuditEvents keyed |e| e.component;
}

// ---- request-events: keyed by request id ----

/// A customer filed a service request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestCreated {
    pub request_id: Uuid,
    pub customer_id: Uuid,
    pub title: String,
    pub description: String,
    /// Category slug, e.g. `appliance-repair`.
    pub category: String,
    pub urgency: Urgency,
    pub region: String,
    pub city: String,
    pub address: String,
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
    pub created_at: DateTime<Utc>,
}

/// The fields a customer may change; absent means unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub urgency: Option<Urgency>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
}

/// The customer changed a request (possibly answering a clarification question).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestUpdated {
    pub request_id: Uuid,
    pub customer_id: Uuid,
    pub changes: RequestChanges,
    /// The customer's answer when the update answers a clarification question.
    pub clarification_answer: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A request was cancelled before completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestCancelled {
    pub request_id: Uuid,
    pub customer_id: Uuid,
    pub cancelled_by: Actor,
    pub previous_status: RequestStatus,
    pub reason: String,
    pub cancelled_at: DateTime<Utc>,
}

/// A manager asked the customer to clarify a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestClarificationNeeded {
    pub request_id: Uuid,
    pub customer_id: Uuid,
    pub manager_id: Uuid,
    pub question: String,
    pub asked_at: DateTime<Utc>,
}

// ---- workflow-events: keyed by request id ----

/// A manager was assigned to a new request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ManagerAssigned {
    pub request_id: Uuid,
    pub manager_id: Uuid,
    pub customer_id: Uuid,
    pub region: String,
    pub priority: Priority,
    /// Why this manager, in words (load, idle time, region).
    pub reason: String,
    pub assigned_at: DateTime<Utc>,
}

/// A manager offered the request to eligible contractors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SentToContractors {
    pub request_id: Uuid,
    pub manager_id: Uuid,
    pub contractor_ids: Vec<Uuid>,
    pub region: String,
    pub category: String,
    pub sent_at: DateTime<Utc>,
}

/// One contractor was assigned to the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContractorAssigned {
    pub request_id: Uuid,
    pub contractor_id: Uuid,
    pub manager_id: Uuid,
    pub customer_id: Uuid,
    pub region: String,
    pub category: String,
    /// The contractor accepting an offer, or the manager picking one.
    pub assigned_by: Actor,
    pub assigned_at: DateTime<Utc>,
}

/// The assigned contractor started the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkStarted {
    pub request_id: Uuid,
    pub contractor_id: Uuid,
    pub started_at: DateTime<Utc>,
}

/// The assigned contractor completed the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkCompleted {
    pub request_id: Uuid,
    pub contractor_id: Uuid,
    pub manager_id: Uuid,
    pub customer_id: Uuid,
    pub completion_report: String,
    pub final_price: Money,
    pub completed_at: DateTime<Utc>,
}

/// Every transition of the state machine, whatever caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusChanged {
    pub request_id: Uuid,
    /// Absent for the first status of a request.
    pub from: Option<RequestStatus>,
    pub to: RequestStatus,
    pub actor: Actor,
    pub reason: Option<String>,
    pub changed_at: DateTime<Utc>,
}

// ---- notification-events: keyed by notification id ----

/// What every notification event says about the message and why it was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotificationContext {
    pub recipient_user_id: Uuid,
    /// The template rendered, e.g. `request_created.customer`.
    pub template: String,
    /// `ru` or `en`.
    pub language: String,
    /// The event that caused the notification.
    pub cause_event_id: Uuid,
    pub request_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmailSent {
    pub notification_id: Uuid,
    #[serde(flatten)]
    pub context: NotificationContext,
    pub to_address: String,
    pub subject: String,
    /// The SES message id.
    pub provider_message_id: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TelegramSent {
    pub notification_id: Uuid,
    #[serde(flatten)]
    pub context: NotificationContext,
    pub chat_id: i64,
    /// The Bot API's message_id.
    pub telegram_message_id: i64,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SmsSent {
    pub notification_id: Uuid,
    #[serde(flatten)]
    pub context: NotificationContext,
    /// E.164 phone number.
    pub phone: String,
    /// The SNS message id.
    pub provider_message_id: String,
    pub sent_at: DateTime<Utc>,
}

/// A notification could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NotificationFailed {
    pub notification_id: Uuid,
    #[serde(flatten)]
    pub context: NotificationContext,
    pub channel: NotificationChannel,
    pub reason: String,
    /// True when retrying cannot help (blocked bot, invalid address).
    pub permanent: bool,
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
}

// ---- security-events: keyed by contractor id ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContractorVerified {
    pub contractor_id: Uuid,
    pub verified_by: Uuid,
    pub regions: Vec<String>,
    pub categories: Vec<String>,
    pub verified_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContractorRejected {
    pub contractor_id: Uuid,
    pub rejected_by: Uuid,
    pub reason: String,
    pub rejected_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessGranted {
    pub contractor_id: Uuid,
    pub granted_by: Uuid,
    pub regions: Vec<String>,
    pub reason: Option<String>,
    pub granted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessRevoked {
    pub contractor_id: Uuid,
    /// A security officer, or the system (the assignment check).
    pub revoked_by: Actor,
    /// The request whose assignment was reverted, when the check revoked it.
    pub request_id: Option<Uuid>,
    /// A security officer's own words, or the check's refusal in English.
    pub reason: String,
    /// When the check revoked it, the kind of refusal (`account_disabled`,
    /// `verification_pending`, `verification_rejected`, `access_revoked`, `outside_region`,
    /// `not_a_contractor`, `unknown_user`), for those who word the reason in another language;
    /// absent for an officer's free-text reason and in events published before it existed.
    #[serde(default)]
    pub reason_code: Option<String>,
    pub revoked_at: DateTime<Utc>,
}

/// Somebody asked for a code proving one of an account's contacts (at registration, or with
/// `POST /me/contact-codes`). notify makes the code, keeps only its hash and sends it to the
/// contact as the account holds it then; the event carries neither the code nor the address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContactVerificationRequested {
    pub user_id: Uuid,
    pub channel: NotificationChannel,
    pub requested_at: DateTime<Utc>,
}

// ---- hr-events: keyed by document id ----

/// Where a generated file is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StoredFile {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    pub size_bytes: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentCreated {
    pub document_id: Uuid,
    pub kind: DocumentKind,
    pub request_id: Option<Uuid>,
    pub contractor_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub file: StoredFile,
    pub amount: Option<Money>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocumentSigned {
    pub document_id: Uuid,
    pub kind: DocumentKind,
    pub request_id: Option<Uuid>,
    pub signed_by: Uuid,
    pub signer_role: Role,
    /// True once every required party has signed.
    pub fully_signed: bool,
    pub signed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ContractGenerated {
    pub document_id: Uuid,
    pub contractor_id: Uuid,
    pub file: StoredFile,
    pub valid_from: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
}

/// Keyed by the act's document id: the payment follows its act in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentProcessed {
    pub payment_id: Uuid,
    pub document_id: Uuid,
    pub request_id: Uuid,
    pub contractor_id: Uuid,
    pub amount: Money,
    pub processed_at: DateTime<Utc>,
}

// ---- audit-events: keyed by the entity concerned ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserAction {
    pub actor: Actor,
    /// What was done, e.g. `request.create`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub outcome: AuditOutcome,
    /// Free-form details; never secrets or passwords.
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SystemEvent {
    /// The function that reports, e.g. `assign-manager`.
    pub component: String,
    /// What happened, e.g. `manager_assignment.no_manager_in_region`.
    pub kind: String,
    pub subject_type: String,
    pub subject_id: String,
    pub message: String,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorOccurred {
    pub component: String,
    pub error_kind: String,
    pub message: String,
    pub retryable: bool,
    /// The event being handled when it happened.
    pub cause_event_id: Option<Uuid>,
    pub subject_id: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PerformanceMetric {
    pub component: String,
    /// e.g. `handle_batch`.
    pub operation: String,
    pub duration_ms: f64,
    /// How many items the operation handled.
    pub items: u64,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn catalog_has_the_27_events_of_the_design_each_on_its_topic() {
        assert_eq!(CATALOG.len(), 27);
        let types: HashSet<_> = CATALOG.iter().map(|e| e.event_type).collect();
        assert_eq!(types.len(), 27, "event types are unique");
        for info in CATALOG {
            let prefix = info.event_type.split('.').next().unwrap();
            let expected = match prefix {
                "request" => Topic::RequestEvents,
                "workflow" => Topic::WorkflowEvents,
                "notification" => Topic::NotificationEvents,
                "security" => Topic::SecurityEvents,
                "hr" => Topic::HrEvents,
                "audit" => Topic::AuditEvents,
                other => panic!("unexpected prefix {other}"),
            };
            assert_eq!(info.topic, expected, "{info:?}");
        }
    }

    #[test]
    fn dataschema_round_trips_and_rejects_other_types() {
        let uri = dataschema_uri("request.created", 1);
        assert_eq!(parse_dataschema("request.created", &uri), Some(1));
        assert_eq!(parse_dataschema("request.updated", &uri), None);
        assert_eq!(
            parse_dataschema("request.created", "urn:other:request.created:1"),
            None
        );
    }
}
