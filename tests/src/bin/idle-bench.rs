//! What a running local system costs with nothing to do, side by side with and without the
//! runner freezing idle environments (as Lambda freezes an environment between invocations).
//! Each round starts the real template.yaml through the local runner, files a few requests so
//! that the event half has run, lets it settle, and reads CPU time from /proc over a quiet
//! window. Printed per process group, in % of one core. Figures only.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --profile local --workspace --bins &&
//!     "$CARGO_TARGET_DIR/local/idle-bench" [settle seconds, 30] [window seconds, 30]

use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, new_request, procstat};
use std::collections::BTreeMap;
use std::time::Duration;

/// CPU % of one core per group over `window`, for the system whose runner is `runner`.
async fn idle_cost(runner: u32, window: Duration) -> BTreeMap<&'static str, f64> {
    let before = procstat::processes();
    tokio::time::sleep(window).await;
    let after = procstat::processes();
    let group = |pid: u32, name: &str| -> Option<&'static str> {
        if pid == runner {
            return Some("local runner");
        }
        if procstat::parent_of(pid) == Some(runner) {
            return Some("functions");
        }
        match name {
            "java" => Some("Kafka"),
            n if n.starts_with("clickhouse") => Some("ClickHouse"),
            n if n.starts_with("postgres") => Some("PostgreSQL"),
            "moto" => Some("moto"),
            _ => None,
        }
    };
    let mut ticks: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (pid, spent) in procstat::ticks_by_pid(&before, &after) {
        if let Some(group) = group(pid, &after[&pid].name) {
            *ticks.entry(group).or_default() += spent;
        }
    }
    let seconds = window.as_secs_f64();
    ticks
        .into_iter()
        .map(|(group, t)| (group, t as f64 * procstat::TICK_MS / 10.0 / seconds))
        .collect()
}

async fn round(freeze: bool, settle: Duration, window: Duration) -> BTreeMap<&'static str, f64> {
    let db = TestDatabase::new().await;
    let mut env = vec![("LOCAL_RUNNER_LOG", "warn")];
    if !freeze {
        env.push(("LOCAL_RUNNER_NO_FREEZE", "1"));
    }
    let stack = Stack::start(&db.url, &env).await;
    let region = format!("idle-{}", stack.id);
    let admin = stack.admin().await;
    stack.create_manager(&admin, &[&region]).await;
    let customer = stack.verified_customer().await;
    for _ in 0..5 {
        let (status, created) = stack
            .post(&customer, "/requests", &new_request(&region))
            .await;
        assert_eq!(status, 201, "{created}");
    }
    tokio::time::sleep(settle).await;
    let cost = idle_cost(stack.runner.pid(), window).await;
    let functions = procstat::processes()
        .keys()
        .filter(|pid| procstat::parent_of(**pid) == Some(stack.runner.pid()))
        .count();
    println!(
        "  {}: {functions} function processes",
        if freeze { "frozen" } else { "running" }
    );
    stack.runner.stop().await;
    cost
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let settle = Duration::from_secs(args.next().and_then(|a| a.parse().ok()).unwrap_or(30));
    let window = Duration::from_secs(args.next().and_then(|a| a.parse().ok()).unwrap_or(30));
    println!(
        "idle-bench ({} profile): settle {settle:?}, measure {window:?} per round",
        servicehub_tests::build_profile()
    );
    let running = round(false, settle, window).await;
    let frozen = round(true, settle, window).await;
    let groups: Vec<&str> = [
        "functions",
        "local runner",
        "Kafka",
        "ClickHouse",
        "PostgreSQL",
        "moto",
    ]
    .to_vec();
    println!("\n| process group | idle environments running | frozen |");
    println!("|---|---|---|");
    let total = |cost: &BTreeMap<&str, f64>| cost.values().sum::<f64>();
    for group in groups {
        let show = |cost: &BTreeMap<&str, f64>| cost.get(group).copied().unwrap_or(0.0);
        println!(
            "| {group} | {:.2} % | {:.2} % |",
            show(&running),
            show(&frozen)
        );
    }
    println!(
        "| **total** | **{:.2} %** | **{:.2} %** |",
        total(&running),
        total(&frozen)
    );
}
