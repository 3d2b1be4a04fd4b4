//! `GET /requests`: the requests the caller may see (a customer their own, a manager their
//! regions' and those assigned to them, a contractor those offered or assigned to them, security
//! and admins all), filtered, newest first, a page at a time.

use crate::store;
use crate::view::ServiceRequestView;
use lambda_http::{Body, Request, Response};
use schemars::JsonSchema;
use serde::Serialize;
use servicehub_domain::commands::Caller;
use servicehub_domain::listing::{Cursor, ListQuery};
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, RequestInfo, json_response, query_pairs};

/// One page of `GET /requests`.
#[derive(Serialize, JsonSchema)]
pub struct RequestPage {
    pub items: Vec<ServiceRequestView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub async fn handle(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let pairs = query_pairs(&request);
    let query = ListQuery::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    let caller = Caller {
        user_id: identity.user_id,
        role: identity.role,
        regions: &identity.regions,
    };
    let mut conn = services.pool.acquire().await?;
    // One row more than the page tells whether there is a next page.
    let probe = ListQuery {
        limit: query.limit + 1,
        ..query.clone()
    };
    let mut items = store::list(&mut conn, caller, &probe).await?;
    let next_cursor = if items.len() > query.limit as usize {
        items.truncate(query.limit as usize);
        items.last().map(|last| {
            Cursor {
                created_at: last.created_at,
                id: last.id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(json_response(
        200,
        &RequestPage { items, next_cursor },
        &info,
        None,
    ))
}
