//! `GET /requests/{id}/history`: every status the request has been in, with who moved it, when
//! and why; for whoever may see the request (404 otherwise).

use crate::error::RequestError;
use crate::store;
use schemars::JsonSchema;
use serde::Serialize;
use servicehub_platform::Services;
use servicehub_platform::http::Caller;
use uuid::Uuid;

/// `GET /requests/{id}/history`.
#[derive(Serialize, JsonSchema)]
pub struct RequestHistory {
    pub request_id: Uuid,
    pub items: Vec<store::HistoryEntry>,
}

pub async fn history(
    services: &Services,
    caller: Caller,
    id: Uuid,
) -> Result<RequestHistory, RequestError> {
    let mut conn = services.pool.acquire().await?;
    crate::get::find_visible(&mut conn, id, &caller.identity).await?;
    let items = store::history(&mut conn, id).await?;
    Ok(RequestHistory {
        request_id: id,
        items,
    })
}
