//! `GET /requests`: the requests the caller may see (a customer their own, a manager their
//! regions' and those assigned to them, a contractor those offered or assigned to them, security
//! and admins all), filtered, newest first, a page at a time.

use crate::error::RequestError;
use crate::store;
use crate::view::ServiceRequestView;
use schemars::JsonSchema;
use serde::Serialize;
use servicehub_domain::commands;
use servicehub_domain::listing::{Cursor, ListQuery, cut_page};
use servicehub_platform::Services;
use servicehub_platform::http::Caller;

/// One page of `GET /requests`.
#[derive(Serialize, JsonSchema)]
pub struct RequestPage {
    pub items: Vec<ServiceRequestView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub async fn list(
    services: &Services,
    caller: Caller,
    pairs: Vec<(String, String)>,
) -> Result<RequestPage, RequestError> {
    let identity = &caller.identity;
    let query = ListQuery::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    let party = commands::Caller {
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
    let items = store::list(&mut conn, party, &probe).await?;
    let (items, next_cursor) = cut_page(items, query.limit, |last| Cursor {
        at: last.created_at,
        id: last.id,
    });
    Ok(RequestPage { items, next_cursor })
}
