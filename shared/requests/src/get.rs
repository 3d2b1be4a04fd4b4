//! `GET /requests/{id}`.

use crate::store;
use crate::view::ServiceRequestView;
use lambda_http::{Body, Request, Response};
use servicehub_domain::access::can_view;
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, Identity, RequestInfo, json_response, path_uuid};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn handle(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let id = path_uuid(&request, "id", "service request")?;
    let mut conn = services.pool.acquire().await?;
    let view = find_visible(&mut conn, id, identity).await?;
    Ok(json_response(200, &view, &info, None))
}

/// The request, if `identity` may see it; otherwise 404, as if it did not exist (existence
/// must not leak).
pub async fn find_visible(
    conn: &mut PgConnection,
    id: Uuid,
    identity: &Identity,
) -> Result<ServiceRequestView, ApiError> {
    let not_found = || ApiError::NotFound(format!("no service request with id {id}"));
    let found = store::find(conn, id).await?.ok_or_else(not_found)?;
    let offered = store::is_offered(conn, id, identity.user_id).await?;
    let visible = can_view(
        identity.user_id,
        identity.role,
        &identity.regions,
        &found.parties(),
        offered,
    );
    if visible { Ok(found) } else { Err(not_found()) }
}
