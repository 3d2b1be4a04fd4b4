//! A real Lambda function (lambda_runtime) whose behaviour the payload chooses, for testing the
//! emulated Runtime API and the runner's environment pool:
//! `{"sleep_ms": 300}` sleeps, `{"crash": true}` exits the process mid-invocation,
//! `{"fail": "why"}` returns a handler error, `{"respond_bytes": n}` adds n bytes of filler to the
//! answer; it answers `{"pid": <its process id>, "received_bytes": <size of the payload>}`.
//! Behind an HTTP API (a payload 2.0 event) the instructions are the request's JSON body and the
//! answer is a 200 response with that JSON as its body.
//! With `PROBE_INIT_FAIL=1` it fails during init, before asking for an invocation.
//!
//! As a Lambda REQUEST authorizer (payload `"type": "REQUEST"`), it reads its identity source
//! `Bearer <user id> <role> <region>` and allows it with those claims as context; `Bearer deny`
//! is refused. Test use only: it verifies nothing.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var("PROBE_INIT_FAIL").is_ok() {
        return Err("PROBE_INIT_FAIL is set: failing init on purpose".into());
    }
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let payload = event.payload;
        if payload["type"] == "REQUEST" {
            return Ok(authorize(&payload));
        }
        // Behind an HTTP API the instructions are the request's JSON body.
        let http = payload["version"] == "2.0" && payload["routeKey"].is_string();
        let received = payload.to_string().len();
        let payload = if http {
            serde_json::from_str(payload["body"].as_str().unwrap_or("{}")).unwrap_or(json!({}))
        } else {
            payload
        };
        if let Some(ms) = payload["sleep_ms"].as_u64() {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if payload["crash"].as_bool() == Some(true) {
            std::process::exit(3);
        }
        if let Some(reason) = payload["fail"].as_str() {
            return Err(Error::from(reason.to_owned()));
        }
        let mut answer = json!({ "pid": std::process::id(), "received_bytes": received });
        if let Some(bytes) = payload["respond_bytes"].as_u64() {
            answer["filler"] = json!("x".repeat(bytes as usize));
        }
        Ok::<_, Error>(if http {
            json!({
                "statusCode": 200,
                "headers": {"content-type": "application/json"},
                "body": answer.to_string(),
            })
        } else {
            answer
        })
    }))
    .await
}

fn authorize(payload: &Value) -> Value {
    let identity = payload["identitySource"][0].as_str().unwrap_or_default();
    let words: Vec<&str> = identity
        .strip_prefix("Bearer ")
        .unwrap_or_default()
        .split(' ')
        .collect();
    match words.as_slice() {
        [sub, role, region] => json!({
            "isAuthorized": true,
            "context": {"sub": sub, "role": role, "regions": region, "authorizer_pid": std::process::id()}
        }),
        _ => json!({ "isAuthorized": false }),
    }
}
