//! `GET /contractors?status=pending|verified|rejected` (security officers and admins).

use crate::store;
use crate::view::ContractorList;
use lambda_http::{Body, Request, RequestExt, Response};
use servicehub_domain::contractors::Verification;
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::values::Role;
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, RequestInfo, json_response};

pub async fn handle(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    if !matches!(identity.role, Role::Security | Role::Admin) {
        return Err(ApiError::Forbidden(
            "only security officers and admins list contractors".into(),
        ));
    }
    let params = request.query_string_parameters();
    let mut errors = ValidationErrors::default();
    let mut status = None;
    let mut names: Vec<&str> = params.iter().map(|(name, _)| name).collect();
    names.sort();
    for name in names {
        let value = params.first(name).unwrap_or_default();
        match name {
            "status" => match Verification::parse(value) {
                Some(parsed) => status = Some(parsed),
                None => errors.add(
                    "status",
                    "invalid_value",
                    format!("{value:?} is not pending, verified or rejected"),
                ),
            },
            other => errors.add(
                other,
                "unknown_parameter",
                format!("{other} is not a known query parameter"),
            ),
        }
    }
    let status = errors.finish(|| status)?;
    let mut conn = services.pool.acquire().await?;
    let items = store::list(&mut conn, status).await?;
    Ok(json_response(200, &ContractorList { items }, &info, None))
}
