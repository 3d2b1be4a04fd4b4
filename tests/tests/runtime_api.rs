//! The emulated Lambda Runtime API and the runner's environment pool, driven with a real
//! lambda_runtime binary (runtime-probe): timeouts, crashes, init errors, handler errors and
//! concurrency limits behave as in Lambda.

use local_lambda::{FunctionSpec, InvokeError};
use local_runner::pool::FunctionPool;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

fn probe(timeout: Duration, env: &[(&str, &str)]) -> FunctionSpec {
    FunctionSpec {
        name: "runtime-probe".into(),
        binary: servicehub_tests::binary_path("runtime-probe"),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        timeout,
        memory_mb: 128,
    }
}

fn pid(result: &Value) -> u64 {
    result["pid"].as_u64().expect("the probe answers its pid")
}

#[tokio::test]
async fn a_timeout_kills_the_environment_and_the_next_invocation_gets_a_new_one() {
    let pool = FunctionPool::new(probe(Duration::from_millis(500), &[]), 1);
    let first = pid(&pool.invoke_recorded(&json!({})).await.result.unwrap());
    let result = pool
        .invoke_recorded(&json!({"sleep_ms": 5000}))
        .await
        .result;
    assert!(matches!(result, Err(InvokeError::Timeout(_))), "{result:?}");
    let next = pid(&pool.invoke_recorded(&json!({})).await.result.unwrap());
    assert_ne!(first, next, "the timed-out environment was replaced");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_crash_is_reported_and_the_environment_replaced() {
    let pool = FunctionPool::new(probe(Duration::from_secs(10), &[]), 1);
    let first = pid(&pool.invoke_recorded(&json!({})).await.result.unwrap());
    let result = pool.invoke_recorded(&json!({"crash": true})).await.result;
    assert!(matches!(result, Err(InvokeError::Crashed(_))), "{result:?}");
    let next = pid(&pool.invoke_recorded(&json!({})).await.result.unwrap());
    assert_ne!(first, next);
    pool.shutdown().await;
}

#[tokio::test]
async fn an_init_failure_is_an_init_error() {
    let pool = FunctionPool::new(
        probe(Duration::from_secs(10), &[("PROBE_INIT_FAIL", "1")]),
        1,
    );
    let result = pool.invoke_recorded(&json!({})).await.result;
    assert!(matches!(result, Err(InvokeError::Init(_))), "{result:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn a_handler_error_keeps_the_environment_warm() {
    let pool = FunctionPool::new(probe(Duration::from_secs(10), &[]), 1);
    let first = pid(&pool.invoke_recorded(&json!({})).await.result.unwrap());
    let result = pool.invoke_recorded(&json!({"fail": "nope"})).await.result;
    match result {
        Err(InvokeError::Function { error_message, .. }) => assert!(error_message.contains("nope")),
        other => panic!("{other:?}"),
    }
    let invoked = pool.invoke_recorded(&json!({})).await;
    assert_eq!(pid(&invoked.result.unwrap()), first, "same environment");
    assert!(
        invoked.cold_start.is_none(),
        "a warm invocation has no init"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn concurrent_invocations_use_at_most_the_configured_environments() {
    let pool = FunctionPool::new(probe(Duration::from_secs(10), &[]), 3);
    let calls: Vec<_> = (0..9)
        .map(|_| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pid(&pool
                    .invoke_recorded(&json!({"sleep_ms": 200}))
                    .await
                    .result
                    .unwrap())
            })
        })
        .collect();
    let mut pids = HashSet::new();
    for call in calls {
        pids.insert(call.await.unwrap());
    }
    assert!(
        pids.len() <= 3,
        "{} environments for a limit of 3",
        pids.len()
    );
    assert!(pids.len() >= 2, "invocations ran concurrently");
    pool.shutdown().await;
}
