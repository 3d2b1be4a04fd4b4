//! The four security decisions about a contractor.

use crate::store;
use chrono::Utc;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use servicehub_domain::contractors::{
    SecurityDecision, decide_standing, may_get_offers, parse_reason,
};
use servicehub_events::catalog::{
    AccessGranted, AccessRevoked, ContractorRejected, ContractorVerified, UserAction,
};
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, RequestInfo, json_body, json_response, path_uuid};
use servicehub_requests::store as requests;

/// `POST /contractors/{id}/verify`
pub async fn verify(s: &Services, r: Request, i: RequestInfo) -> Result<Response<Body>, ApiError> {
    decide(s, r, i, SecurityDecision::Verify).await
}

/// `POST /contractors/{id}/reject` with `{"reason"}`
pub async fn reject(s: &Services, r: Request, i: RequestInfo) -> Result<Response<Body>, ApiError> {
    decide(s, r, i, SecurityDecision::Reject).await
}

/// `POST /contractors/{id}/access/grant`, optionally with `{"reason"}`
pub async fn grant_access(
    s: &Services,
    r: Request,
    i: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    decide(s, r, i, SecurityDecision::GrantAccess).await
}

/// `POST /contractors/{id}/access/revoke` with `{"reason"}`
pub async fn revoke_access(
    s: &Services,
    r: Request,
    i: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    decide(s, r, i, SecurityDecision::RevokeAccess).await
}

fn optional_body(request: &Request) -> Result<Option<Value>, ApiError> {
    let empty = match request.body() {
        Body::Empty => true,
        Body::Text(text) => text.trim().is_empty(),
        Body::Binary(bytes) => bytes.iter().all(u8::is_ascii_whitespace),
        _ => true,
    };
    if empty {
        Ok(None)
    } else {
        json_body(request).map(Some)
    }
}

async fn decide(
    services: &Services,
    request: Request,
    info: RequestInfo,
    decision: SecurityDecision,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    if identity.role != Role::Security {
        return Err(ApiError::Forbidden(
            "only security officers decide about contractors".into(),
        ));
    }
    let id = path_uuid(&request, "id", "contractor")?;
    let body = optional_body(&request)?;
    let needs_reason = matches!(
        decision,
        SecurityDecision::Reject | SecurityDecision::RevokeAccess
    );
    let reason = parse_reason(body.as_ref(), needs_reason)?;

    let mut tx = services.pool.begin().await?;
    let contractor = store::find_for_update(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no contractor with id {id}")))?;
    let next = decide_standing(store::standing_of(&contractor)?, decision).map_err(|conflict| {
        ApiError::Conflict {
            detail: conflict.0,
            current_status: None,
        }
    })?;
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
    let event = Envelope::new(source, data).with_context(
        info.correlation_id,
        None,
        info.traceparent.clone(),
    );
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
    Ok(json_response(200, &updated, &info, None))
}
