//! AWS's own sample events (the `aws_lambda_events` crate's fixtures, copied to
//! tools/local-runner/tests/fixtures) fed to the real binary of every function of template.yaml
//! that takes them, as the template wires it: HTTP API requests to every route's function,
//! REQUEST authorizer payloads to the authorizer, the MSK event to every Kafka consumer, the
//! EventBridge scheduled event to every scheduled function (its rule's `Input` where it has one). None may fail its invocation:
//! - a route's function answers a response, a 4xx as problem+json (these requests carry no
//!   claims of ours) and never a 5xx;
//! - the authorizer answers a simple response that denies;
//! - a consumer dead-letters the record (topic `AWSKafkaTopic`, a value that is no envelope of
//!   ours) to the catch-all `unrouted.dlq`, since the topic has no `.dlq` twin: a missing
//!   dead-letter topic must never block a partition;
//! - a scheduled function runs.
//!
//! The runner's own payloads are compared with the same fixtures field by field in
//! tools/local-runner/tests/golden.rs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use local_lambda::{FunctionSpec, LambdaEnvironment};
use local_runner::template::{FunctionDef, LocalTemplate, TemplateInput};
use serde_json::Value;
use servicehub_events::dlq::DeadLetter;
use servicehub_events::lambda_kafka::ConsumedRecord;
use servicehub_events::topic::UNROUTED_DLQ;
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::{TestDatabase, binary_path, repo_root, required_env};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

const HTTP_REQUESTS: [&str; 5] = [
    "example-apigw-v2-request-no-authorizer.json",
    "example-apigw-v2-request-lambda-authorizer.json",
    "example-apigw-v2-request-multi-value-parameters.json",
    "example-apigw-v2-request-jwt-authorizer.json",
    "example-apigw-v2-request-iam.json",
];

const AUTHORIZER_REQUESTS: [&str; 4] = [
    "example-apigw-v2-custom-authorizer-v2-request.json",
    "example-apigw-v2-custom-authorizer-v2-request-null-maps.json",
    "example-apigw-v2-custom-authorizer-v2-request-without-cookies.json",
    "example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json",
];

fn aws_fixture(name: &str) -> Value {
    let path = repo_root()
        .join("tools/local-runner/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// template.yaml as `tools/run-local` resolves it, on `database_url` and the dev services.
fn template(database_url: &str) -> LocalTemplate {
    let mut parameters = local_runner::template::read_parameters_file(
        &repo_root().join("tools/local-parameters.json"),
    )
    .expect("the parameters file");
    parameters.insert(
        "KafkaBootstrapServers".into(),
        required_env("KAFKA_BOOTSTRAP_SERVERS"),
    );
    let mut overrides: BTreeMap<String, String> = [
        "CLICKHOUSE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DOCUMENTS_BUCKET",
        "SES_FROM_ADDRESS",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), required_env(name)))
    .collect();
    overrides.insert("DATABASE_URL".into(), database_url.to_owned());
    overrides.insert(
        "RUST_LOG".into(),
        std::env::var("FUNCTION_RUST_LOG").unwrap_or_else(|_| "warn".into()),
    );
    local_runner::template::load(&TemplateInput {
        path: repo_root().join("template.yaml"),
        parameters,
        environment_overrides: overrides,
        ..Default::default()
    })
    .expect("template.yaml loads")
}

async fn start(function: &FunctionDef) -> LambdaEnvironment {
    let mut env: Vec<(String, String)> = function.environment.clone().into_iter().collect();
    // The relay drains the outbox for a whole minute per run; a second is enough here.
    env.push(("OUTBOX_RELAY_DRAIN_SECONDS".into(), "1".into()));
    LambdaEnvironment::start(FunctionSpec {
        name: function.logical_id.clone(),
        binary: binary_path(&function.binary),
        env,
        timeout: function.timeout,
        memory_mb: function.memory_mb,
    })
    .await
    .expect("starting the function")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_function_takes_awss_own_sample_events_without_failing() {
    let db = TestDatabase::new().await;
    let template = template(&db.url);
    let routes: BTreeSet<&str> = template
        .http_routes
        .iter()
        .map(|r| r.function.as_str())
        .collect();
    let authorizers: BTreeSet<&str> = template
        .http_routes
        .iter()
        .filter_map(|r| r.authorizer.as_ref().map(|a| a.function.as_str()))
        .collect();
    let consumers: BTreeSet<&str> = template
        .kafka_mappings
        .iter()
        .map(|m| m.function.as_str())
        .collect();
    // EventBridge sends a rule's `Input` instead of the scheduled event when it has one.
    let scheduled: BTreeMap<&str, Value> = template
        .schedules
        .iter()
        .map(|s| {
            let payload = s
                .input
                .clone()
                .unwrap_or_else(|| aws_fixture("example-eventbridge-schedule.json"));
            (s.function.as_str(), payload)
        })
        .collect();
    assert!(routes.len() >= 25 && !authorizers.is_empty() && consumers.len() >= 5);

    for function in &template.functions {
        let id = function.logical_id.as_str();
        let environment = start(function).await;
        if routes.contains(id) {
            for fixture in HTTP_REQUESTS {
                let answer = environment.invoke(&aws_fixture(fixture)).await;
                let answer = answer.unwrap_or_else(|e| panic!("{id} failed {fixture}: {e}"));
                let status = answer["statusCode"].as_u64();
                let status = status.unwrap_or_else(|| panic!("{id}, {fixture}: {answer}"));
                assert!(status < 500, "{id} answered {fixture} with {answer}");
                if status >= 400 {
                    let content_type = &answer["headers"]["content-type"];
                    assert_eq!(content_type, "application/problem+json", "{id}, {fixture}");
                }
            }
        }
        if authorizers.contains(id) {
            for fixture in AUTHORIZER_REQUESTS {
                let answer = environment.invoke(&aws_fixture(fixture)).await;
                let answer = answer.unwrap_or_else(|e| panic!("{id} failed {fixture}: {e}"));
                let simple: aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerSimpleResponse =
                    serde_json::from_value(answer.clone())
                        .unwrap_or_else(|e| panic!("{id}, {fixture}: {e}: {answer}"));
                assert!(!simple.is_authorized, "{id} let {fixture} in");
            }
        }
        if consumers.contains(id) {
            the_sample_record_is_dead_lettered_to_unrouted(&environment, function).await;
        }
        if let Some(payload) = scheduled.get(id) {
            let answer = environment.invoke(payload).await;
            assert!(answer.is_ok(), "{id} failed {payload}: {answer:?}");
        }
        environment.stop().await;
    }
}

async fn the_sample_record_is_dead_lettered_to_unrouted(
    environment: &LambdaEnvironment,
    function: &FunctionDef,
) {
    let id = function.logical_id.as_str();
    let fixture = aws_fixture("example-kafka-event.json");
    let value = BASE64
        .decode(
            fixture["records"]["AWSKafkaTopic-0"][0]["value"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let unrouted = KafkaProbe::new(UNROUTED_DLQ);
    let answer = environment.invoke(&fixture).await;
    assert!(answer.is_ok(), "{id} failed the batch: {answer:?}");

    let consumer = function
        .environment
        .get("SERVICE_NAME")
        .cloned()
        .unwrap_or_default();
    let mine = |record: &ConsumedRecord| {
        DeadLetter::parse(&record.message).is_some_and(|letter| letter.consumer == consumer)
    };
    let letters: Vec<DeadLetter> = unrouted
        .read_until(WAIT, |records| records.iter().any(mine))
        .iter()
        .filter(|record| mine(record))
        .filter_map(|record| DeadLetter::parse(&record.message))
        .collect();
    assert_eq!(letters.len(), 1, "{id}: dead letters in {UNROUTED_DLQ}");
    let letter = &letters[0];
    assert_eq!(letter.source_topic, "AWSKafkaTopic", "{id}");
    assert_eq!(
        (letter.source_partition, letter.source_offset),
        (Some(0), Some(0)),
        "{id}"
    );
    assert!(!letter.reason.is_empty(), "{id}: no reason");
    assert_eq!(letter.original.topic, "AWSKafkaTopic", "{id}");
    assert_eq!(letter.original.value.as_deref(), Some(&value[..]), "{id}");
}
