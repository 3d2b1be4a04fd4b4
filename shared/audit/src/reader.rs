//! The execution environment of the functions that read the audit store (`get-audit`,
//! `get-analytics`), and why a read of it did not happen.

use crate::clickhouse::{ClickHouse, ClickHouseConfig, ClickHouseError};
use servicehub_domain::validation::ValidationErrors;
use servicehub_platform::BoxError;
use servicehub_platform::function::Environment;
use servicehub_platform::http::ApiError;
use servicehub_platform::report::Reporter;

pub struct AuditReader {
    pub reporter: Reporter,
    /// `None` without a usable `CLICKHOUSE_*` configuration: the function still answers
    /// (401/403/422 as usual, 503 to permitted callers) rather than failing every cold start.
    pub clickhouse: Option<ClickHouse>,
}

impl AuditReader {
    pub async fn from_env(service_name: &str) -> Result<AuditReader, BoxError> {
        let reporter = Reporter::from_env(service_name).await?;
        let clickhouse = match ClickHouseConfig::from_env() {
            Ok(config) => {
                tracing::info!(?config, "services ready");
                Some(ClickHouse::new(config)?)
            }
            Err(error) => {
                tracing::error!(%error, "no ClickHouse configuration: the route answers 503");
                None
            }
        };
        Ok(AuditReader {
            reporter,
            clickhouse,
        })
    }

    /// The store, once the caller has been let through: without a configuration the read fails
    /// here, after access was checked as usual.
    pub fn store(&self) -> Result<&ClickHouse, AuditQueryError> {
        self.clickhouse
            .as_ref()
            .ok_or(AuditQueryError::StoreNotConfigured)
    }
}

impl Environment for AuditReader {
    fn reporter(&self) -> &Reporter {
        &self.reporter
    }
}

/// Why a read of the audit store (`GET /audit`, `GET /analytics/requests`) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AuditQueryError {
    /// The caller's role (or, for a manager, the region asked for) does not see this.
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("the audit store is not configured")]
    StoreNotConfigured,
    #[error(transparent)]
    Store(#[from] ClickHouseError),
}

/// 503 while the store is unreachable or unconfigured (the client may retry), 500 for any other
/// failure of it.
impl From<AuditQueryError> for ApiError {
    fn from(error: AuditQueryError) -> ApiError {
        match error {
            AuditQueryError::NotAllowed(why) => ApiError::Forbidden(why.into()),
            AuditQueryError::Invalid(errors) => errors.into(),
            AuditQueryError::StoreNotConfigured => ApiError::Unavailable(error.to_string()),
            AuditQueryError::Store(ClickHouseError::Unreachable(_)) => {
                tracing::warn!(%error, "ClickHouse unreachable");
                ApiError::Unavailable("the audit store is unavailable".into())
            }
            AuditQueryError::Store(failure) => ApiError::Internal(failure.to_string()),
        }
    }
}
