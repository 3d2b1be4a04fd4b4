//! Configuration from environment variables (12-factor). In AWS the template sets them; secrets
//! arrive through Secrets Manager dynamic references, never as literals in the template.

use crate::kafka_connection::KafkaSettings;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// What every function needs to reach its backing services.
#[derive(Clone)]
pub struct Config {
    /// The function's name: the CloudEvents `source` of what it emits, and its consumer name.
    pub service_name: String,
    pub database_url: String,
    /// Pool size per execution environment. Lambda runs one invocation at a time per
    /// environment, so a handful is plenty and keeps the database's connection count sane.
    pub database_max_connections: u32,
    /// How long a query waits for a connection (`DATABASE_ACQUIRE_TIMEOUT_MS`, default 2000)
    /// before the function answers 503 (an API) or retries its batch (a consumer): an
    /// unreachable database fails fast instead of running into the function's timeout.
    pub database_acquire_timeout: Duration,
    /// Where the Kafka cluster is and how producers authenticate (`KAFKA_*`, `MSK_CLUSTER_ARN`).
    pub kafka: KafkaSettings,
    /// How often the function publishes its buffered `audit.performance_metric` events
    /// (`PERFORMANCE_METRICS_FLUSH_SECONDS`, default 60; 0 publishes after every invocation).
    pub performance_metrics_flush: Duration,
    /// How long a function waits for Kafka after its transaction committed
    /// (`OUTBOX_PUBLISH_BUDGET_MS`, default 200). What is not delivered by then stays in the
    /// outbox for the relay: a committed write is answered as such, never turned into a timeout.
    pub outbox_publish_budget: Duration,
}

impl std::fmt::Debug for Config {
    // The database URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("service_name", &self.service_name)
            .field("database_url", &"<redacted>")
            .field("database_max_connections", &self.database_max_connections)
            .field("database_acquire_timeout", &self.database_acquire_timeout)
            .field("kafka_bootstrap_servers", &self.kafka.bootstrap_servers)
            .field("msk_cluster_arn", &self.kafka.msk_cluster_arn)
            .field("kafka_auth", &self.kafka.auth)
            .field(
                "kafka_properties",
                &self.kafka.properties.keys().collect::<Vec<_>>(),
            )
            .field("performance_metrics_flush", &self.performance_metrics_flush)
            .field("outbox_publish_budget", &self.outbox_publish_budget)
            .finish()
    }
}

impl Config {
    pub fn from_env(default_service_name: &str) -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars(), default_service_name)
    }

    /// The configuration of a function without a database (the authorizer, the audit sink):
    /// `DATABASE_URL` is neither required nor kept.
    pub fn without_database_from_env(default_service_name: &str) -> Result<Config, ConfigError> {
        Config::read(std::env::vars(), default_service_name, false)
    }

    /// Reads the configuration from `vars` (testable without touching the process environment).
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        default_service_name: &str,
    ) -> Result<Config, ConfigError> {
        Config::read(vars, default_service_name, true)
    }

    fn read(
        vars: impl IntoIterator<Item = (String, String)>,
        default_service_name: &str,
        with_database: bool,
    ) -> Result<Config, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let get = |name: &'static str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let database_max_connections = match get("DATABASE_MAX_CONNECTIONS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    name: "DATABASE_MAX_CONNECTIONS",
                    reason: format!("{v:?} is not a positive integer"),
                })?,
            None => 2,
        };
        let performance_metrics_flush = match get("PERFORMANCE_METRICS_FLUSH_SECONDS") {
            Some(v) => Duration::from_secs(v.parse().map_err(|_| ConfigError::Invalid {
                name: "PERFORMANCE_METRICS_FLUSH_SECONDS",
                reason: format!("{v:?} is not a whole number of seconds"),
            })?),
            None => Duration::from_secs(60),
        };
        // A whole number of milliseconds, at least `min`.
        let millis = |name: &'static str, default: u64, min: u64| match get(name) {
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n >= min)
                .map(Duration::from_millis)
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    reason: format!("{v:?} is not a whole number of milliseconds >= {min}"),
                }),
            None => Ok(Duration::from_millis(default)),
        };
        let database_acquire_timeout = millis("DATABASE_ACQUIRE_TIMEOUT_MS", 2000, 1)?;
        let outbox_publish_budget = millis("OUTBOX_PUBLISH_BUDGET_MS", 200, 0)?;
        let kafka = KafkaSettings::read(&vars, get)?;
        Ok(Config {
            service_name: get("SERVICE_NAME").unwrap_or_else(|| default_service_name.to_owned()),
            database_url: if with_database {
                require("DATABASE_URL")?
            } else {
                String::new()
            },
            database_max_connections,
            database_acquire_timeout,
            kafka,
            performance_metrics_flush,
            outbox_publish_budget,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_required_and_optional_variables() {
        let config = Config::from_vars(
            vars(&[
                ("DATABASE_URL", "postgres://u:secret@h/db"),
                ("KAFKA_BOOTSTRAP_SERVERS", "k:9092"),
                ("KAFKA_PROPERTY_SECURITY_PROTOCOL", "SSL"),
                ("DATABASE_MAX_CONNECTIONS", "4"),
            ]),
            "create-request",
        )
        .unwrap();
        assert_eq!(config.service_name, "create-request");
        assert_eq!(config.database_max_connections, 4);
        assert_eq!(config.kafka.properties["security.protocol"], "SSL");
        assert_eq!(config.performance_metrics_flush, Duration::from_secs(60));
        assert_eq!(config.outbox_publish_budget, Duration::from_millis(200));
        assert!(
            !format!("{config:?}").contains("secret"),
            "the password never reaches logs"
        );
    }

    #[test]
    fn missing_or_invalid_variables_are_named() {
        let error = Config::from_vars(vars(&[("KAFKA_BOOTSTRAP_SERVERS", "k")]), "x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable DATABASE_URL is required"
        );
        let error = Config::from_vars(
            vars(&[
                ("DATABASE_URL", "p"),
                ("KAFKA_BOOTSTRAP_SERVERS", "k"),
                ("DATABASE_MAX_CONNECTIONS", "0"),
            ]),
            "x",
        )
        .unwrap_err();
        assert!(error.to_string().contains("DATABASE_MAX_CONNECTIONS"));
        let error = Config::from_vars(
            vars(&[
                ("DATABASE_URL", "p"),
                ("KAFKA_BOOTSTRAP_SERVERS", "k"),
                ("PERFORMANCE_METRICS_FLUSH_SECONDS", "soon"),
            ]),
            "x",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable PERFORMANCE_METRICS_FLUSH_SECONDS is invalid: \"soon\" is not a whole number of seconds"
        );
    }
}
