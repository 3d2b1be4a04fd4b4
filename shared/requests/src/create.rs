//! `POST /requests`: a customer files a service request.

use crate::error::RequestError;
use crate::store;
use crate::view::ServiceRequestView;
use chrono::Utc;
use serde_json::{Value, json};
use servicehub_domain::request::NewServiceRequest;
use servicehub_events::Envelope;
use servicehub_events::catalog::{RequestCreated, UserAction};
use servicehub_events::values::{Actor, AuditOutcome, RequestStatus, Role};
use servicehub_platform::Services;
use servicehub_platform::http::{Caller, Created};
use uuid::Uuid;

pub async fn create(
    services: &Services,
    caller: Caller,
    body: Value,
) -> Result<Created<ServiceRequestView>, RequestError> {
    let identity = &caller.identity;
    if identity.role != Role::Customer {
        return Err(RequestError::Forbidden(
            "only customers file service requests",
        ));
    }
    let now = Utc::now();
    let input = NewServiceRequest::parse(&body, now)?;

    let view = ServiceRequestView {
        id: Uuid::now_v7(),
        customer_id: identity.user_id,
        title: input.title.into_string(),
        description: input.description.into_string(),
        category: input.category.as_str().to_owned(),
        urgency: input.urgency,
        region: input.region.into_string(),
        city: input.city.into_string(),
        address: input.address.into_string(),
        preferred_time_window: input.preferred_time_window,
        budget: input.budget,
        status: RequestStatus::New,
        priority: None,
        manager_id: None,
        contractor_id: None,
        created_at: now,
        updated_at: now,
        clarification_question: None,
        completion_report: None,
        final_price: None,
    };
    let source = services.config.service_name.as_str();
    let actor = Actor::user(identity.user_id, identity.role);
    let created = caller.trace.stamp(Envelope::new(
        source,
        RequestCreated {
            request_id: view.id,
            customer_id: view.customer_id,
            title: view.title.clone(),
            description: view.description.clone(),
            category: view.category.clone(),
            urgency: view.urgency,
            region: view.region.clone(),
            city: view.city.clone(),
            address: view.address.clone(),
            preferred_time_window: view.preferred_time_window,
            budget: view.budget.clone(),
            created_at: now,
        },
    ));
    let audit = Envelope::caused_by(
        source,
        &created.meta,
        UserAction {
            actor: actor.clone(),
            action: "request.create".into(),
            resource_type: "service_request".into(),
            resource_id: view.id.to_string(),
            outcome: AuditOutcome::Success,
            details: json!({"region": view.region, "category": view.category, "urgency": view.urgency}),
            at: now,
        },
    );
    let events = [created, audit];

    let mut tx = services.pool.begin().await?;
    store::insert(&mut tx, &view).await?;
    store::record_status_change(
        &mut tx,
        &store::StatusChange {
            request_id: view.id,
            from: None,
            to: RequestStatus::New,
            actor: &actor,
            reason: None,
            event_id: events[0].meta.id,
            at: now,
        },
    )
    .await?;
    services.commit_with_events(tx, &events).await?;

    tracing::info!(request_id = %view.id, event_id = %events[0].meta.id, "service request created");
    Ok(Created {
        location: Some(view.location()),
        view,
    })
}
