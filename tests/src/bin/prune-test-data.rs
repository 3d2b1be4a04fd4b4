//! Drops the databases earlier test and benchmark runs left in the dev services: PostgreSQL's
//! `sh_test_*` and ClickHouse's `sh_audit_*` and `sh_bench_*`. Tests keep theirs (a failed test's
//! data stays there to look at); `tools/test` runs this before the tests, so they do not pile up
//! and slow the services down run after run. Never touches the local system's own databases.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`):
//!   cargo build -p servicehub-tests --bin prune-test-data && "$CARGO_TARGET_DIR/debug/prune-test-data"

use serde::Deserialize;
use servicehub_tests::required_env;
use sqlx::Connection;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let postgres = prune_postgres().await;
    let clickhouse = prune_clickhouse().await;
    println!(
        "prune-test-data: dropped {postgres} PostgreSQL and {clickhouse} ClickHouse test databases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn prune_postgres() -> usize {
    let mut admin = sqlx::PgConnection::connect(&required_env("DATABASE_URL"))
        .await
        .expect("connecting to the dev database");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE left(datname, 8) = 'sh_test_'")
            .fetch_all(&mut admin)
            .await
            .expect("listing the test databases");
    for name in &names {
        // FORCE: a function process a killed test left behind may still hold a connection.
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("dropping {name}: {e}"));
    }
    names.len()
}

async fn prune_clickhouse() -> usize {
    #[derive(Deserialize)]
    struct Database {
        name: String,
    }
    let config = servicehub_audit::ClickHouseConfig::from_vars([
        ("CLICKHOUSE_URL".to_owned(), required_env("CLICKHOUSE_URL")),
        ("CLICKHOUSE_DATABASE".to_owned(), "system".to_owned()),
    ])
    .expect("a ClickHouse configuration");
    let clickhouse = servicehub_audit::ClickHouse::new(config).expect("a ClickHouse HTTP client");
    let databases: Vec<Database> = clickhouse
        .select(
            "SELECT name FROM system.databases WHERE substring(name, 1, 9) = 'sh_audit_'
               OR substring(name, 1, 9) = 'sh_bench_' FORMAT JSONEachRow",
        )
        .await
        .expect("listing the test databases");
    for database in &databases {
        clickhouse
            .execute(&format!("DROP DATABASE IF EXISTS {}", database.name), false)
            .await
            .unwrap_or_else(|e| panic!("dropping {}: {e}", database.name));
    }
    databases.len()
}
