//! `GET /requests/{id}`.

use crate::error::RequestError;
use crate::store;
use crate::view::ServiceRequestView;
use servicehub_domain::access::can_view;
use servicehub_platform::Services;
use servicehub_platform::http::{Caller, Identity};
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn get(
    services: &Services,
    caller: Caller,
    id: Uuid,
) -> Result<ServiceRequestView, RequestError> {
    let mut conn = services.pool.acquire().await?;
    find_visible(&mut conn, id, &caller.identity).await
}

/// The request, if `identity` may see it; otherwise [`RequestError::NotFound`], as if it did not
/// exist (existence must not leak).
pub async fn find_visible(
    conn: &mut PgConnection,
    id: Uuid,
    identity: &Identity,
) -> Result<ServiceRequestView, RequestError> {
    let found = store::find(conn, id)
        .await?
        .ok_or(RequestError::NotFound(id))?;
    let offered = store::is_offered(conn, id, identity.user_id).await?;
    let visible = can_view(
        identity.user_id,
        identity.role,
        &identity.regions,
        &found.parties(),
        offered,
    );
    if visible {
        Ok(found)
    } else {
        Err(RequestError::NotFound(id))
    }
}
