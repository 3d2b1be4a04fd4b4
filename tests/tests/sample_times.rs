//! The sample payloads under `events/` must keep working for years, not until a date someone typed.
//!
//! Every timestamp in every sample (RFC 3339 strings, epoch numbers, and those inside the JSON bodies,
//! the base64 Kafka values and the JWTs they carry) is either a past fact (when an event happened,
//! when API Gateway received a call, when a token was issued) or something a function checks against
//! its clock (a preferred time window must not be over, a token must not have expired). The latter
//! must lie at least two years ahead, so this test fails long before a sample does; the generator's
//! `VALID_UNTIL` moves them.

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use servicehub_tests::repo_root;

/// Keys whose timestamps record the past; everything else must be far enough ahead.
const PAST_FACTS: &[&str] = &[
    "time",         // CloudEvents time, API Gateway's request time, EventBridge's time
    "timeEpoch",    // API Gateway's request time
    "timestamp",    // Kafka record timestamp
    "created_at",   // event data
    "assigned_at",  // event data
    "completed_at", // event data
    "iat",          // JWT issued at
    "nbf",          // JWT not before
];
/// A query filter's lower bound, not a deadline.
const PAST_PATHS: &[&str] = &["$.queryStringParameters.from"];

const MARGIN_DAYS: i64 = 2 * 365;

#[derive(Debug)]
struct Found {
    path: String,
    key: String,
    at: DateTime<Utc>,
}

fn as_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .or_else(|| DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z").ok())
            .map(|t| t.with_timezone(&Utc)),
        // Epoch seconds or milliseconds between 2001 and 2286.
        Value::Number(n) => n.as_i64().and_then(|n| match n {
            1_000_000_000..=9_999_999_999 => Utc.timestamp_opt(n, 0).single(),
            1_000_000_000_000..=9_999_999_999_999 => Utc.timestamp_millis_opt(n).single(),
            _ => None,
        }),
        _ => None,
    }
}

/// JSON hidden in a string: an HTTP body, a base64 Kafka value, the claims of a JWT.
fn nested_json(text: &str) -> Vec<(&'static str, Value)> {
    let mut found = Vec::new();
    if let Ok(value @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(text) {
        found.push(("json", value));
    }
    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
        && let Ok(value @ Value::Object(_)) = serde_json::from_slice(&bytes)
    {
        found.push(("base64", value));
    }
    let token = text.strip_prefix("Bearer ").unwrap_or(text);
    if let [_, claims, _] = token.split('.').collect::<Vec<_>>()[..]
        && let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims)
        && let Ok(value @ Value::Object(_)) = serde_json::from_slice(&bytes)
    {
        found.push(("jwt", value));
    }
    found
}

fn collect(value: &Value, path: &str, key: &str, out: &mut Vec<Found>) {
    if let Some(at) = as_time(value) {
        out.push(Found {
            path: path.to_owned(),
            key: key.to_owned(),
            at,
        });
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                collect(v, &format!("{path}.{k}"), k, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect(v, &format!("{path}[{i}]"), key, out);
            }
        }
        Value::String(text) => {
            for (how, inner) in nested_json(text) {
                collect(&inner, &format!("{path}({how})$"), key, out);
            }
        }
        _ => {}
    }
}

fn samples() -> Vec<(String, Value)> {
    let dir = repo_root().join("events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() > 30, "the samples are in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect()
}

#[test]
fn no_sample_runs_out_within_two_years() {
    let now = Utc::now();
    let horizon = now + Duration::days(MARGIN_DAYS);
    let mut deadlines = 0;
    let mut expiring = Vec::new();
    for (file, sample) in samples() {
        let mut found = Vec::new();
        collect(&sample, "$", "", &mut found);
        for Found { path, key, at } in found {
            let past_fact =
                PAST_FACTS.contains(&key.as_str()) || PAST_PATHS.contains(&path.as_str());
            if past_fact {
                assert!(
                    at <= now,
                    "{file} {path}: a past fact dated in the future ({at})"
                );
                continue;
            }
            deadlines += 1;
            if at < horizon {
                expiring.push(format!("{file} {path} = {at}"));
            }
        }
    }
    assert!(
        expiring.is_empty(),
        "these sample times are in the past or less than two years ahead: move VALID_UNTIL in \
         events/generate_samples.py and regenerate:\n{}",
        expiring.join("\n")
    );
    // The walk reaches the deadlines it exists for (request bodies, Kafka values, the JWT).
    assert!(deadlines >= 10, "only {deadlines} deadlines found");
}

#[test]
fn the_walk_finds_times_inside_bodies_kafka_values_and_tokens() {
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1795256100}"#);
    let value = base64::engine::general_purpose::STANDARD
        .encode(br#"{"data":{"preferred_time_window":{"to":"2026-12-01T13:00:00Z"}}}"#);
    let sample = serde_json::json!({
        "body": r#"{"preferred_time_window":{"from":"2026-12-01T09:00:00Z"}}"#,
        "records": {"t-0": [{"value": value}]},
        "headers": {"authorization": format!("Bearer e30.{claims}.sig")},
        "requestContext": {"time": "21/Nov/2026:10:00:00 +0000"}
    });
    let mut found = Vec::new();
    collect(&sample, "$", "", &mut found);
    let mut paths: Vec<_> = found.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "$.body(json)$.preferred_time_window.from",
            "$.headers.authorization(jwt)$.exp",
            "$.records.t-0[0].value(base64)$.data.preferred_time_window.to",
            "$.requestContext.time",
        ]
    );
}

#[test]
fn the_committed_samples_are_what_the_generator_writes() {
    let output = std::process::Command::new(std::env::var("PYTHON").unwrap_or("python3".into()))
        .arg(repo_root().join("events/generate_samples.py"))
        .arg("--check")
        .output()
        .expect("python3 runs events/generate_samples.py");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
