//! `GET /requests/{id}/history`: every status the request has been in, with who moved it, when
//! and why; for whoever may see the request (404 otherwise).

use crate::store;
use lambda_http::{Body, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;
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
    crate::get::find_visible(&mut conn, id, identity).await?;
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
