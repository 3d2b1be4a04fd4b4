//! What one invocation costs, per function, through the local runner on the real template.yaml:
//! one client sends N `POST /requests` at a steady rate (each sets assign-manager, notify and the
//! audit sink going), then N `GET /requests/{id}` and N `GET /requests?limit=20`; the pipeline is
//! drained in between. Printed per function: invocations, handler time p50/p99 (the runner's
//! invocation duration), peak RSS of its processes and CPU time per invocation; and per process
//! (functions, runner, dev services) the CPU time per created request during the POST phase.
//! Figures only.
//!
//! Needs the dev services (`eval "$(tools/dev-services env)"`) and the built binaries:
//!   cargo build --profile local --workspace --bins &&
//!     "$CARGO_TARGET_DIR/local/cost-bench" [requests] [per second]

use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, new_request, procstat};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `CreateRequestFunction` -> `create-request`.
fn binary_of(function: &str) -> String {
    let mut name = String::new();
    for (i, c) in function.trim_end_matches("Function").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20.0);

    let db = TestDatabase::new().await;
    let stack = Stack::start(&db.url, &[("LOCAL_RUNNER_LOG", "info")]).await;
    let region = format!("cost-{}", stack.id);
    let admin = stack.admin().await;
    stack.create_manager(&admin, &[&region]).await;
    let customer = stack.verified_customer().await;
    let body = new_request(&region);

    let before = procstat::processes();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(requests);
    for i in 0..requests {
        tokio::time::sleep_until((started + Duration::from_secs_f64(i as f64 / rate)).into()).await;
        let (status, created) = stack.post(&customer, "/requests", &body).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap_or_default().to_owned());
    }
    // The event half of those requests, drained: both e-mails of each sent.
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications WHERE state = 'sent'")
                .fetch_one(&db.pool)
                .await
                .unwrap_or(0);
        if sent >= 2 * requests as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after_posts = procstat::processes();
    for id in &ids {
        let (status, _) = stack.get(&customer, &format!("/requests/{id}")).await;
        assert_eq!(status, 200);
    }
    for _ in 0..requests {
        let (status, _) = stack.get(&customer, "/requests?limit=20").await;
        assert_eq!(status, 200);
    }
    let after = procstat::processes();

    let mut durations: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for invocation in stack.runner.invocations() {
        if let (Some(function), Some(ms)) = (
            invocation["function"].as_str(),
            invocation["duration_ms"].as_f64(),
        ) {
            durations.entry(binary_of(function)).or_default().push(ms);
        }
    }
    println!(
        "cost-bench: {requests} POST /requests at {rate}/s, then {requests} GET /requests/{{id}} and {requests} GET /requests?limit=20, one client ({} profile)",
        servicehub_tests::build_profile()
    );
    println!(
        "{:<24} {:>7} {:>9} {:>9} {:>9} {:>12}",
        "function", "invoked", "p50 ms", "p99 ms", "peak MB", "cpu ms/inv"
    );
    let spent = procstat::ticks_by_name(&before, &after);
    for (binary, mut times) in durations {
        times.sort_by(f64::total_cmp);
        let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        let ticks = spent.get(&binary).copied().unwrap_or(0);
        let peak_mb = procstat::peak_rss_kb(&after, &binary) as f64 / 1024.0;
        println!(
            "{binary:<24} {:>7} {:>9.2} {:>9.2} {:>9.1} {:>12.2}",
            times.len(),
            at(0.5),
            at(0.99),
            peak_mb,
            ticks as f64 * procstat::TICK_MS / times.len() as f64
        );
    }
    println!(
        "CPU per created request during the POST phase (its event half included), by process:"
    );
    let mut per_request: Vec<(String, f64)> = procstat::ticks_by_name(&before, &after_posts)
        .into_iter()
        .map(|(name, ticks)| (name, ticks as f64 * procstat::TICK_MS / requests as f64))
        .filter(|(_, ms)| *ms >= 0.01)
        .collect();
    per_request.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = per_request.iter().map(|(_, ms)| ms).sum();
    for (name, ms) in per_request.iter().take(16) {
        println!("  {name:<24} {ms:>7.2} ms");
    }
    println!("  {:<24} {total:>7.2} ms", "all processes");
    let status = stack.runner.stop().await;
    assert!(status.success(), "the runner stopped with {status}");
}
