//! ClickHouse over its HTTP interface: the query in the body (or in `?query=` with the data in the
//! body for INSERTs), errors as plain text with a non-2xx status. Works with the 18.16 server
//! Debian ships (no query parameters there: values are validated and quoted by [`quote`]).

use std::time::Duration;
use thiserror::Error;

/// Where ClickHouse is and who we are there; from `CLICKHOUSE_*` variables.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// `CLICKHOUSE_URL`, e.g. `http://127.0.0.1:58123` (required).
    pub url: String,
    /// `CLICKHOUSE_DATABASE`, default `servicehub`.
    pub database: String,
    /// `CLICKHOUSE_USER`, default `default`.
    pub user: String,
    /// `CLICKHOUSE_PASSWORD`, default none.
    pub password: Option<String>,
    /// `CLICKHOUSE_TIMEOUT_MS`, default 10000: one request's whole duration.
    pub timeout: Duration,
}

impl std::fmt::Debug for ClickHouseConfig {
    // The password never reaches logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub use servicehub_platform::config::ConfigError;
use servicehub_platform::config::Vars;

impl ClickHouseConfig {
    pub fn from_env() -> Result<ClickHouseConfig, ConfigError> {
        ClickHouseConfig::from_vars(std::env::vars())
    }

    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ClickHouseConfig, ConfigError> {
        let vars = Vars::new(vars);
        let url = vars.required("CLICKHOUSE_URL")?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(ConfigError::Invalid {
                name: "CLICKHOUSE_URL",
                reason: format!("{url:?} is not an http:// URL"),
            });
        }
        let database = vars
            .get("CLICKHOUSE_DATABASE")
            .unwrap_or_else(|| "servicehub".into());
        if !is_identifier(&database) {
            return Err(ConfigError::Invalid {
                name: "CLICKHOUSE_DATABASE",
                reason: format!("{database:?} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"),
            });
        }
        let timeout_ms = vars.number("CLICKHOUSE_TIMEOUT_MS", 10_000, 1)?;
        Ok(ClickHouseConfig {
            url: url.trim_end_matches('/').to_owned(),
            database,
            user: vars
                .get("CLICKHOUSE_USER")
                .unwrap_or_else(|| "default".into()),
            password: vars.get("CLICKHOUSE_PASSWORD"),
            timeout: Duration::from_millis(timeout_ms),
        })
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: safe to splice into SQL as a database or table name.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// A ClickHouse string literal.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[derive(Debug, Error)]
pub enum ClickHouseError {
    /// ClickHouse could not be reached or did not answer in time: retrying may help.
    #[error("ClickHouse is unreachable: {0}")]
    Unreachable(String),
    /// ClickHouse answered with an error.
    #[error("ClickHouse answered {status}: {message}")]
    Server { status: u16, message: String },
    #[error("ClickHouse's answer could not be decoded: {0}")]
    Decode(String),
}

/// A client, built once per execution environment (keeps its connections alive).
#[derive(Clone, Debug)]
pub struct ClickHouse {
    http: reqwest::Client,
    config: ClickHouseConfig,
}

impl ClickHouse {
    pub fn new(config: ClickHouseConfig) -> Result<ClickHouse, ClickHouseError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| ClickHouseError::Unreachable(e.to_string()))?;
        Ok(ClickHouse { http, config })
    }

    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// The database every unqualified name refers to.
    pub fn database(&self) -> &str {
        &self.config.database
    }

    /// Runs `sql` (DDL or a query) and returns the body. `in_database`: run it with the configured
    /// database as the default one (false for `CREATE DATABASE`).
    pub async fn execute(&self, sql: &str, in_database: bool) -> Result<String, ClickHouseError> {
        let mut params: Vec<(&str, &str)> = vec![("output_format_json_quote_64bit_integers", "0")];
        if in_database {
            params.push(("database", &self.config.database));
        }
        self.send(&params, sql.to_owned()).await
    }

    /// `INSERT INTO <table> FORMAT JSONEachRow` with one JSON object per line in the body.
    pub async fn insert_json_each_row(
        &self,
        table: &str,
        rows: String,
    ) -> Result<(), ClickHouseError> {
        let query = format!("INSERT INTO {table} FORMAT JSONEachRow");
        let params = [
            ("database", self.config.database.as_str()),
            ("query", query.as_str()),
            // Reject rows with unknown columns rather than dropping data silently.
            ("input_format_skip_unknown_fields", "0"),
        ];
        self.send(&params, rows).await.map(|_| ())
    }

    /// Runs a `SELECT ... FORMAT JSONEachRow` and decodes each line as a `T`.
    pub async fn select<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
    ) -> Result<Vec<T>, ClickHouseError> {
        let body = self.execute(sql, true).await?;
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| ClickHouseError::Decode(format!("{e}: {l}")))
            })
            .collect()
    }

    async fn send(&self, params: &[(&str, &str)], body: String) -> Result<String, ClickHouseError> {
        let mut request = self
            .http
            .post(format!("{}/", self.config.url))
            .query(params)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body);
        request = request.basic_auth(&self.config.user, self.config.password.as_deref());
        let response = request
            .send()
            .await
            .map_err(|e| ClickHouseError::Unreachable(error_chain(&e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ClickHouseError::Unreachable(error_chain(&e)))?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(ClickHouseError::Server {
                status: status.as_u16(),
                message: text.trim().chars().take(2000).collect(),
            })
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_checks() {
        let config =
            ClickHouseConfig::from_vars(Vars::of(&[("CLICKHOUSE_URL", "http://127.0.0.1:58123/")]))
                .unwrap();
        assert_eq!(config.url, "http://127.0.0.1:58123");
        assert_eq!(config.database, "servicehub");
        assert_eq!(config.user, "default");
        assert!(ClickHouseConfig::from_vars(Vars::of(&[])).is_err());
        assert!(
            ClickHouseConfig::from_vars(Vars::of(&[
                ("CLICKHOUSE_URL", "http://h:1"),
                ("CLICKHOUSE_DATABASE", "x; DROP")
            ]))
            .is_err()
        );
        let secret = ClickHouseConfig::from_vars(Vars::of(&[
            ("CLICKHOUSE_URL", "http://h:1"),
            ("CLICKHOUSE_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("a'b\\c"), "'a\\'b\\\\c'");
        assert!(is_identifier("sh_test_1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
    }
}
