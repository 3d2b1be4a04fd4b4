//! One event as one row of `events`: the envelope's attributes, who acted, which service request
//! it concerns, and where on Kafka it was read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use servicehub_events::values::{Actor, Role};
use servicehub_events::{DomainEvent, Envelope};
use uuid::Uuid;

/// A row as ClickHouse takes it in `JSONEachRow` (and gives it back). Empty strings stand for
/// "none": ClickHouse's `Nullable` costs a column per column and the filters never look for NULL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub event_id: Uuid,
    pub event_type: String,
    pub event_version: u16,
    pub source: String,
    pub subject: String,
    pub request_id: String,
    pub actor_user_id: String,
    pub actor_role: String,
    pub actor_service: String,
    pub correlation_id: String,
    pub causation_id: String,
    /// `YYYY-MM-DD hh:mm:ss` in UTC (the server's time zone): the partition and coarse filters.
    pub time: String,
    /// Microseconds since the epoch: the exact order and the cursor.
    pub time_us: i64,
    pub topic: String,
    pub partition: i32,
    /// -1 when the trigger did not say.
    pub offset: i64,
    pub ingested_at: String,
    /// The whole CloudEvents JSON.
    pub payload: String,
}

/// ClickHouse `DateTime` text.
pub fn datetime_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Who acted, as far as the event says: a user (id and role) or a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActorColumns {
    pub user_id: Option<Uuid>,
    pub role: Option<Role>,
    pub service: Option<String>,
}

impl ActorColumns {
    fn user(id: Uuid, role: Role) -> ActorColumns {
        ActorColumns {
            user_id: Some(id),
            role: Some(role),
            service: None,
        }
    }

    fn service(name: &str) -> ActorColumns {
        ActorColumns {
            user_id: None,
            role: None,
            service: Some(name.to_owned()),
        }
    }

    fn from_actor(actor: &Actor) -> ActorColumns {
        ActorColumns {
            user_id: actor.user_id,
            role: actor.role,
            service: actor.service.clone(),
        }
    }
}

/// The actor of `envelope`: named by the event where it has one, else the emitting function.
pub fn actor_of(envelope: &Envelope) -> ActorColumns {
    let system = || ActorColumns::service(&envelope.meta.source);
    match &envelope.data {
        DomainEvent::RequestCreated(e) => ActorColumns::user(e.customer_id, Role::Customer),
        DomainEvent::RequestUpdated(e) => ActorColumns::user(e.customer_id, Role::Customer),
        DomainEvent::RequestCancelled(e) => ActorColumns::from_actor(&e.cancelled_by),
        DomainEvent::RequestClarificationNeeded(e) => {
            ActorColumns::user(e.manager_id, Role::Manager)
        }
        DomainEvent::ManagerAssigned(_) => system(),
        DomainEvent::SentToContractors(e) => ActorColumns::user(e.manager_id, Role::Manager),
        DomainEvent::ContractorAssigned(e) => ActorColumns::from_actor(&e.assigned_by),
        DomainEvent::WorkStarted(e) => ActorColumns::user(e.contractor_id, Role::Contractor),
        DomainEvent::WorkCompleted(e) => ActorColumns::user(e.contractor_id, Role::Contractor),
        DomainEvent::StatusChanged(e) => ActorColumns::from_actor(&e.actor),
        DomainEvent::EmailSent(_)
        | DomainEvent::TelegramSent(_)
        | DomainEvent::SmsSent(_)
        | DomainEvent::NotificationFailed(_) => system(),
        DomainEvent::ContractorVerified(e) => ActorColumns::user(e.verified_by, Role::Security),
        DomainEvent::ContractorRejected(e) => ActorColumns::user(e.rejected_by, Role::Security),
        DomainEvent::AccessGranted(e) => ActorColumns::user(e.granted_by, Role::Security),
        DomainEvent::AccessRevoked(e) => ActorColumns::from_actor(&e.revoked_by),
        // The account holder asked (its role is not in the event).
        DomainEvent::ContactVerificationRequested(e) => ActorColumns {
            user_id: Some(e.user_id),
            ..system()
        },
        DomainEvent::DocumentCreated(_)
        | DomainEvent::ContractGenerated(_)
        | DomainEvent::PaymentProcessed(_) => system(),
        DomainEvent::DocumentSigned(e) => ActorColumns::user(e.signed_by, e.signer_role),
        DomainEvent::UserAction(e) => ActorColumns::from_actor(&e.actor),
        DomainEvent::SystemEvent(e) => ActorColumns::service(&e.component),
        DomainEvent::ErrorOccurred(e) => ActorColumns::service(&e.component),
        DomainEvent::PerformanceMetric(e) => ActorColumns::service(&e.component),
    }
}

/// The service request `envelope` concerns, if any.
pub fn request_of(envelope: &Envelope) -> Option<Uuid> {
    let request_resource = |kind: &str, id: &str| {
        (kind == "service_request")
            .then(|| Uuid::parse_str(id).ok())
            .flatten()
    };
    match &envelope.data {
        DomainEvent::RequestCreated(e) => Some(e.request_id),
        DomainEvent::RequestUpdated(e) => Some(e.request_id),
        DomainEvent::RequestCancelled(e) => Some(e.request_id),
        DomainEvent::RequestClarificationNeeded(e) => Some(e.request_id),
        DomainEvent::ManagerAssigned(e) => Some(e.request_id),
        DomainEvent::SentToContractors(e) => Some(e.request_id),
        DomainEvent::ContractorAssigned(e) => Some(e.request_id),
        DomainEvent::WorkStarted(e) => Some(e.request_id),
        DomainEvent::WorkCompleted(e) => Some(e.request_id),
        DomainEvent::StatusChanged(e) => Some(e.request_id),
        DomainEvent::EmailSent(e) => e.context.request_id,
        DomainEvent::TelegramSent(e) => e.context.request_id,
        DomainEvent::SmsSent(e) => e.context.request_id,
        DomainEvent::NotificationFailed(e) => e.context.request_id,
        DomainEvent::ContractorVerified(_)
        | DomainEvent::ContractorRejected(_)
        | DomainEvent::AccessGranted(_)
        | DomainEvent::ContactVerificationRequested(_)
        | DomainEvent::ContractGenerated(_) => None,
        DomainEvent::AccessRevoked(e) => e.request_id,
        DomainEvent::DocumentCreated(e) => e.request_id,
        DomainEvent::DocumentSigned(e) => e.request_id,
        DomainEvent::PaymentProcessed(e) => Some(e.request_id),
        DomainEvent::UserAction(e) => request_resource(&e.resource_type, &e.resource_id),
        DomainEvent::SystemEvent(e) => request_resource(&e.subject_type, &e.subject_id),
        DomainEvent::ErrorOccurred(_) | DomainEvent::PerformanceMetric(_) => None,
    }
}

/// Where the event was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: Option<i64>,
}

impl AuditRow {
    pub fn new(envelope: &Envelope, position: &Position, ingested_at: DateTime<Utc>) -> AuditRow {
        let meta = &envelope.meta;
        let actor = actor_of(envelope);
        let text = |v: Option<String>| v.unwrap_or_default();
        AuditRow {
            event_id: meta.id,
            event_type: meta.event_type.clone(),
            event_version: u16::try_from(envelope.data.version()).unwrap_or(u16::MAX),
            source: meta.source.clone(),
            subject: meta.subject.clone(),
            request_id: text(request_of(envelope).map(|id| id.to_string())),
            actor_user_id: text(actor.user_id.map(|id| id.to_string())),
            actor_role: text(actor.role.map(|r| r.as_str().to_owned())),
            actor_service: text(actor.service),
            correlation_id: meta.correlation_id.to_string(),
            causation_id: text(meta.causation_id.map(|id| id.to_string())),
            time: datetime_text(meta.time),
            time_us: meta.time.timestamp_micros(),
            topic: position.topic.clone(),
            partition: position.partition,
            offset: position.offset.unwrap_or(-1),
            ingested_at: datetime_text(ingested_at),
            payload: String::from_utf8_lossy(&envelope.to_json()).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use servicehub_events::catalog::{StatusChanged, SystemEvent, WorkStarted};
    use servicehub_events::values::RequestStatus;

    fn position() -> Position {
        Position {
            topic: "workflow-events".into(),
            partition: 2,
            offset: Some(41),
        }
    }

    #[test]
    fn a_users_status_change_names_the_user_and_the_request() {
        let (request, manager) = (Uuid::now_v7(), Uuid::now_v7());
        let envelope = Envelope::new(
            "dispatch-request",
            StatusChanged {
                request_id: request,
                from: Some(RequestStatus::ManagerAssigned),
                to: RequestStatus::SentToContractors,
                actor: Actor::user(manager, Role::Manager),
                reason: None,
                changed_at: Utc::now(),
            },
        );
        let row = AuditRow::new(&envelope, &position(), Utc::now());
        assert_eq!(row.event_id, envelope.meta.id);
        assert_eq!(row.event_type, "workflow.status_changed");
        assert_eq!(row.event_version, 1);
        assert_eq!(row.request_id, request.to_string());
        assert_eq!(row.actor_user_id, manager.to_string());
        assert_eq!(row.actor_role, "manager");
        assert_eq!(row.actor_service, "");
        assert_eq!((row.partition, row.offset), (2, 41));
        assert_eq!(row.time_us, envelope.meta.time.timestamp_micros());
        let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(payload["id"], envelope.meta.id.to_string());
    }

    #[test]
    fn system_events_name_the_component_and_requests_by_subject_type() {
        let request = Uuid::now_v7();
        let envelope = Envelope::new(
            "assign-manager",
            SystemEvent {
                component: "assign-manager".into(),
                kind: "manager_assignment.no_manager_in_region".into(),
                subject_type: "service_request".into(),
                subject_id: request.to_string(),
                message: "no manager".into(),
                details: serde_json::json!({}),
                at: Utc::now(),
            },
        );
        let row = AuditRow::new(&envelope, &position(), Utc::now());
        assert_eq!(row.actor_service, "assign-manager");
        assert_eq!(row.actor_user_id, "");
        assert_eq!(row.request_id, request.to_string());
        let contractor = Uuid::now_v7();
        let started = Envelope::new(
            "start-work",
            WorkStarted {
                request_id: request,
                contractor_id: contractor,
                started_at: Utc::now(),
            },
        );
        let actor = actor_of(&started);
        assert_eq!(actor.user_id, Some(contractor));
        assert_eq!(actor.role, Some(Role::Contractor));
    }
}
