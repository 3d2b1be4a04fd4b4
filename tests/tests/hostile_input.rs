//! Hostile input against every route of openapi.json, through the local runner on the real
//! template behind the real authorizer: NUL and other control characters, lone surrogates in JSON
//! escapes, bidi overrides, megabyte strings, deep nesting, huge arrays, numbers past i64 and u64,
//! wrong content types, bad UTF-8, tampered cursors and ids that are not UUIDs. Every answer must be
//! a 4xx (never a 5xx), a problem+json from the function or API Gateway's own `{"message"}`, and
//! small. The route list comes from the document, so a new route is covered without touching
//! this file.

use reqwest::StatusCode;
use serde_json::Value;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, repo_root};

/// Largest answer accepted for bad input: it must never grow with what was sent.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One request to send.
struct Case {
    name: String,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json_text(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Hostile bodies for a route that reads a JSON body; `field` is a string field it documents.
fn body_cases(field: &str) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let big = "я".repeat(512 * 1024); // 1 MB of UTF-8
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let many: Vec<Value> = (0..200_000).map(|i| Value::from(format!("r{i}"))).collect();
    let json = "application/json";
    vec![
        (
            "NUL in a string",
            json,
            json_text(&format!(r#"{{"{field}": "a\u0000b"}}"#)),
        ),
        (
            "control character",
            json,
            json_text(&format!(r#"{{"{field}": "a\u0007b"}}"#)),
        ),
        (
            "lone surrogate escape",
            json,
            json_text(&format!(r#"{{"{field}": "a\ud800b"}}"#)),
        ),
        (
            "bidi override",
            json,
            json_text(&format!(r#"{{"{field}": "\u202eevil"}}"#)),
        ),
        (
            "1 MB string",
            json,
            serde_json::to_vec(&serde_json::json!({ field: big })).unwrap(),
        ),
        ("deep nesting", json, deep.into_bytes()),
        (
            "huge array",
            json,
            serde_json::to_vec(&serde_json::json!({ field: many })).unwrap(),
        ),
        (
            "number past u64",
            json,
            json_text(&format!(r#"{{"{field}": 184467440737095516160000}}"#)),
        ),
        (
            "number past f64",
            json,
            json_text(&format!(r#"{{"{field}": 1e400}}"#)),
        ),
        (
            "i64::MIN",
            json,
            json_text(&format!(r#"{{"{field}": -9223372036854775808}}"#)),
        ),
        ("not an object", json, json_text("[1, 2, 3]")),
        ("empty body", json, Vec::new()),
        (
            "bad UTF-8",
            json,
            [b"{\"".as_slice(), field.as_bytes(), b"\": \"\xff\xfe\"}"].concat(),
        ),
        (
            "wrong content type",
            "text/plain",
            json_text(&format!(r#"{{"{field}": "x"}}"#)),
        ),
        (
            "form instead of JSON",
            "application/x-www-form-urlencoded",
            json_text("a=1&b=2"),
        ),
    ]
}

/// Hostile query strings for a route that documents query parameters.
fn query_cases(parameter: &str) -> Vec<(&'static str, String)> {
    vec![
        ("NUL in a parameter", format!("{parameter}=a%00b")),
        ("bad UTF-8 in a parameter", format!("{parameter}=%ff%fe")),
        (
            "lone surrogate in a parameter",
            format!("{parameter}=%ed%a0%80"),
        ),
        (
            "bidi override in a parameter",
            format!("{parameter}=%e2%80%aeevil"),
        ),
        (
            "8 KB parameter",
            format!("{parameter}={}", "a".repeat(8 * 1024)),
        ),
        (
            "tampered cursor",
            "cursor=MTc5NjExMjAwMDAwMDAwMHwwMTkw".to_owned(),
        ),
        (
            "negative cursor",
            "cursor=-1_0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b".to_owned(),
        ),
        (
            "limit past u64",
            "limit=184467440737095516160000".to_owned(),
        ),
        ("unknown parameter", "zz=1".to_owned()),
    ]
}

/// Ids that are not UUIDs, for a route with `{id}`.
fn id_cases() -> Vec<(&'static str, String)> {
    vec![
        ("id not a UUID", "not-a-uuid".to_owned()),
        ("id with NUL", "%00".to_owned()),
        ("id with a traversal", "..%2F..%2Fetc".to_owned()),
        ("id of 2,000 characters", "a".repeat(2000)),
        (
            "id a UUID with braces",
            "%7B0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b%7D".to_owned(),
        ),
    ]
}

/// A string property the operation's request body documents (following one `$ref`).
fn string_field(document: &Value, operation: &Value) -> Option<String> {
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let resolve = |schema: &Value| -> Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                document["components"]["schemas"][name].clone()
            }
            None => schema.clone(),
        }
    };
    let mut schema = resolve(schema);
    if let Some(first) = schema["anyOf"].get(0) {
        schema = resolve(first);
    }
    let properties = schema["properties"].as_object()?;
    properties
        .iter()
        .find(|(_, property)| property["type"] == "string" || property["type"][0] == "string")
        .or_else(|| properties.iter().next())
        .map(|(name, _)| name.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_hostile_input_with_a_small_4xx() {
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("openapi.json")).unwrap())
            .unwrap();
    let db = TestDatabase::new().await;
    let stack = Stack::start(&db.url, &[("LOCAL_RUNNER_LOG", "warn")]).await;
    let callers = stack.callers().await;
    let token_for = |operation: &Value| -> Option<String> {
        let roles = operation["x-servicehub-roles"].as_array()?;
        let role = roles.first()?.as_str()?;
        let role = if role == "any" { "customer" } else { role };
        callers
            .iter()
            .find(|(name, _)| *name == role)
            .map(|(_, token)| token.clone())
    };

    let some_id = "0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b";
    let mut failures = Vec::new();
    let mut sent = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            let mut cases: Vec<Case> = Vec::new();
            let concrete = path.replace("{id}", some_id);
            if operation.get("requestBody").is_some() {
                let field = string_field(&document, operation).unwrap_or_else(|| "x".into());
                for (name, content_type, body) in body_cases(&field) {
                    cases.push(Case {
                        name: name.to_owned(),
                        path: concrete.clone(),
                        content_type,
                        body,
                    });
                }
            }
            let query = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["in"] == "query")
                .and_then(|p| p["name"].as_str());
            if let Some(parameter) = query {
                for (name, query) in query_cases(parameter) {
                    cases.push(Case {
                        name: name.to_owned(),
                        path: format!("{concrete}?{query}"),
                        content_type: "application/json",
                        body: Vec::new(),
                    });
                }
            }
            if path.contains("{id}") {
                for (name, id) in id_cases() {
                    cases.push(Case {
                        name: name.to_owned(),
                        path: path.replace("{id}", &id),
                        content_type: "application/json",
                        body: b"{}".to_vec(),
                    });
                }
            }
            let token = token_for(operation);
            for case in cases {
                sent += 1;
                let mut request = stack
                    .http
                    .request(method.parse().unwrap(), stack.url(&case.path))
                    .header("content-type", case.content_type)
                    .body(case.body);
                if let Some(token) = &token {
                    request = request.header("authorization", token);
                }
                let response = request.send().await.expect("an answer");
                let status = response.status();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = response.bytes().await.unwrap();
                let answer: Option<Value> = serde_json::from_slice(&body).ok();
                let shaped = match content_type.as_str() {
                    "application/problem+json" => answer
                        .as_ref()
                        .is_some_and(|a| a["status"] == status.as_u16() && a["type"].is_string()),
                    "application/json" => answer.as_ref().is_some_and(|a| a["message"].is_string()),
                    _ => false,
                };
                let ok = status.is_client_error()
                    && status != StatusCode::TOO_MANY_REQUESTS
                    && shaped
                    && body.len() <= MAX_ANSWER_BYTES;
                if !ok {
                    failures.push(format!(
                        "{method} {path} [{}]: {status} {content_type} {} bytes: {}",
                        case.name,
                        body.len(),
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ));
                }
            }
        }
    }
    assert!(sent > 300, "only {sent} hostile requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile requests were not answered with a small 4xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(stack.runner.stop().await.success());
}
