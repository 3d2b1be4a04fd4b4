//! A real Lambda function (lambda_runtime) for testing the Kafka trigger emulation, whose
//! behaviour the record values choose. It takes a Kafka trigger payload and first appends one JSON
//! line per invocation to the file `PROBE_LOG`:
//! `{"eventSource", "eventSourceArn", "bootstrapServers", "records": [[topic, partition, offset,
//! value as UTF-8], ...], "received_at_us"}` (records in the payload's order, groups sorted by
//! name; the wall-clock time the invocation arrived, in microseconds since the epoch), plus the whole
//! payload as `"payload"` when `PROBE_LOG_PAYLOAD=1`. Then, looking at every record's value:
//! - `sleep:<ms>` sleeps that long (once per such record);
//! - `fail-always` fails the invocation;
//! - `fail-once:<token>` fails the invocation the first time it sees `<token>`, succeeds later
//!   (tokens seen are remembered, one a line, in the file `PROBE_STATE`);
//! - `partial:<token>` answers, the first time it sees `<token>`,
//!   `{"batchItemFailures": [{"itemIdentifier": {"partition": "<topic>-<partition>", "offset": <offset>}}]}`
//!   naming that record (a failure wins over a partial answer, whose token then stays unseen);
//! - otherwise it answers `{"ok": <record count>}`.
//!
//! Test use only.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::time::Duration;

struct Record {
    topic: String,
    partition: i64,
    offset: i64,
    value: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let log = std::env::var("PROBE_LOG").map_err(|_| "PROBE_LOG is not set")?;
    let state = std::env::var("PROBE_STATE").map_err(|_| "PROBE_STATE is not set")?;
    let log_payload = std::env::var("PROBE_LOG_PAYLOAD").is_ok_and(|v| v == "1");
    run(service_fn(|event: LambdaEvent<Value>| {
        let (log, state) = (log.clone(), state.clone());
        async move { handle(event.payload, &log, &state, log_payload).await }
    }))
    .await
}

async fn handle(payload: Value, log: &str, state: &str, log_payload: bool) -> Result<Value, Error> {
    let received_at_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default();
    let records = records(&payload);
    let mut line = json!({
        "eventSource": payload["eventSource"],
        "eventSourceArn": payload["eventSourceArn"],
        "bootstrapServers": payload["bootstrapServers"],
        "records": records
            .iter()
            .map(|r| json!([r.topic, r.partition, r.offset, r.value]))
            .collect::<Vec<_>>(),
        "received_at_us": received_at_us,
    });
    if log_payload {
        line["payload"] = payload.clone();
    }
    append(log, &line.to_string())?;

    for record in &records {
        for word in record.value.split_whitespace() {
            if let Some(ms) = word.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
    }
    let words = |prefix: &'static str| {
        records.iter().flat_map(move |r| {
            r.value
                .split_whitespace()
                .filter_map(move |w| w.strip_prefix(prefix).map(|token| (r, token.to_owned())))
        })
    };
    if records
        .iter()
        .any(|r| r.value.split_whitespace().any(|w| w == "fail-always"))
    {
        return Err("fail-always: failing on purpose".into());
    }
    let seen = seen_tokens(state)?;
    let new_fail_once: Vec<String> = words("fail-once:")
        .map(|(_, token)| token)
        .filter(|token| !seen.contains(token))
        .collect();
    if !new_fail_once.is_empty() {
        for token in &new_fail_once {
            append(state, token)?;
        }
        return Err(format!("fail-once: failing once for {}", new_fail_once.join(",")).into());
    }
    let mut failures = Vec::new();
    for (record, token) in words("partial:") {
        if !seen.contains(&token) {
            append(state, &token)?;
            failures.push(json!({"itemIdentifier": {
                "partition": format!("{}-{}", record.topic, record.partition),
                "offset": record.offset,
            }}));
        }
    }
    if !failures.is_empty() {
        return Ok(json!({ "batchItemFailures": failures }));
    }
    Ok(json!({ "ok": records.len() }))
}

fn records(payload: &Value) -> Vec<Record> {
    let Some(groups) = payload["records"].as_object() else {
        return Vec::new();
    };
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort();
    let mut records = Vec::new();
    for name in names {
        for item in groups[name].as_array().into_iter().flatten() {
            let value = item["value"]
                .as_str()
                .and_then(|v| BASE64.decode(v).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            records.push(Record {
                topic: item["topic"].as_str().unwrap_or_default().to_owned(),
                partition: item["partition"].as_i64().unwrap_or(-1),
                offset: item["offset"].as_i64().unwrap_or(-1),
                value,
            });
        }
    }
    records
}

fn seen_tokens(state: &str) -> Result<BTreeSet<String>, Error> {
    match std::fs::read_to_string(state) {
        Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e.into()),
    }
}

fn append(path: &str, line: &str) -> Result<(), Error> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{line}")?;
    Ok(())
}
