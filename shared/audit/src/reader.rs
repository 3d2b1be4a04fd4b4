//! The execution environment of the functions that read the audit store (`get-audit`,
//! `get-analytics`): ClickHouse and a reporter, no database.

use crate::clickhouse::{ClickHouse, ClickHouseConfig};
use servicehub_platform::BoxError;
use servicehub_platform::function::Environment;
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
}

impl Environment for AuditReader {
    fn reporter(&self) -> &Reporter {
        &self.reporter
    }
}
