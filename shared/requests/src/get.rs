//! `GET /requests/{id}`.

use crate::store;
use lambda_http::{Body, Request, Response};
use servicehub_domain::access::{RequestParties, can_view};
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, RequestInfo, json_response, path_uuid};

pub async fn handle(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let id = path_uuid(&request, "id", "service request")?;
    let mut conn = services.pool.acquire().await?;
    let found = store::find(&mut conn, id).await?;
    let offered = match &found {
        Some(_) => store::is_offered(&mut conn, id, identity.user_id).await?,
        None => false,
    };
    // Not found and not yours look the same: existence must not leak.
    let visible = found.filter(|r| {
        let parties = RequestParties {
            customer_id: r.customer_id,
            region: &r.region,
            manager_id: r.manager_id,
            contractor_id: r.contractor_id,
        };
        can_view(
            identity.user_id,
            identity.role,
            &identity.regions,
            &parties,
            offered,
        )
    });
    match visible {
        Some(view) => Ok(json_response(200, &view, &info, None)),
        None => Err(ApiError::NotFound(format!(
            "no service request with id {id}"
        ))),
    }
}
