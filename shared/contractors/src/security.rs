//! The four security decisions about a contractor: use cases that know nothing of HTTP (the
//! caller, the contractor's id and the optional body in; the contractor's view or a
//! [`DecisionError`] out). Their routes are `http_main!(Services, idempotent (caller, id "contractor", body) ...)`
//! lines; [`DecisionError`]'s answers are its `From` impl below.

use crate::store;
use crate::view::ContractorView;
use chrono::Utc;
use serde_json::{Value, json};
use servicehub_domain::contractors::{
    SecurityDecision, decide_standing, may_get_offers, parse_reason,
};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::catalog::{
    AccessGranted, AccessRevoked, ContractorRejected, ContractorVerified, UserAction,
};
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, Caller};
use servicehub_requests::store as requests;
use uuid::Uuid;

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("only security officers decide about contractors")]
    NotSecurity,
    #[error("no contractor with id {0}")]
    NoSuchContractor(Uuid),
    /// The contractor's standing does not allow it (already verified, say).
    #[error("{0}")]
    NotNow(String),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<DecisionError> for ApiError {
    fn from(error: DecisionError) -> ApiError {
        match error {
            DecisionError::NotSecurity => ApiError::Forbidden(error.to_string()),
            DecisionError::NoSuchContractor(_) => ApiError::NotFound(error.to_string()),
            DecisionError::NotNow(detail) => ApiError::Conflict {
                detail,
                current_status: None,
            },
            DecisionError::Invalid(errors) => errors.into(),
            DecisionError::Store(error) => error.into(),
        }
    }
}

/// `POST /contractors/{id}/verify`
pub async fn verify(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Option<Value>,
) -> Result<ContractorView, DecisionError> {
    decide(services, caller, id, body, SecurityDecision::Verify).await
}

/// `POST /contractors/{id}/reject` with `{"reason"}`
pub async fn reject(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Option<Value>,
) -> Result<ContractorView, DecisionError> {
    decide(services, caller, id, body, SecurityDecision::Reject).await
}

/// `POST /contractors/{id}/access/grant`, optionally with `{"reason"}`
pub async fn grant_access(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Option<Value>,
) -> Result<ContractorView, DecisionError> {
    decide(services, caller, id, body, SecurityDecision::GrantAccess).await
}

/// `POST /contractors/{id}/access/revoke` with `{"reason"}`
pub async fn revoke_access(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Option<Value>,
) -> Result<ContractorView, DecisionError> {
    decide(services, caller, id, body, SecurityDecision::RevokeAccess).await
}

async fn decide(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Option<Value>,
    decision: SecurityDecision,
) -> Result<ContractorView, DecisionError> {
    let identity = &caller.identity;
    if identity.role != Role::Security {
        return Err(DecisionError::NotSecurity);
    }
    let needs_reason = matches!(
        decision,
        SecurityDecision::Reject | SecurityDecision::RevokeAccess
    );
    let reason = parse_reason(body.as_ref(), needs_reason)?;

    let mut tx = services.pool.begin().await?;
    let contractor = store::find_for_update(&mut tx, id)
        .await?
        .ok_or(DecisionError::NoSuchContractor(id))?;
    let next = decide_standing(store::standing_of(&contractor)?, decision)
        .map_err(|conflict| DecisionError::NotNow(conflict.0))?;
    let updated = store::set_standing(&mut tx, id, next).await?;
    // A contractor who may not get offers (rejected, revoked) holds none either: their open
    // offers go with the decision. An accept that won the race against it is security-check's.
    let offers_withdrawn = if may_get_offers(next) {
        0
    } else {
        requests::withdraw_offers(&mut tx, id).await?
    };
    let now = Utc::now();
    let officer = identity.user_id;
    let source = services.config.service_name.as_str();
    let (data, action): (DomainEvent, &str) = match decision {
        SecurityDecision::Verify => (
            ContractorVerified {
                contractor_id: id,
                verified_by: officer,
                regions: updated.regions.clone(),
                categories: updated.categories.clone(),
                verified_at: now,
            }
            .into(),
            "contractor.verify",
        ),
        SecurityDecision::Reject => (
            ContractorRejected {
                contractor_id: id,
                rejected_by: officer,
                reason: reason.clone().unwrap_or_default(),
                rejected_at: now,
            }
            .into(),
            "contractor.reject",
        ),
        SecurityDecision::GrantAccess => (
            AccessGranted {
                contractor_id: id,
                granted_by: officer,
                regions: updated.regions.clone(),
                reason: reason.clone(),
                granted_at: now,
            }
            .into(),
            "contractor.grant_access",
        ),
        SecurityDecision::RevokeAccess => (
            AccessRevoked {
                contractor_id: id,
                revoked_by: Actor::user(officer, Role::Security),
                request_id: None,
                reason: reason.clone().unwrap_or_default(),
                reason_code: None,
                revoked_at: now,
            }
            .into(),
            "contractor.revoke_access",
        ),
    };
    let event = caller.trace.stamp(Envelope::new(source, data));
    let audit = Envelope::caused_by(
        source,
        &event.meta,
        UserAction {
            actor: Actor::user(officer, Role::Security),
            action: action.into(),
            resource_type: "contractor".into(),
            resource_id: id.to_string(),
            outcome: AuditOutcome::Success,
            details: json!({
                "reason": reason,
                "verification_status": updated.verification_status,
                "access_revoked": updated.access_revoked,
                "offers_withdrawn": offers_withdrawn,
            }),
            at: now,
        },
    );
    let events = [event, audit];
    services.commit_with_events(tx, &events).await?;
    tracing::info!(contractor_id = %id, action, "security decision applied");
    Ok(updated)
}
