//! The API honours its own OpenAPI document: schemathesis (`st run --checks all`) against the
//! local runner on the real template.yaml, once per role (customer, contractor, manager,
//! security, admin) and once without a token, with a fixed seed and a time budget per run.
//! Exits non-zero when any run reports a failure. Run by `tools/api-contract` (which installs
//! schemathesis in a cached venv) and so by `tools/test`.
//!
//! The run is deterministic: a fixed seed, the example, coverage and fuzzing phases with a fixed
//! number of cases per operation, no time budget (the stateful phase, which follows links until a
//! budget runs out, is left to longer runs: `API_CONTRACT_PHASES=all API_CONTRACT_SECONDS=120`).
//! One check is left out: `unsupported_method`, which expects 405 for a method a path does not
//! route. API Gateway's HTTP API answers 404 there (it has no 405), and the local runner answers
//! as it does.
//!
//! Failures recorded in `tests/api-contract-baseline.json` (each with the reason it stays) are
//! reported but do not fail the run; anything else does. `API_CONTRACT_UPDATE_BASELINE=1` merges
//! this run's failures into that file (then give each new entry its reason, or fix it).
//!
//! Environment: `SCHEMATHESIS` (the `st` executable, default `st`), `API_CONTRACT_SEED` (default
//! 20261202), `API_CONTRACT_MAX_EXAMPLES` (cases per operation and phase, default 50),
//! `API_CONTRACT_PHASES` (default `examples,coverage,fuzzing`), `API_CONTRACT_SECONDS` (a time
//! budget per caller, none by default), `API_CONTRACT_CALLERS` (comma-separated, default all),
//! and the dev services' (`eval "$(tools/dev-services env)"`).

use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, repo_root};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let st = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let setting =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let seed = setting("API_CONTRACT_SEED", "20261202");
    let max_examples = setting("API_CONTRACT_MAX_EXAMPLES", "50");
    let phases = setting("API_CONTRACT_PHASES", "examples,coverage,fuzzing");
    let seconds = std::env::var("API_CONTRACT_SECONDS").ok();
    let wanted = std::env::var("API_CONTRACT_CALLERS").ok();
    let db = TestDatabase::new().await;
    let stack = Stack::start(&db.url, &[("LOCAL_RUNNER_LOG", "warn")]).await;
    let callers = std::iter::once(("anonymous", None))
        .chain(
            stack
                .callers()
                .await
                .into_iter()
                .map(|(role, token)| (role, Some(token))),
        )
        .collect::<Vec<_>>();
    let mut failed = Vec::new();
    for (role, token) in &callers {
        if wanted
            .as_deref()
            .is_some_and(|wanted| !wanted.split(',').any(|w| w == *role))
        {
            continue;
        }
        println!(
            "\n==> schemathesis as {role} (seed {seed}, {max_examples} cases, phases {phases})"
        );
        let started = std::time::Instant::now();
        // schemathesis keeps a cache of past failures in its working directory and replays them
        // first: each run gets a directory of its own, so nothing depends on earlier runs.
        let scratch = std::env::temp_dir().join(format!("api-contract-{}-{role}", stack.id));
        std::fs::create_dir_all(&scratch).expect("a scratch directory");
        let mut command = std::process::Command::new(&st);
        command
            .current_dir(&scratch)
            .arg("run")
            .arg(repo_root().join("openapi.json"))
            .args(["--url", &stack.url("")])
            .args(["--checks", "all"])
            .args(["--exclude-checks", "unsupported_method"])
            .args(["--seed", &seed])
            .args(["--max-examples", &max_examples])
            .args(["--phases", &phases])
            .args(["--generation-database", "none"])
            .args(["--workers", "1"])
            .arg("--baseline")
            .arg(repo_root().join("tests/api-contract-baseline.json"))
            .arg("--no-color");
        if std::env::var("API_CONTRACT_UPDATE_BASELINE").is_ok_and(|v| v == "1") {
            command.arg("--baseline-update");
        }
        if let Some(seconds) = &seconds {
            command.args(["--max-time", seconds]);
        }
        if let Some(token) = token {
            command.args(["--header", &format!("Authorization: {token}")]);
        }
        let status = command.status();
        std::fs::remove_dir_all(&scratch).ok();
        println!("==> {role}: {:.1} s", started.elapsed().as_secs_f64());
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => failed.push(format!("{role}: {status}")),
            Err(error) => {
                eprintln!("api-contract: cannot run {st}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    stack.runner.stop().await;
    if failed.is_empty() {
        println!("\napi-contract: every caller's run passed");
        ExitCode::SUCCESS
    } else {
        println!("\napi-contract: failures: {}", failed.join("; "));
        ExitCode::FAILURE
    }
}
