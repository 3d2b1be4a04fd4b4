//! Golden comparisons: the payloads the runner generates against the `aws_lambda_events` crate's
//! fixtures (real AWS payloads), field for field. Values that are per request (ids, clocks) or per
//! account are compared by type only; what the runner does not emulate (mutual TLS, stage
//! variables) is named explicitly.

use axum::body::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use local_runner::gateway::{IncomingRequest, build_authorizer_event, build_event};
use local_runner::schedule::scheduled_event;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn fixture(name: &str) -> Value {
    // Cargo's run-time value: a test binary reused from another checkout's build (the target dir
    // is shared) must read this checkout's files.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test");
    let path = format!("{dir}/tests/fixtures/{name}");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Compares `ours` with `theirs` recursively: the same keys (header names case-insensitively),
/// the same JSON types, and the same values except at `type_only` paths. `not_emulated` paths are
/// skipped on both sides.
fn assert_same(
    ours: &Value,
    theirs: &Value,
    path: &str,
    type_only: &[&str],
    not_emulated: &[&str],
) {
    if not_emulated.contains(&path) {
        return;
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let fold = path.ends_with("headers");
            let key = |k: &String| {
                if fold {
                    k.to_ascii_lowercase()
                } else {
                    k.clone()
                }
            };
            let a: BTreeMap<String, &Value> = a.iter().map(|(k, v)| (key(k), v)).collect();
            let b: BTreeMap<String, &Value> = b.iter().map(|(k, v)| (key(k), v)).collect();
            let child = |k: &str| {
                if path.is_empty() {
                    k.to_owned()
                } else {
                    format!("{path}.{k}")
                }
            };
            for k in a.keys().chain(b.keys()) {
                if not_emulated.contains(&child(k).as_str()) {
                    continue;
                }
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => assert_same(x, y, &child(k), type_only, not_emulated),
                    (None, _) => panic!("{} is missing from our payload", child(k)),
                    (_, None) => panic!("{} is in our payload but not in AWS's", child(k)),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if !type_only.contains(&path) => {
            assert_eq!(a.len(), b.len(), "{path}: {ours} vs {theirs}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{path}[{i}]"), type_only, not_emulated);
            }
        }
        _ if type_only.contains(&path) => {
            assert_eq!(
                std::mem::discriminant(ours),
                std::mem::discriminant(theirs),
                "{path}: {ours} vs {theirs}"
            );
        }
        _ => assert_eq!(ours, theirs, "{path}"),
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// The request behind AWS's `/my/path` fixtures (query, cookies, two headers), with `extra`
/// headers and `body`.
fn my_path_request(method: &str, extra: &[(&str, &str)], body: Bytes) -> IncomingRequest {
    let mut pairs = vec![
        ("Header1", "value1"),
        ("Header2", "value2"),
        ("cookie", "cookie1; cookie2"),
        ("user-agent", "agent"),
        ("host", "id.execute-api.us-east-1.amazonaws.com"),
    ];
    pairs.extend_from_slice(extra);
    IncomingRequest {
        method: method.into(),
        path: "/my/path".into(),
        raw_query: "parameter1=value1&parameter1=value2&parameter2=value".into(),
        headers: headers(&pairs),
        body,
        source_ip: "IP".into(),
        request_id: "id".into(),
    }
}

const PER_REQUEST: &[&str] = &[
    "requestContext.requestId",
    "requestContext.time",
    "requestContext.timeEpoch",
    "requestContext.accountId",
    "requestContext.apiId",
];

#[test]
fn http_api_event_matches_aws_for_a_plain_request() {
    let theirs = fixture("example-apigw-v2-request-no-authorizer.json");
    let header_pairs: Vec<(String, String)> = theirs["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let pairs: Vec<(&str, &str)> = header_pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = IncomingRequest {
        method: "GET".into(),
        path: "/".into(),
        raw_query: String::new(),
        headers: headers(&pairs),
        body: Bytes::new(),
        source_ip: "1.2.3.4".into(),
        request_id: "LV7fzho-PHcEJPw=".into(),
    };
    let ours = build_event(&request, "$default", &BTreeMap::new(), None);
    assert_same(
        &ours,
        &theirs,
        "",
        PER_REQUEST,
        &["requestContext.authentication"],
    );
    let parsed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_value(ours).unwrap();
    assert_eq!(
        parsed.request_context.http.source_ip.as_deref(),
        Some("1.2.3.4")
    );
}

#[test]
fn http_api_event_matches_aws_with_query_cookies_path_parameters_body_and_authorizer() {
    let theirs = fixture("example-apigw-v2-request-multi-value-parameters.json");
    let request = IncomingRequest {
        method: "GET".into(),
        path: "/my/path".into(),
        raw_query: "Parameter1=value1&Parameter1=value2".into(),
        headers: headers(&[
            ("Header2", "value1"),
            ("Header2", "value2"),
            ("cookie", "cookie1; cookie2"),
            ("user-agent", "agent"),
            ("host", "id.execute-api.us-east-1.amazonaws.com"),
        ]),
        body: Bytes::from_static(b"{\r\n\t\"a\": 1\r\n}"),
        source_ip: "IP".into(),
        request_id: "id".into(),
    };
    let params = BTreeMap::from([("proxy".to_owned(), "hello/world".to_owned())]);
    let authorizer = json!({"key": "value"});
    let ours = build_event(&request, "$default", &params, authorizer.as_object());
    let mut ours_without_host = ours.clone();
    ours_without_host["headers"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k == "header2");
    assert_same(
        &ours_without_host,
        &theirs,
        "",
        PER_REQUEST,
        &["requestContext.authentication", "stageVariables"],
    );
}

#[test]
fn authorizer_event_matches_aws_request_authorizer_payload_2() {
    let theirs = fixture("example-apigw-v2-custom-authorizer-v2-request.json");
    let request = my_path_request("POST", &[], Bytes::new());
    let params = BTreeMap::from([("parameter1".to_owned(), "value1".to_owned())]);
    let mut ours = build_authorizer_event(
        &request,
        "$default",
        &params,
        &["user1".into(), "123".into()],
    );
    ours["headers"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k.starts_with("header"));
    let mut type_only = PER_REQUEST.to_vec();
    type_only.push("routeArn");
    assert_same(
        &ours,
        &theirs,
        "",
        &type_only,
        &["requestContext.authentication", "stageVariables"],
    );
}

#[test]
fn scheduled_event_matches_eventbridge() {
    let theirs = fixture("example-eventbridge-schedule.json");
    let ours = scheduled_event("my-scheduled-rule", chrono::Utc::now());
    assert_same(
        &ours,
        &theirs,
        "",
        &["id", "time", "account", "region", "resources"],
        &[],
    );
    assert!(
        ours["resources"][0]
            .as_str()
            .unwrap()
            .ends_with(":rule/my-scheduled-rule")
    );
}

#[test]
fn http_api_event_matches_aws_behind_a_lambda_authorizer() {
    let theirs = fixture("example-apigw-v2-request-lambda-authorizer.json");
    let request = my_path_request(
        "GET",
        &[("content-type", "application/json")],
        Bytes::from_static(b"{\r\n\t\"a\": 1\r\n}"),
    );
    let params = BTreeMap::from([("proxy".to_owned(), "hello/world".to_owned())]);
    let context = json!({"key": "value"});
    let mut ours = build_event(&request, "$default", &params, context.as_object());
    ours["headers"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k.starts_with("header"));
    assert_same(
        &ours,
        &theirs,
        "",
        PER_REQUEST,
        &["requestContext.authentication", "stageVariables"],
    );
    // What lambda_http hands a handler: the context where its request extensions look for it.
    let parsed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_value(ours).unwrap();
    let authorizer = parsed.request_context.authorizer.unwrap();
    assert_eq!(authorizer.fields["key"], "value");
}

/// The MSK trigger payload the runner builds for a record like the one in AWS's sample, compared
/// with the sample field for field and value for value: nothing in it is per request.
#[test]
fn kafka_trigger_payload_matches_aws_msk_event() {
    use lambda_kafka_event::KafkaMessage;
    use lambda_kafka_event::{ConsumedRecord, KafkaSource, build_trigger};
    let theirs = fixture("example-kafka-event.json");
    let record = ConsumedRecord {
        message: KafkaMessage {
            topic: "AWSKafkaTopic".into(),
            key: Some(b"8d5596b4-1813-4238-b24b-6dad8e3d1c0c".to_vec()),
            headers: vec![("headerKey".into(), b"headerValue".to_vec())],
            value: Some(b"8d5596b4-1813-4238-b24b-6dad8e3d1c0c".to_vec()),
        },
        partition: 0,
        offset: 0,
        timestamp: chrono::DateTime::from_timestamp_millis(1_595_035_749_700).unwrap(),
        timestamp_type: "CREATE_TIME".into(),
    };
    let source = KafkaSource::Msk {
        cluster_arn: theirs["eventSourceArn"].as_str().unwrap().to_owned(),
    };
    let servers = theirs["bootstrapServers"].as_str().unwrap();
    let ours = serde_json::to_value(build_trigger(
        &source,
        servers,
        std::slice::from_ref(&record),
    ))
    .unwrap();
    assert_same(&ours, &theirs, "", &[], &[]);

    // Self-managed Kafka: the same without eventSourceArn (AWS's documented shape).
    let mut self_managed = theirs.clone();
    self_managed["eventSource"] = json!("SelfManagedKafka");
    self_managed
        .as_object_mut()
        .unwrap()
        .remove("eventSourceArn");
    let ours =
        serde_json::to_value(build_trigger(&KafkaSource::SelfManaged, servers, &[record])).unwrap();
    assert_same(&ours, &self_managed, "", &[], &[]);

    // And aws_lambda_events reads it as the MSK event type.
    let parsed: aws_lambda_events::kafka::KafkaEvent = serde_json::from_value(theirs).unwrap();
    assert_eq!(parsed.records["AWSKafkaTopic-0"][0].offset, 0);
}
