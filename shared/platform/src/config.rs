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

/// Environment variables as every function reads them, with one rule for all: a value is
/// trimmed, and an empty or blank one counts as unset (so a template's `""` default means "not
/// set", and a stray space never ends up in a URL).
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    pub fn from_env() -> Vars {
        Vars::new(std::env::vars())
    }

    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Vars {
        Vars(vars.into_iter().collect())
    }

    /// Literal pairs, for tests and tools: `Vars::of(&[("DATABASE_URL", "postgres://...")])`.
    pub fn of(pairs: &[(&str, &str)]) -> Vars {
        Vars::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    /// The trimmed value, `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// A whole number of at least `min`, `default` when unset.
    pub fn number<T>(&self, name: &'static str, default: T, min: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => {
                v.parse::<T>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or_else(|| ConfigError::Invalid {
                        name,
                        reason: format!("{v:?} is not a whole number >= {min}"),
                    })
            }
        }
    }

    /// Every variable whose name starts with `prefix`, with the rest of its name (raw values).
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?, v.as_str())))
    }
}

impl IntoIterator for Vars {
    type Item = (String, String);
    type IntoIter = std::collections::btree_map::IntoIter<String, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
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
        let vars = Vars::new(vars);
        let database_max_connections = vars.number("DATABASE_MAX_CONNECTIONS", 2, 1)?;
        let performance_metrics_flush =
            Duration::from_secs(vars.number("PERFORMANCE_METRICS_FLUSH_SECONDS", 60, 0)?);
        let database_acquire_timeout =
            Duration::from_millis(vars.number("DATABASE_ACQUIRE_TIMEOUT_MS", 2000, 1)?);
        let outbox_publish_budget =
            Duration::from_millis(vars.number("OUTBOX_PUBLISH_BUDGET_MS", 200, 0)?);
        let kafka = KafkaSettings::read(&vars)?;
        Ok(Config {
            service_name: vars
                .get("SERVICE_NAME")
                .unwrap_or_else(|| default_service_name.to_owned()),
            database_url: if with_database {
                vars.required("DATABASE_URL")?
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

    #[test]
    fn reads_required_and_optional_variables() {
        let config = Config::from_vars(
            Vars::of(&[
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
        let error =
            Config::from_vars(Vars::of(&[("KAFKA_BOOTSTRAP_SERVERS", "k")]), "x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable DATABASE_URL is required"
        );
        let error = Config::from_vars(
            Vars::of(&[
                ("DATABASE_URL", "p"),
                ("KAFKA_BOOTSTRAP_SERVERS", "k"),
                ("DATABASE_MAX_CONNECTIONS", "0"),
            ]),
            "x",
        )
        .unwrap_err();
        assert!(error.to_string().contains("DATABASE_MAX_CONNECTIONS"));
        let error = Config::from_vars(
            Vars::of(&[
                ("DATABASE_URL", "p"),
                ("KAFKA_BOOTSTRAP_SERVERS", "k"),
                ("PERFORMANCE_METRICS_FLUSH_SECONDS", "soon"),
            ]),
            "x",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable PERFORMANCE_METRICS_FLUSH_SECONDS is invalid: \"soon\" is not a whole number >= 0"
        );
    }

    #[test]
    fn one_rule_for_every_variable_trimmed_and_blank_is_unset() {
        let vars = Vars::of(&[
            ("URL", "  http://x  "),
            ("BLANK", "   "),
            ("N", " 7 "),
            ("LOW", "0"),
            ("NEG", "-1"),
            ("KAFKA_PROPERTY_LINGER_MS", "5"),
        ]);
        assert_eq!(vars.get("URL").as_deref(), Some("http://x"));
        assert_eq!(vars.get("BLANK"), None);
        assert!(matches!(
            vars.required("BLANK"),
            Err(ConfigError::Missing("BLANK"))
        ));
        assert_eq!(vars.number("N", 1u32, 1).unwrap(), 7);
        assert_eq!(vars.number("UNSET", 42u64, 1).unwrap(), 42);
        assert_eq!(vars.number("BLANK", 3u64, 1).unwrap(), 3);
        assert_eq!(
            vars.number("LOW", 1u32, 1).unwrap_err().to_string(),
            "environment variable LOW is invalid: \"0\" is not a whole number >= 1"
        );
        assert!(
            vars.number("NEG", 0u64, 0).is_err(),
            "a negative number is not a u64"
        );
        assert_eq!(
            vars.with_prefix("KAFKA_PROPERTY_").collect::<Vec<_>>(),
            vec![("LINGER_MS", "5")]
        );
    }
}
