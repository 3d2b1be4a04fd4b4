//! `GET /requests/{id}/history`: every status the request has been in, with who moved it, when
//! and why; for whoever may see the request (404 otherwise).

use crate::store;
use lambda_http::{Body, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;
use servicehub_domain::access::{RequestParties, can_view};
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, RequestInfo, json_response, path_uuid};
use uuid::Uuid;

/// `GET /requests/{id}/history`.
#[derive(Serialize, JsonSchema)]
pub struct RequestHistory {
    pub request_id: Uuid,
    pub items: Vec<store::HistoryEntry>,
}

pub async fn handle(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let id = path_uuid(&request, "id", "service request")?;
    let mut conn = services.pool.acquire().await?;
    let not_found = || ApiError::NotFound(format!("no service request with id {id}"));
    let found = store::find(&mut conn, id).await?.ok_or_else(not_found)?;
    let offered = store::is_offered(&mut conn, id, identity.user_id).await?;
    let parties = RequestParties {
        customer_id: found.customer_id,
        region: &found.region,
        manager_id: found.manager_id,
        contractor_id: found.contractor_id,
    };
    if !can_view(
        identity.user_id,
        identity.role,
        &identity.regions,
        &parties,
        offered,
    ) {
        return Err(not_found());
    }
    let items = store::history(&mut conn, id).await?;
    Ok(json_response(
        200,
        &RequestHistory {
            request_id: id,
            items,
        },
        &info,
        None,
    ))
}
