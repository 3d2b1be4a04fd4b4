//! The Postgres pool, created once per execution environment, and the migrations.

use crate::config::Config;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// A lazily connecting pool: a database that is briefly down at cold start fails the first
/// invocations (which Lambda retries) instead of failing the environment's init for good.
pub fn pool(config: &Config) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&config.database_url)
}

/// Applies every migration not yet applied. Run by `servicehub-admin db migrate` and the tests,
/// not by the functions: a cold start should not race other environments over the schema.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
