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

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde::Deserialize;
use servicehub_tests::required_env;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Consumer groups only tests and benchmarks name so, each with a fresh id after the prefix:
/// `Stack`'s `runner-<id>-<function>` (and runner-bench's `runner-bench-<id>`), the local runner
/// test's `local-runner-e2e-<id>`, admin_lag's `admin-lag-<id>`, kafka_trigger's `kt-<case>-<id>`.
const TEST_GROUP_PREFIXES: [&str; 4] = ["runner-", "local-runner-e2e-", "admin-lag-", "kt-"];

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
            prune_consumer_groups().await
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

/// Deletes the test stacks' consumer groups that have no members left (a group still in use, e.g.
/// by a runner someone left running, is not empty and stays).
async fn prune_consumer_groups() -> usize {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
        .create()
        .expect("a Kafka admin client");
    let names: Vec<String> = admin
        .inner()
        .fetch_group_list(None, Duration::from_secs(30))
        .expect("listing the consumer groups")
        .groups()
        .iter()
        .filter(|group| matches!(group.state(), "Empty" | "Dead"))
        .map(|group| group.name().to_owned())
        .filter(|name| TEST_GROUP_PREFIXES.iter().any(|p| name.starts_with(p)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut deleted = 0;
    // One request per few hundred groups keeps each well inside the broker's limits.
    for chunk in names.chunks(500) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for result in admin
            .delete_groups(&chunk, &options)
            .await
            .expect("deleting consumer groups")
        {
            match result {
                Ok(_) => deleted += 1,
                // A member joined since the listing: it is in use after all.
                Err((name, error)) => eprintln!("prune-test-data: kept group {name}: {error}"),
            }
        }
    }
    deleted
}
