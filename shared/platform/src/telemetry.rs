//! Structured JSON logs (one object a line, as CloudWatch Logs Insights likes them) and
//! CloudWatch Embedded Metric Format lines.

use serde_json::json;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; `RUST_LOG` filters (default `info`). Spans' fields — the Lambda
/// request id from the runtime, and the correlation and event ids our handlers add — appear on
/// every line logged inside them.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

/// Prints one CloudWatch Embedded Metric Format line: CloudWatch turns it into a metric
/// `ServiceHub/<name>` with the function as dimension, without any API call.
pub fn emit_metric(service: &str, name: &str, value: f64, unit: &str) {
    let line = json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "ServiceHub",
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": name, "Unit": unit}]
            }]
        },
        "Service": service,
        name: value,
    });
    println!("{line}");
}
