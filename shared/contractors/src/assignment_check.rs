//! The `security-check` consumer of `workflow-events`: on `workflow.contractor_assigned` it checks
//! that the contractor is active, verified, has access and serves the request's region. If not,
//! the assignment is reverted through the workflow (the request goes back to
//! `sent_to_contractors`, without a contractor), `security.access_revoked` names the request and
//! the reason, and `audit.system_event` records the decision; a passed check is audited too.
//! Idempotent: the effect and the `(consumer, event id)` mark commit together.

use chrono::Utc;
use serde_json::json;
use servicehub_domain::contractors::{AssignmentRefusal, assignment_refusal};
use servicehub_domain::workflow::{Action, next_status};
use servicehub_events::catalog::{AccessRevoked, ContractorAssigned, StatusChanged, SystemEvent};
use servicehub_events::values::{Actor, RequestStatus};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::consumer::{EventHandler, HandlerError, Outcome};
use servicehub_platform::{Services, idempotency};
use servicehub_requests::store as requests;

pub struct AssignmentCheck<'a> {
    pub services: &'a Services,
}

impl EventHandler for AssignmentCheck<'_> {
    async fn handle(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
        let DomainEvent::ContractorAssigned(assigned) = &envelope.data else {
            return Ok(Outcome::Ignored);
        };
        let services = self.services;
        let me = services.config.service_name.as_str();
        let Some(mut tx) = idempotency::begin_once(&services.pool, me, envelope.meta.id).await?
        else {
            return Ok(Outcome::Duplicate);
        };
        let now = Utc::now();
        let system = Actor::system(me);
        let audit = |kind: &str, message: String, details| {
            Envelope::caused_by(
                me,
                &envelope.meta,
                SystemEvent {
                    component: me.to_owned(),
                    kind: kind.to_owned(),
                    subject_type: "service_request".into(),
                    subject_id: assigned.request_id.to_string(),
                    message,
                    details,
                    at: now,
                },
            )
        };
        let assignee = requests::find_assignee(&mut tx, assigned.contractor_id).await?;
        let refusal = assignment_refusal(assignee.as_ref(), &assigned.region);
        let events = match refusal {
            None => vec![audit(
                "security_check.passed",
                format!(
                    "contractor {} may work on request {}",
                    assigned.contractor_id, assigned.request_id
                ),
                json!({"contractor_id": assigned.contractor_id, "region": assigned.region}),
            )],
            Some(refusal) => revert(&mut tx, me, envelope, assigned, &refusal, &system, now)
                .await?
                .into_iter()
                .chain([audit(
                    "security_check.failed",
                    format!(
                        "contractor {} may not work on request {}: {refusal}",
                        assigned.contractor_id, assigned.request_id
                    ),
                    json!({
                        "contractor_id": assigned.contractor_id,
                        "reason": refusal.to_string(),
                        "reason_code": refusal.code().as_str(),
                    }),
                )])
                .collect(),
        };
        services.commit_with_events(tx, &events).await?;
        Ok(Outcome::Applied)
    }
}

/// Sends the request back to the offered contractors if it is still this assignment; returns
/// the events of the revert (none when the request has moved on).
async fn revert(
    tx: &mut sqlx::PgConnection,
    me: &str,
    cause: &Envelope,
    assigned: &ContractorAssigned,
    refusal: &AssignmentRefusal,
    system: &Actor,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Envelope>, HandlerError> {
    let reason = refusal.to_string();
    let revoked = Envelope::caused_by(
        me,
        &cause.meta,
        AccessRevoked {
            contractor_id: assigned.contractor_id,
            revoked_by: system.clone(),
            request_id: Some(assigned.request_id),
            reason: reason.clone(),
            reason_code: Some(refusal.code().as_str().to_owned()),
            revoked_at: now,
        },
    );
    let Some(request) = requests::find_for_update(tx, assigned.request_id).await? else {
        return Err(HandlerError::Permanent(format!(
            "request {} of event {} does not exist",
            assigned.request_id, cause.meta.id
        )));
    };
    let still_this_assignment = request.status == RequestStatus::ContractorAssigned
        && request.contractor_id == Some(assigned.contractor_id);
    if !still_this_assignment {
        // Started, cancelled or reassigned meanwhile: the access decision still stands.
        tracing::warn!(request_id = %request.id, status = %request.status, "assignment changed before the check; not reverting");
        return Ok(vec![revoked]);
    }
    let to = next_status(request.status, Action::RevertContractorAssignment)
        .map_err(|e| HandlerError::Permanent(e.to_string()))?;
    let changed = Envelope::caused_by(
        me,
        &cause.meta,
        StatusChanged {
            request_id: request.id,
            from: Some(request.status),
            to,
            actor: system.clone(),
            reason: Some(reason.clone()),
            changed_at: now,
        },
    );
    requests::set_status(tx, request.id, to, now).await?;
    requests::set_contractor(tx, request.id, None).await?;
    requests::record_status_change(
        tx,
        &requests::StatusChange {
            request_id: request.id,
            from: Some(request.status),
            to,
            actor: system,
            reason: Some(&reason),
            event_id: changed.meta.id,
            at: now,
        },
    )
    .await?;
    tracing::info!(request_id = %request.id, contractor_id = %assigned.contractor_id, %reason, "assignment reverted");
    Ok(vec![changed, revoked])
}
