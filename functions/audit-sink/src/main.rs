//! Consumer of audit-events and every domain topic (MSK or self-managed Kafka triggers): stores
//! each batch of events in ClickHouse with one INSERT, idempotently by event id.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_audit::sink::{SinkReport, process_batch};
use servicehub_audit::{ClickHouse, ClickHouseConfig};
use servicehub_platform::kafka::EventProducer;
use servicehub_platform::report::Reporter;
use servicehub_platform::{Config, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // The sink has no database: only Kafka (for dead letters) and ClickHouse.
    let config = Config::without_database_from_env("audit-sink")?;
    let producer = EventProducer::connect(&config).await?;
    let reporter = Reporter::from_config(&config, &producer);
    let clickhouse_config = ClickHouseConfig::from_env()?;
    tracing::info!(?clickhouse_config, "services ready");
    let clickhouse = ClickHouse::new(clickhouse_config)?;
    let (producer, reporter, clickhouse) = (&producer, &reporter, &clickhouse);
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let report: SinkReport =
            process_batch(&event.payload, producer, reporter, clickhouse).await?;
        Ok::<_, Error>(report)
    }))
    .await
}
