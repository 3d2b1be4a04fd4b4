//! The admin's Kafka clients authenticate exactly as the functions' producers do: the
//! environment's `KAFKA_AUTH`, its secrets, `MSK_CLUSTER_ARN` and `KAFKA_PROPERTY_*`
//! (`servicehub_platform::kafka_connection`), looked up once per command.

use anyhow::{Context, Result};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use servicehub_platform::kafka::KafkaClientContext;
use servicehub_platform::kafka_connection::{ClientSettings, KafkaAuth, KafkaSettings};
use std::sync::OnceLock;
use std::time::Duration;

/// A consumer of the admin's (it reads offsets, watermarks and records; it never joins a group).
pub type AdminConsumer = BaseConsumer<KafkaClientContext>;

static SETTINGS: OnceLock<ClientSettings> = OnceLock::new();

/// Resolves the environment's Kafka settings for the cluster at `bootstrap_servers` (a flag or
/// `KAFKA_BOOTSTRAP_SERVERS`); every client of the command then uses them.
pub async fn connect_to(bootstrap_servers: &str) -> Result<()> {
    let mut vars: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    vars.insert("KAFKA_BOOTSTRAP_SERVERS".into(), bootstrap_servers.into());
    let resolved = KafkaSettings::from_vars(vars)?
        .resolve()
        .await
        .context("reading the Kafka settings (KAFKA_AUTH and its secrets)")?;
    let _ = SETTINGS.set(resolved);
    Ok(())
}

fn settings() -> &'static ClientSettings {
    SETTINGS
        .get()
        .expect("kafka::connect_to runs before any Kafka client is made")
}

/// A client configuration for the cluster, with the command's authentication.
pub fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    settings().apply_to(&mut config);
    config
}

pub fn context() -> KafkaClientContext {
    KafkaClientContext::new(settings())
}

/// Creates a consumer from `config`. With MSK IAM, its first token is signed before any request:
/// a consumer that is never polled would otherwise wait for one for ever.
pub fn consumer(config: &ClientConfig) -> Result<AdminConsumer> {
    let consumer: AdminConsumer = config
        .create_with_context(context())
        .context("creating a Kafka consumer")?;
    if settings().auth == KafkaAuth::Iam {
        let _ = consumer.poll(Duration::from_millis(100));
    }
    Ok(consumer)
}
