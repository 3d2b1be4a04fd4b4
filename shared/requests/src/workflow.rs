//! The workflow endpoints on an existing request: edit, cancel, clarification, dispatch, accept,
//! assign, start, complete. Each loads and row-locks the request, lets the domain decide who may
//! act (404 when the caller may not see it, 403 when they may see but not act) and whether the
//! status allows it (409 with the current status), then commits the change, its history row, its
//! workflow event, `workflow.status_changed` and `audit.user_action` in one transaction (outbox).

use crate::error::RequestError;
use crate::store;
use crate::view::ServiceRequestView;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use servicehub_domain::commands::{
    self, AssignInput, CancelInput, ClarificationInput, Command, CompletionInput, Decision,
    RequestPatch, decide, editable,
};
use servicehub_domain::contractors::assignment_refusal;
use servicehub_domain::validation::ValidationErrors;
use servicehub_domain::workflow::{Action, next_status};
use servicehub_events::Envelope;
use servicehub_events::catalog::{
    ContractorAssigned, RequestCancelled, RequestChanges, RequestClarificationNeeded,
    RequestUpdated, SentToContractors, StatusChanged, UserAction, WorkCompleted, WorkStarted,
};
use servicehub_events::values::{Actor, AuditOutcome, RequestStatus, Role};
use servicehub_platform::Services;
use servicehub_platform::http::{Caller, Identity, Trace};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// A request locked for one command by a caller allowed to issue it.
struct Locked {
    tx: Transaction<'static, Postgres>,
    request: ServiceRequestView,
    identity: Identity,
    actor: Actor,
    now: DateTime<Utc>,
    /// The caller's correlation and trace, for the events.
    trace: Trace,
}

async fn lock(
    services: &Services,
    caller: Caller,
    id: Uuid,
    command: Command,
) -> Result<Locked, RequestError> {
    let identity = caller.identity;
    let mut tx = services.pool.begin().await?;
    let found = store::find_for_update(&mut tx, id)
        .await?
        .ok_or(RequestError::NotFound(id))?;
    let offered = store::is_offered(&mut tx, id, identity.user_id).await?;
    let party = commands::Caller {
        user_id: identity.user_id,
        role: identity.role,
        regions: &identity.regions,
    };
    match decide(command, party, &found.parties(), offered) {
        Decision::Allowed => {}
        Decision::Forbidden(why) => return Err(RequestError::Forbidden(why)),
        Decision::Hidden => return Err(RequestError::NotFound(id)),
    }
    // Being the assigned contractor is not enough: access revoked, verification rejected or
    // the account disabled after the assignment ends the right to do the work.
    if matches!(command, Command::StartWork | Command::CompleteWork)
        && identity.role == Role::Contractor
        && !servicehub_platform::standing::contractor_in_good_standing(&mut tx, identity.user_id)
            .await?
    {
        return Err(RequestError::Forbidden(
            "your contractor access is revoked, rejected or disabled",
        ));
    }
    let actor = Actor::user(identity.user_id, identity.role);
    Ok(Locked {
        tx,
        request: found,
        identity,
        actor,
        now: Utc::now(),
        trace: caller.trace,
    })
}

/// What a command changes besides the status, once its own columns are written.
struct Change<'a> {
    /// The workflow event (the first of the three published).
    event: Envelope,
    /// `None` for an edit that leaves the status as it is.
    to: Option<RequestStatus>,
    reason: Option<&'a str>,
    audit_action: &'static str,
    details: Value,
}

/// Writes the status, the history, the events; commits; publishes; answers with the new view.
async fn finish(
    services: &Services,
    mut locked: Locked,
    change: Change<'_>,
) -> Result<ServiceRequestView, RequestError> {
    let source = services.config.service_name.as_str();
    let request_id = locked.request.id;
    let event = locked.trace.stamp(change.event);
    let mut events = vec![event];
    if let Some(to) = change.to {
        store::set_status(&mut locked.tx, request_id, to, locked.now).await?;
        store::record_status_change(
            &mut locked.tx,
            &store::StatusChange {
                request_id,
                from: Some(locked.request.status),
                to,
                actor: &locked.actor,
                reason: change.reason,
                event_id: events[0].meta.id,
                at: locked.now,
            },
        )
        .await?;
        let changed = Envelope::caused_by(
            source,
            &events[0].meta,
            StatusChanged {
                request_id,
                from: Some(locked.request.status),
                to,
                actor: locked.actor.clone(),
                reason: change.reason.map(str::to_owned),
                changed_at: locked.now,
            },
        );
        events.push(changed);
    }
    let audit = Envelope::caused_by(
        source,
        &events[0].meta,
        UserAction {
            actor: locked.actor.clone(),
            action: change.audit_action.into(),
            resource_type: "service_request".into(),
            resource_id: request_id.to_string(),
            outcome: AuditOutcome::Success,
            details: change.details,
            at: locked.now,
        },
    );
    events.push(audit);
    let view = store::find(&mut locked.tx, request_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    services.commit_with_events(locked.tx, &events).await?;
    tracing::info!(%request_id, action = change.audit_action, status = %view.status, "workflow step applied");
    Ok(view)
}

fn transition(locked: &Locked, action: Action) -> Result<RequestStatus, RequestError> {
    Ok(next_status(locked.request.status, action)?)
}

/// `PATCH /requests/{id}`: the customer edits a request that is `new` or waits for a
/// clarification; an edit with `clarification_answer` (or any edit while a question is open)
/// answers it and the request goes back to its manager.
pub async fn update(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<ServiceRequestView, RequestError> {
    let mut locked = lock(services, caller, id, Command::Update).await?;
    let patch = RequestPatch::parse(&body, locked.now)?;
    let status = locked.request.status;
    if !editable(status) {
        return Err(RequestError::Conflict {
            detail: format!("a request that is {status} can no longer be edited"),
            current: Some(status),
        });
    }
    if patch.clarification_answer.is_some() && status != RequestStatus::ClarificationNeeded {
        let mut errors = ValidationErrors::default();
        errors.add(
            "clarification_answer",
            "no_question",
            "no clarification question is open on this request",
        );
        return Err(errors.into());
    }
    let answers = status == RequestStatus::ClarificationNeeded;
    let to = if answers {
        Some(transition(&locked, Action::AnswerClarification)?)
    } else {
        None
    };
    store::apply_patch(&mut locked.tx, locked.request.id, &patch, locked.now).await?;
    if answers {
        store::set_clarification_question(&mut locked.tx, locked.request.id, None).await?;
    }
    let changes = RequestChanges {
        title: patch.title.as_ref().map(|v| v.as_str().to_owned()),
        description: patch.description.as_ref().map(|v| v.as_str().to_owned()),
        category: patch.category.as_ref().map(|v| v.as_str().to_owned()),
        urgency: patch.urgency,
        city: patch.city.as_ref().map(|v| v.as_str().to_owned()),
        address: patch.address.as_ref().map(|v| v.as_str().to_owned()),
        preferred_time_window: patch.preferred_time_window,
        budget: patch.budget.clone(),
    };
    let changed_fields: Vec<String> = match serde_json::to_value(&changes) {
        Ok(Value::Object(fields)) => fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    };
    let event = Envelope::new(
        &services.config.service_name,
        RequestUpdated {
            request_id: locked.request.id,
            customer_id: locked.request.customer_id,
            changes,
            clarification_answer: patch.clarification_answer.clone(),
            updated_at: locked.now,
        },
    );
    let change = Change {
        event,
        to,
        reason: answers.then_some("the customer answered the clarification question"),
        audit_action: "request.update",
        details: json!({"fields": changed_fields, "answered_clarification": answers}),
    };
    finish(services, locked, change).await
}

/// `POST /requests/{id}/cancel` (its customer or its manager, with a reason).
pub async fn cancel(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<ServiceRequestView, RequestError> {
    let locked = lock(services, caller, id, Command::Cancel).await?;
    let input = CancelInput::parse(&body)?;
    let to = transition(&locked, Action::Cancel)?;
    let event = Envelope::new(
        &services.config.service_name,
        RequestCancelled {
            request_id: locked.request.id,
            customer_id: locked.request.customer_id,
            cancelled_by: locked.actor.clone(),
            previous_status: locked.request.status,
            reason: input.reason.clone(),
            cancelled_at: locked.now,
        },
    );
    let details = json!({"previous_status": locked.request.status, "reason": input.reason});
    let change = Change {
        event,
        to: Some(to),
        reason: Some(&input.reason),
        audit_action: "request.cancel",
        details,
    };
    finish(services, locked, change).await
}

/// `POST /requests/{id}/clarification` (a manager asks the customer a question).
pub async fn ask_clarification(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<ServiceRequestView, RequestError> {
    let mut locked = lock(services, caller, id, Command::AskClarification).await?;
    let input = ClarificationInput::parse(&body)?;
    let to = transition(&locked, Action::AskClarification)?;
    store::set_clarification_question(&mut locked.tx, locked.request.id, Some(&input.question))
        .await?;
    let event = Envelope::new(
        &services.config.service_name,
        RequestClarificationNeeded {
            request_id: locked.request.id,
            customer_id: locked.request.customer_id,
            manager_id: locked.identity.user_id,
            question: input.question.clone(),
            asked_at: locked.now,
        },
    );
    let change = Change {
        event,
        to: Some(to),
        reason: Some(&input.question),
        audit_action: "request.ask_clarification",
        details: json!({}),
    };
    finish(services, locked, change).await
}

/// `POST /requests/{id}/dispatch` (a manager offers the request to every eligible contractor:
/// verified, access not revoked, serving its region and category). 409 when there is none.
pub async fn dispatch(
    services: &Services,
    caller: Caller,
    id: Uuid,
) -> Result<ServiceRequestView, RequestError> {
    let mut locked = lock(services, caller, id, Command::Dispatch).await?;
    let to = transition(&locked, Action::SendToContractors)?;
    let (region, category) = (
        locked.request.region.clone(),
        locked.request.category.clone(),
    );
    let contractors = store::eligible_contractors(&mut locked.tx, &region, &category).await?;
    if contractors.is_empty() {
        return Err(RequestError::Conflict {
            detail: format!(
                "no verified contractor with access serves region {region:?} and category {category:?}"
            ),
            current: Some(locked.request.status),
        });
    }
    store::insert_offers(&mut locked.tx, locked.request.id, &contractors, locked.now).await?;
    let manager_id = locked.request.manager_id.unwrap_or(locked.identity.user_id);
    let event = Envelope::new(
        &services.config.service_name,
        SentToContractors {
            request_id: locked.request.id,
            manager_id,
            contractor_ids: contractors.clone(),
            region,
            category,
            sent_at: locked.now,
        },
    );
    let change = Change {
        event,
        to: Some(to),
        reason: None,
        audit_action: "request.dispatch",
        details: json!({"contractor_ids": contractors}),
    };
    finish(services, locked, change).await
}

/// `POST /requests/{id}/accept` (a contractor the request was offered to takes it; 409 when
/// they may not hold it: not verified, access revoked, outside the region, disabled).
pub async fn accept(
    services: &Services,
    caller: Caller,
    id: Uuid,
) -> Result<ServiceRequestView, RequestError> {
    let locked = lock(services, caller, id, Command::Accept).await?;
    let contractor_id = locked.identity.user_id;
    assign_contractor(services, locked, contractor_id, "request.accept").await
}

/// `POST /requests/{id}/assign` (the manager picks one of the offered contractors; 409 when that
/// contractor may not hold it).
pub async fn assign(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<ServiceRequestView, RequestError> {
    let mut locked = lock(services, caller, id, Command::AssignContractor).await?;
    let input = AssignInput::parse(&body)?;
    // The status first: an unoffered contractor on a request that was never dispatched is a 409.
    transition(&locked, Action::AssignContractor)?;
    if !store::is_offered(&mut locked.tx, locked.request.id, input.contractor_id).await? {
        let mut errors = ValidationErrors::default();
        errors.add(
            "contractor_id",
            "not_offered",
            "the request was not offered to this contractor",
        );
        return Err(errors.into());
    }
    assign_contractor(
        services,
        locked,
        input.contractor_id,
        "request.assign_contractor",
    )
    .await
}

async fn assign_contractor(
    services: &Services,
    mut locked: Locked,
    contractor_id: Uuid,
    audit_action: &'static str,
) -> Result<ServiceRequestView, RequestError> {
    let to = transition(&locked, Action::AssignContractor)?;
    // security-check's rule, checked here too: an offer outlives no security decision (they
    // withdraw it), but one made before such a decision may remain. The contractor's row stays
    // share-locked until the commit, so a decision about them made meanwhile waits for this
    // assignment and security-check then reverts it.
    let assignee = store::find_assignee(&mut locked.tx, contractor_id).await?;
    if let Some(refusal) = assignment_refusal(assignee.as_ref(), &locked.request.region) {
        return Err(RequestError::Conflict {
            detail: format!("contractor {contractor_id} may not take this request: {refusal}"),
            current: None,
        });
    }
    store::set_contractor(&mut locked.tx, locked.request.id, Some(contractor_id)).await?;
    let event = Envelope::new(
        &services.config.service_name,
        ContractorAssigned {
            request_id: locked.request.id,
            contractor_id,
            manager_id: locked.request.manager_id.unwrap_or_default(),
            customer_id: locked.request.customer_id,
            region: locked.request.region.clone(),
            category: locked.request.category.clone(),
            assigned_by: locked.actor.clone(),
            assigned_at: locked.now,
        },
    );
    let change = Change {
        event,
        to: Some(to),
        reason: None,
        audit_action,
        details: json!({"contractor_id": contractor_id}),
    };
    finish(services, locked, change).await
}

/// `POST /requests/{id}/start` (the assigned contractor).
pub async fn start(
    services: &Services,
    caller: Caller,
    id: Uuid,
) -> Result<ServiceRequestView, RequestError> {
    let locked = lock(services, caller, id, Command::StartWork).await?;
    let to = transition(&locked, Action::StartWork)?;
    let event = Envelope::new(
        &services.config.service_name,
        WorkStarted {
            request_id: locked.request.id,
            contractor_id: locked.identity.user_id,
            started_at: locked.now,
        },
    );
    let change = Change {
        event,
        to: Some(to),
        reason: None,
        audit_action: "request.start_work",
        details: json!({}),
    };
    finish(services, locked, change).await
}

/// `POST /requests/{id}/complete` (the assigned contractor, with a report and the final price).
pub async fn complete(
    services: &Services,
    caller: Caller,
    id: Uuid,
    body: Value,
) -> Result<ServiceRequestView, RequestError> {
    let mut locked = lock(services, caller, id, Command::CompleteWork).await?;
    let input = CompletionInput::parse(&body)?;
    let to = transition(&locked, Action::CompleteWork)?;
    store::record_completion(
        &mut locked.tx,
        locked.request.id,
        &input.completion_report,
        &input.final_price,
    )
    .await?;
    let event = Envelope::new(
        &services.config.service_name,
        WorkCompleted {
            request_id: locked.request.id,
            contractor_id: locked.identity.user_id,
            manager_id: locked.request.manager_id.unwrap_or_default(),
            customer_id: locked.request.customer_id,
            completion_report: input.completion_report.clone(),
            final_price: input.final_price.clone(),
            completed_at: locked.now,
        },
    );
    let details = json!({"final_price": input.final_price});
    let change = Change {
        event,
        to: Some(to),
        reason: None,
        audit_action: "request.complete_work",
        details,
    };
    finish(services, locked, change).await
}
