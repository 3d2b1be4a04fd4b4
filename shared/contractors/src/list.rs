//! `GET /contractors?status=pending|verified|rejected` (security officers and admins).

use crate::store;
use crate::view::ContractorList;
use servicehub_domain::contractors::Verification;
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::values::Role;
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, Caller};

/// Why the list was not given.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("only security officers and admins list contractors")]
    NotAllowed,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<ListError> for ApiError {
    fn from(error: ListError) -> ApiError {
        match error {
            ListError::NotAllowed => ApiError::Forbidden(error.to_string()),
            ListError::Invalid(errors) => errors.into(),
            ListError::Store(error) => error.into(),
        }
    }
}

pub async fn list(
    services: &Services,
    caller: Caller,
    query: Vec<(String, String)>,
) -> Result<ContractorList, ListError> {
    if !matches!(caller.identity.role, Role::Security | Role::Admin) {
        return Err(ListError::NotAllowed);
    }
    let mut errors = ValidationErrors::default();
    let mut status = None;
    // Sorted by name; a repeated parameter counts once, with its first value.
    let mut seen = None;
    for (name, value) in &query {
        if seen == Some(name) {
            continue;
        }
        seen = Some(name);
        match name.as_str() {
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
    Ok(ContractorList { items })
}
