//! Why a use case on service requests did not happen, and the one place that says what each
//! reason answers over HTTP.

use servicehub_domain::validation::ValidationErrors;
use servicehub_domain::workflow::IllegalTransition;
use servicehub_events::values::RequestStatus;
use servicehub_platform::http::ApiError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Missing, or hidden from the caller: existence must not leak.
    #[error("no service request with id {0}")]
    NotFound(Uuid),
    /// The caller may see the request but not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The workflow does not go from the request's status by this action.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// The request's state refuses it for another reason; `current` is its status when that is
    /// the reason.
    #[error("{detail}")]
    Conflict {
        detail: String,
        current: Option<RequestStatus>,
    },
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::NotFound(_) => ApiError::NotFound(error.to_string()),
            RequestError::Forbidden(why) => ApiError::Forbidden(why.into()),
            RequestError::Invalid(errors) => errors.into(),
            RequestError::IllegalTransition(illegal) => illegal.into(),
            RequestError::Conflict { detail, current } => ApiError::Conflict {
                detail,
                current_status: current,
            },
            RequestError::Store(error) => error.into(),
        }
    }
}
