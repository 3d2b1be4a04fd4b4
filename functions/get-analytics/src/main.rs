//! `GET /analytics/requests` (API Gateway HTTP API): the business at a glance from ClickHouse,
//! for admins and for managers (their regions).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_audit::analytics;
use servicehub_audit::{ClickHouse, ClickHouseConfig};
use servicehub_platform::report::Reporter;
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let reporter = Reporter::from_env("get-analytics").await?;
    // Without a usable CLICKHOUSE_URL the function still answers (401/403/422 as usual, 503 to
    // callers) rather than failing every cold start.
    let clickhouse = match ClickHouseConfig::from_env() {
        Ok(config) => {
            tracing::info!(?config, "services ready");
            Some(ClickHouse::new(config)?)
        }
        Err(error) => {
            tracing::error!(%error, "no ClickHouse configuration: GET /analytics/requests answers 503");
            None
        }
    };
    let (clickhouse, reporter) = (clickhouse.as_ref(), &reporter);
    run(service_fn(|request: Request| async move {
        Ok::<_, Error>(
            respond(reporter, request, |request, info| {
                analytics::handle(clickhouse, request, info)
            })
            .await,
        )
    }))
    .await
}
