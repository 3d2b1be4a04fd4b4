//! Consumer of audit-events and every domain topic (MSK or self-managed Kafka triggers): stores
//! each batch of events in ClickHouse with one INSERT, idempotently by event id.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_audit::sink::{SinkReport, process_batch};
use servicehub_audit::{ClickHouse, ClickHouseConfig};
use servicehub_platform::kafka::EventProducer;
use servicehub_platform::{Config, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    // The sink has no database: only Kafka (for dead letters) and ClickHouse.
    let service_name = std::env::var("SERVICE_NAME")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "audit-sink".to_owned());
    let config = Config {
        service_name: service_name.clone(),
        database_url: String::new(),
        database_max_connections: 1,
        kafka_bootstrap_servers: std::env::var("KAFKA_BOOTSTRAP_SERVERS")
            .map_err(|_| "environment variable KAFKA_BOOTSTRAP_SERVERS is required")?,
        kafka_properties: std::env::vars()
            .filter_map(|(name, value)| {
                let property = name.strip_prefix("KAFKA_PROPERTY_")?;
                Some((property.to_ascii_lowercase().replace('_', "."), value))
            })
            .collect(),
    };
    let producer = EventProducer::new(&config)?;
    let clickhouse_config = ClickHouseConfig::from_env()?;
    tracing::info!(?clickhouse_config, "services ready");
    let clickhouse = ClickHouse::new(clickhouse_config)?;
    let (producer, clickhouse, service_name) = (&producer, &clickhouse, &service_name);
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let report: SinkReport =
            process_batch(&event.payload, service_name, producer, clickhouse).await?;
        Ok::<_, Error>(report)
    }))
    .await
}
