//! The Postgres pool, created once per execution environment, and the migrations.

use crate::config::Config;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// A lazily connecting pool: a database that is briefly down at cold start fails the first
/// invocations (which Lambda retries) instead of failing the environment's init for good.
pub fn pool(config: &Config) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(config.database_acquire_timeout)
        .connect_lazy(&config.database_url)
}

/// Applies every migration not yet applied. Run by `servicehub-admin db migrate` and the tests,
/// not by the functions: a cold start should not race other environments over the schema.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}

/// Whether retrying may help: the database is unreachable, restarting, overloaded or asked the
/// transaction to retry. Everything else (a constraint, bad data, a query or decoding error) fails
/// the same way every time: an API answers it as an error of its own, a consumer dead-letters the
/// record instead of retrying its batch for ever.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources; 57P01-57P03: shutdown or
            // starting up; 58: system error; 40001/40P01: serialization failure, deadlock;
            // 55P03: lock not available.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code.starts_with("58")
                || matches!(&*code, "40001" | "40P01" | "55P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn unreachable_is_transient_and_a_decoding_error_is_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(is_transient(&sqlx::Error::Io(io)));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
