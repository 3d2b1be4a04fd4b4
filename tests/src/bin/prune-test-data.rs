//! Drops what earlier test and benchmark runs left in the dev services: PostgreSQL's `sh_test_*`
//! and ClickHouse's `sh_audit_*` and `sh_bench_*` databases, and the broker's empty consumer
//! groups of test stacks (see [`TEST_GROUP_PREFIXES`]). Tests keep theirs (a failed test's data
//! stays there to look at); `tools/test` runs this before the tests, so they do not pile up and
//! slow the services down run after run: thousands of groups made the broker log a line each at
//! start and roll its log over mid-start. Never touches the local system's own databases or its
//! `servicehub-*` groups.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`):
//!   cargo build -p servicehub-tests --bin prune-test-data && "$CARGO_TARGET_DIR/debug/prune-test-data"
//! Arguments name the services to prune (`postgres`, `clickhouse`, `kafka`; default all):
//! `tools/chaos` prunes the three-broker cluster's groups with `prune-test-data kafka`.

use serde::Deserialize;
use servicehub_tests::kafka::delete_empty_groups;
use servicehub_tests::required_env;
use sqlx::Connection;
use std::time::Instant;

/// Consumer groups only tests and benchmarks name so, each with a fresh id after the prefix:
/// `Stack`'s `runner-<id>-<function>` (and runner-bench's `runner-bench-<id>`), the local runner
/// test's `local-runner-e2e-<id>`, admin_lag's `admin-lag-<id>`, kafka_trigger's `kt-<case>-<id>`,
/// prune_groups' `prune-<id>-<case>` and `prune-other-<id>`.
const TEST_GROUP_PREFIXES: [&str; 5] = [
    "runner-",
    "local-runner-e2e-",
    "admin-lag-",
    "kt-",
    "prune-",
];

#[tokio::main]
async fn main() {
    let started = Instant::now();
    let asked: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |what: &str| asked.is_empty() || asked.iter().any(|a| a == what);
    if let Some(other) = asked
        .iter()
        .find(|a| !["postgres", "clickhouse", "kafka"].contains(&a.as_str()))
    {
        eprintln!(
            "prune-test-data: unknown service {other:?}; usage: prune-test-data [postgres] [clickhouse] [kafka]"
        );
        std::process::exit(2);
    }
    let mut dropped = Vec::new();
    if wanted("postgres") {
        dropped.push(format!(
            "{} PostgreSQL test databases",
            prune_postgres().await
        ));
    }
    if wanted("clickhouse") {
        dropped.push(format!(
            "{} ClickHouse test databases",
            prune_clickhouse().await
        ));
    }
    if wanted("kafka") {
        dropped.push(format!(
            "{} Kafka consumer groups",
            delete_empty_groups(&TEST_GROUP_PREFIXES).await
        ));
    }
    println!(
        "prune-test-data: dropped {} in {:.1} s",
        dropped.join(", "),
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
