//! A function's execution environments: up to `max` concurrent ones, started on demand and kept
//! warm; an environment that timed out, crashed or failed its init is discarded and replaced by
//! the next invocation, as Lambda does.
//!
//! Concurrency as Lambda counts it: at most `concurrency_limit` invocations under way or waiting
//! for an environment (the function's reserved concurrency, else the account's); one more is
//! throttled at once (`TooManyRequestsException`). Below that limit an invocation waits for one of
//! the `max` environments, which stands in for the environments AWS would add.

use crate::Invoked;
use local_lambda::{FunctionSpec, InvokeError, LambdaEnvironment};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::{Mutex, Semaphore};
use uuid::Uuid;

/// Lambda's default concurrency limit per account and Region.
pub const ACCOUNT_CONCURRENCY: usize = 1000;

pub struct FunctionPool {
    spec: FunctionSpec,
    /// Warm environments and since when each has been idle.
    idle: Mutex<Vec<(LambdaEnvironment, Instant)>>,
    slots: Semaphore,
    max: usize,
    concurrency_limit: usize,
    /// Invocations under way or waiting for an environment.
    admitted: AtomicUsize,
}

/// Counts an admitted invocation until it ends, however it ends.
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FunctionPool {
    /// Up to `max_concurrency` environments, throttling past [`ACCOUNT_CONCURRENCY`].
    pub fn new(spec: FunctionSpec, max_concurrency: usize) -> Arc<FunctionPool> {
        Self::with_limit(spec, max_concurrency, ACCOUNT_CONCURRENCY)
    }

    /// Up to `max_concurrency` environments, throttling past `concurrency_limit` invocations
    /// (0, like a reserved concurrency of 0, throttles every one).
    pub fn with_limit(
        spec: FunctionSpec,
        max_concurrency: usize,
        concurrency_limit: usize,
    ) -> Arc<FunctionPool> {
        let max = max_concurrency.max(1);
        Arc::new(FunctionPool {
            spec,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max),
            max,
            concurrency_limit,
            admitted: AtomicUsize::new(0),
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn max_concurrency(&self) -> usize {
        self.max
    }

    /// Runs one invocation in a free environment, waiting for one when all `max` are busy.
    pub async fn invoke_recorded(&self, payload: &Value) -> Invoked {
        let started = Instant::now();
        let request_id = Uuid::new_v4().to_string();
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.concurrency_limit {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Invoked {
                result: Err(InvokeError::Throttled {
                    limit: self.concurrency_limit,
                }),
                request_id,
                duration: started.elapsed(),
                cold_start: None,
            };
        }
        let _admission = Admission(&self.admitted);
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let reused = self
            .idle
            .lock()
            .await
            .pop()
            .map(|(environment, _)| environment);
        let cold = reused.is_none();
        let environment = match reused {
            Some(environment) => environment,
            None => match LambdaEnvironment::start(self.spec.clone()).await {
                Ok(environment) => environment,
                Err(error) => {
                    return Invoked {
                        result: Err(InvokeError::Init(format!(
                            "cannot start {}: {error}",
                            self.spec.binary.display()
                        ))),
                        request_id,
                        duration: started.elapsed(),
                        cold_start: None,
                    };
                }
            },
        };
        let result = environment.invoke_as(payload, &request_id).await;
        let cold_start = if cold {
            environment.init_duration()
        } else {
            None
        };
        match &result {
            // The environment is gone or unusable: the next invocation gets a fresh one.
            Err(InvokeError::Timeout(_) | InvokeError::Crashed(_) | InvokeError::Init(_)) => {
                environment.stop().await
            }
            _ => self.idle.lock().await.push((environment, Instant::now())),
        }
        Invoked {
            result,
            request_id,
            duration: started.elapsed(),
            cold_start,
        }
    }

    /// Starts one environment ahead of the first invocation, so a missing binary or a failing
    /// init shows at startup rather than on the first request.
    pub async fn prewarm(&self) -> Result<(), String> {
        let environment = LambdaEnvironment::start(self.spec.clone())
            .await
            .map_err(|e| {
                format!(
                    "{}: cannot start {}: {e}",
                    self.spec.name,
                    self.spec.binary.display()
                )
            })?;
        self.idle.lock().await.push((environment, Instant::now()));
        Ok(())
    }

    /// Freezes the environments idle for at least `idle_for` (see [`LambdaEnvironment::freeze`]);
    /// the next invocation thaws the one it takes. Returns how many froze now.
    pub async fn freeze_idle(&self, idle_for: std::time::Duration) -> usize {
        let idle = self.idle.lock().await;
        let mut frozen = 0;
        for (environment, since) in idle.iter() {
            if since.elapsed() >= idle_for && environment.freeze().await {
                frozen += 1;
            }
        }
        frozen
    }

    /// Stops every idle environment (busy ones stop when their invocation ends and the pool drops).
    pub async fn shutdown(&self) {
        let environments: Vec<(LambdaEnvironment, Instant)> =
            self.idle.lock().await.drain(..).collect();
        for (environment, _) in environments {
            environment.stop().await;
        }
    }
}

impl crate::Invoke for FunctionPool {
    async fn invoke(&self, payload: Value) -> Invoked {
        self.invoke_recorded(&payload).await
    }
}
