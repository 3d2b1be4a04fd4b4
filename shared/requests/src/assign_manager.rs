//! The `assign-manager` consumer: on `request.created`, give the request to the manager of its
//! region with the fewest open requests (ties: the one idle longest).

use crate::store;
use chrono::Utc;
use serde_json::json;
use servicehub_domain::assignment::{choose_manager, priority_for};
use servicehub_domain::workflow::{Action, next_status};
use servicehub_events::catalog::{ManagerAssigned, StatusChanged, SystemEvent};
use servicehub_events::values::{Actor, RequestStatus};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::consumer::{EventHandler, HandlerError, Outcome};
use servicehub_platform::{Services, idempotency};

pub struct AssignManager<'a> {
    pub services: &'a Services,
}

impl EventHandler for AssignManager<'_> {
    async fn handle(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
        let DomainEvent::RequestCreated(created) = &envelope.data else {
            return Ok(Outcome::Ignored);
        };
        let services = self.services;
        let me = services.config.service_name.as_str();
        let Some(mut tx) = idempotency::begin_once(&services.pool, me, envelope.meta.id).await?
        else {
            tracing::info!(request_id = %created.request_id, "already handled, skipping");
            return Ok(Outcome::Duplicate);
        };
        let Some(request) = store::find_for_update(&mut tx, created.request_id).await? else {
            return Err(HandlerError::Permanent(format!(
                "request {} of event {} does not exist",
                created.request_id, envelope.meta.id
            )));
        };
        let now = Utc::now();
        let events = match next_status(request.status, Action::AssignManager) {
            // Moved on already (e.g. cancelled before a manager was found): nothing to do.
            Err(illegal) => {
                tracing::info!(request_id = %request.id, status = %illegal.current, "request is no longer new, not assigning");
                vec![]
            }
            Ok(next) => {
                let candidates = store::lock_manager_candidates(&mut tx, &request.region).await?;
                match choose_manager(&candidates) {
                    None => vec![Envelope::caused_by(
                        me,
                        &envelope.meta,
                        SystemEvent {
                            component: me.to_owned(),
                            kind: "manager_assignment.no_manager_in_region".into(),
                            subject_type: "service_request".into(),
                            subject_id: request.id.to_string(),
                            message: format!(
                                "no active manager serves region {:?}; the request stays new",
                                request.region
                            ),
                            details: json!({"region": request.region, "request_id": request.id}),
                            at: now,
                        },
                    )],
                    Some(choice) => {
                        let priority = priority_for(request.urgency);
                        let actor = Actor::system(me);
                        let assigned = Envelope::caused_by(
                            me,
                            &envelope.meta,
                            ManagerAssigned {
                                request_id: request.id,
                                manager_id: choice.manager_id,
                                customer_id: request.customer_id,
                                region: request.region.clone(),
                                priority,
                                reason: choice.reason.clone(),
                                assigned_at: now,
                            },
                        );
                        let changed = Envelope::caused_by(
                            me,
                            &envelope.meta,
                            StatusChanged {
                                request_id: request.id,
                                from: Some(RequestStatus::New),
                                to: next,
                                actor: actor.clone(),
                                reason: Some(choice.reason.clone()),
                                changed_at: now,
                            },
                        );
                        store::assign_manager(
                            &mut tx,
                            request.id,
                            choice.manager_id,
                            priority,
                            now,
                        )
                        .await?;
                        store::record_status_change(
                            &mut tx,
                            &store::StatusChange {
                                request_id: request.id,
                                from: Some(RequestStatus::New),
                                to: next,
                                actor: &actor,
                                reason: Some(&choice.reason),
                                event_id: changed.meta.id,
                                at: now,
                            },
                        )
                        .await?;
                        tracing::info!(request_id = %request.id, manager_id = %choice.manager_id, %priority, "manager assigned");
                        vec![assigned, changed]
                    }
                }
            }
        };
        services.commit_with_events(tx, &events).await?;
        Ok(Outcome::Applied)
    }
}
