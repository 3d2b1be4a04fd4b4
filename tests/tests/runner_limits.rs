//! The local runner's gateway and Lambda held to AWS's limits, each at its edge, through real HTTP
//! and a real lambda_runtime binary (runtime-probe): payload sizes both ways, the integration
//! timeout, the function timeout, function errors and throttling answer what HTTP API answers, and
//! none of them costs a warm environment that AWS would keep; a route's throttling answers 429
//! before anything is invoked. Template: tests/fixtures/limits-template.yaml.

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

/// HTTP API's route throttling (`RouteSettings` ThrottlingBurstLimit 3, ThrottlingRateLimit 1): a
/// burst of 12 at once gets 3 through and 429 `{"message":"Too Many Requests"}` for the rest,
/// which invoke nothing; a second later one more passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_route_answers_429_past_its_burst_and_invokes_nothing() {
    let runner = LocalRunner::start("tests/fixtures/limits-template.yaml", &[], &[]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/throttled", runner.base_url);
    let burst: Vec<_> = (0..12)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let response = http.post(url).json(&json!({})).send().await.unwrap();
                let status = response.status();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in burst {
        answers.push(request.await.unwrap());
    }
    let passed = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let throttled: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    // The burst, plus at most one token refilled while the requests arrived.
    assert!((3..=4).contains(&passed), "{answers:?}");
    assert_eq!(passed + throttled.len(), 12, "{answers:?}");
    assert!(
        throttled
            .iter()
            .all(|(_, body)| *body == message("Too Many Requests"))
    );
    // The runner logs each invocation as it ends; its output arrives through a pipe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = runner.invocations();
    let invoked = lines
        .iter()
        .filter(|line| line["route"] == "POST /throttled")
        .count();
    let refused = lines
        .iter()
        .filter(|line| line["outcome"] == "throttled")
        .count();
    assert_eq!(refused, throttled.len(), "{lines:?}");
    assert_eq!(invoked, passed, "a throttled request invoked the function");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "refilled at 1 a second");
    assert!(runner.stop().await.success());
}

/// template.yaml throttles its public routes (register and login spend an argon2 hash each) and
/// reserves their concurrency, from the parameters PublicRouteRateLimit, PublicRouteBurstLimit and
/// PublicRouteConcurrency; the runner reads them as API Gateway and Lambda would. Routes behind the
/// authorizer take the account's limits.
#[test]
fn the_templates_public_routes_are_throttled_and_reserved() {
    let load = |parameters: &[(&str, &str)]| {
        let mut all = local_runner::template::read_parameters_file(
            &servicehub_tests::repo_root().join("tools/local-parameters.json"),
        )
        .unwrap();
        all.extend(
            parameters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        local_runner::template::load(&local_runner::template::TemplateInput {
            path: servicehub_tests::repo_root().join("template.yaml"),
            parameters: all,
            ..Default::default()
        })
        .unwrap()
    };
    let public = ["/auth/register", "/auth/login", "/auth/refresh"];
    let template = load(&[]);
    for route in &template.http_routes {
        let function = template
            .functions
            .iter()
            .find(|f| f.logical_id == route.function)
            .unwrap();
        if public.contains(&route.path.as_str()) {
            assert_eq!(
                route.throttle,
                Some(local_runner::template::RouteThrottle {
                    burst_limit: 100,
                    rate_limit: 50.0
                }),
                "{}",
                route.path
            );
            assert_eq!(function.reserved_concurrency, Some(10), "{}", route.path);
        } else {
            assert_eq!(route.throttle, None, "{}", route.path);
            assert_eq!(function.reserved_concurrency, None, "{}", route.path);
        }
    }
    let tuned = load(&[
        ("PublicRouteRateLimit", "2.5"),
        ("PublicRouteBurstLimit", "5"),
        ("PublicRouteConcurrency", "0"),
    ]);
    let login = tuned
        .http_routes
        .iter()
        .find(|r| r.path == "/auth/login")
        .unwrap();
    assert_eq!(
        login.throttle.map(|t| (t.burst_limit, t.rate_limit)),
        Some((5, 2.5))
    );
    let login_function = tuned
        .functions
        .iter()
        .find(|f| f.logical_id == login.function)
        .unwrap();
    assert_eq!(login_function.reserved_concurrency, None, "0 reserves none");
}
