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

#[tokio::test]
async fn payloads_are_held_to_lambdas_6_mb_each_way_and_the_environment_stays() {
    let pool = FunctionPool::new(probe(Duration::from_secs(10), &[]), 1);
    let limit = local_lambda::SYNC_PAYLOAD_LIMIT;
    // A response just under the limit arrives whole; one over it fails the invocation as Lambda
    // does, and the environment serves the next one.
    let near = pool
        .invoke_recorded(&json!({"respond_bytes": limit - 1024}))
        .await
        .result
        .unwrap();
    let first = pid(&near);
    assert_eq!(near["filler"].as_str().unwrap().len(), limit - 1024);
    let over = pool
        .invoke_recorded(&json!({"respond_bytes": limit}))
        .await
        .result;
    match over {
        Err(InvokeError::Function { error_type, .. }) => {
            assert_eq!(error_type, local_lambda::RESPONSE_TOO_LARGE)
        }
        other => panic!("a response over 6 MB gave {other:?}"),
    }
    assert_eq!(
        pid(&pool.invoke_recorded(&json!({})).await.result.unwrap()),
        first
    );

    // A request payload over the limit is refused before it reaches the function.
    let padding = "x".repeat(limit);
    let refused = pool
        .invoke_recorded(&json!({ "padding": padding }))
        .await
        .result;
    assert!(
        matches!(refused, Err(InvokeError::RequestTooLarge { limit: l, .. }) if l == limit),
        "{refused:?}"
    );
    let within = pool
        .invoke_recorded(&json!({ "padding": &padding[..limit - 1024] }))
        .await
        .result
        .unwrap();
    assert_eq!(pid(&within), first);
    pool.shutdown().await;
}

#[tokio::test]
async fn past_the_concurrency_limit_invocations_are_throttled_below_it_they_wait() {
    // One environment, two invocations admitted: the second waits for the first, the third is
    // throttled at once, as Lambda throttles past a function's concurrency.
    let pool = FunctionPool::with_limit(probe(Duration::from_secs(10), &[]), 1, 2);
    let slow = |pool: Arc<FunctionPool>| {
        tokio::spawn(async move { pool.invoke_recorded(&json!({"sleep_ms": 500})).await })
    };
    let first = slow(pool.clone());
    let second = slow(pool.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = pool.invoke_recorded(&json!({})).await;
    assert!(
        matches!(third.result, Err(InvokeError::Throttled { limit: 2 })),
        "{:?}",
        third.result
    );
    assert!(first.await.unwrap().result.is_ok());
    assert!(second.await.unwrap().result.is_ok());
    // Once they are done the function takes invocations again.
    assert!(pool.invoke_recorded(&json!({})).await.result.is_ok());

    let disabled = FunctionPool::with_limit(probe(Duration::from_secs(10), &[]), 1, 0);
    assert!(matches!(
        disabled.invoke_recorded(&json!({})).await.result,
        Err(InvokeError::Throttled { limit: 0 })
    ));
    pool.shutdown().await;
}

/// The process state letter of `pid` (`T` when stopped), from /proc.
fn process_state(pid: u64) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let close = stat.rfind(')').unwrap();
    stat[close + 1..].trim_start().chars().next().unwrap()
}

#[tokio::test]
async fn an_idle_environment_is_frozen_and_thawed_by_the_next_invocation() {
    let pool = FunctionPool::new(probe(Duration::from_secs(10), &[]), 1);
    let first = pid(&pool.invoke_recorded(&json!({})).await.result.unwrap());
    // Not yet idle long enough: left running.
    assert_eq!(pool.freeze_idle(Duration::from_secs(60)).await, 0);
    // The function parks in /invocation/next right after answering; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.freeze_idle(Duration::ZERO).await, 1);
    // SIGSTOP takes effect as soon as the kernel delivers it.
    let stopped = async {
        while process_state(first) != 'T' {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the idle environment is stopped");
    assert_eq!(pool.freeze_idle(Duration::ZERO).await, 0, "frozen once");
    // The next invocation thaws the same environment, which answers as before.
    let next = pool.invoke_recorded(&json!({"sleep_ms": 10})).await;
    assert_eq!(pid(&next.result.unwrap()), first);
    assert_ne!(process_state(first), 'T');
    pool.shutdown().await;
}
