//! The local runner's gateway and Lambda held to AWS's limits, each at its edge, through real HTTP
//! and a real lambda_runtime binary (runtime-probe): payload sizes both ways, the integration
//! timeout, the function timeout, function errors and throttling answer what HTTP API answers, and
//! none of them costs a warm environment that AWS would keep. Template:
//! tests/fixtures/limits-template.yaml.

use reqwest::StatusCode;
use serde_json::{Value, json};
use servicehub_tests::procstat::children_named;
use servicehub_tests::runner::LocalRunner;
use std::time::Duration;

const MB: usize = 1024 * 1024;

struct Probe {
    runner: LocalRunner,
    http: reqwest::Client,
}

impl Probe {
    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.runner.base_url))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn pid(&self) -> u64 {
        let (status, body) = self.post("/probe", &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["pid"].as_u64().unwrap()
    }
}

fn message(text: &str) -> Value {
    json!({ "message": text })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_answers_what_http_api_answers_at_each_limit_and_keeps_environments() {
    let runner = LocalRunner::start("tests/fixtures/limits-template.yaml", &[], &[]).await;
    let probe = Probe {
        runner,
        http: reqwest::Client::new(),
    };
    let warm = probe.pid().await;

    // Responses: 6 MB is Lambda's limit for a synchronous invocation.
    let (status, body) = probe
        .post("/probe", &json!({"respond_bytes": 6 * MB - 64 * 1024}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["filler"].as_str().unwrap().len(), 6 * MB - 64 * 1024);
    let (status, body) = probe
        .post("/probe", &json!({"respond_bytes": 6 * MB}))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            message("Internal Server Error")
        )
    );
    assert_eq!(
        probe.pid().await,
        warm,
        "a refused response cost the environment"
    );

    // Requests: the event must fit Lambda's 6 MB, the body HTTP API's 10 MB.
    let padded = |bytes: usize| json!({ "padding": "x".repeat(bytes) });
    let (status, body) = probe.post("/probe", &padded(5 * MB)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["received_bytes"].as_u64().unwrap() > 5 * MB as u64);
    for bytes in [7 * MB, 11 * MB] {
        let (status, body) = probe.post("/probe", &padded(bytes)).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                message("Request Entity Too Large")
            ),
            "a {bytes}-byte body"
        );
    }
    assert_eq!(probe.pid().await, warm);

    // A function error and a function timeout are failed invocations: 500.
    let (status, body) = probe.post("/probe", &json!({"fail": "on purpose"})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            message("Internal Server Error")
        )
    );
    let (status, body) = probe.post("/short", &json!({"sleep_ms": 3000})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            message("Internal Server Error")
        )
    );

    // Past the route's integration timeout (TimeoutInMillis 1000) the gateway answers 503 and
    // the invocation runs on to its end in its environment, which stays.
    let (status, body) = probe.post("/impatient", &json!({"sleep_ms": 2500})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            message("Service Unavailable")
        )
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let environments = children_named(probe.runner.pid(), "runtime-probe");
    assert!(
        environments.contains(&(warm as u32)),
        "the environment past the integration timeout was killed: {environments:?}"
    );

    // Reserved concurrency 1: a second invocation while the first runs is throttled.
    let first = {
        let http = probe.http.clone();
        let url = format!("{}/reserved", probe.runner.base_url);
        tokio::spawn(async move {
            http.post(url)
                .json(&json!({"sleep_ms": 1500}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = probe.post("/reserved", &json!({})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            message("Internal Server Error")
        )
    );
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    let throttled = probe.runner.invocations().into_iter().any(|line| {
        line["route"] == "POST /reserved"
            && line["outcome"]
                .as_str()
                .is_some_and(|o| o.contains("Rate Exceeded"))
    });
    assert!(
        throttled,
        "the throttle is logged as Lambda's Rate Exceeded"
    );
    let (status, _) = probe.post("/reserved", &json!({})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the function takes invocations again"
    );

    assert!(probe.runner.stop().await.success());
}
