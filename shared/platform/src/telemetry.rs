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
    emit_metrics(service, &[(name, value, unit)]);
}

/// One EMF line carrying several metrics `(name, value, unit)` of `service`.
pub fn emit_metrics(service: &str, metrics: &[(&str, f64, &str)]) {
    println!("{}", emf_line(service, metrics, chrono::Utc::now()));
}

fn emf_line(
    service: &str,
    metrics: &[(&str, f64, &str)],
    at: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let mut line = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "ServiceHub",
                "Dimensions": [["Service"]],
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }]
        },
        "Service": service,
    });
    for (name, value, _) in metrics {
        line[*name] = json!(value);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_carries_every_metric_with_its_unit() {
        let at = chrono::Utc::now();
        let line = emf_line(
            "notify",
            &[
                ("BatchDurationMs", 12.5, "Milliseconds"),
                ("DeadLettered", 2.0, "Count"),
            ],
            at,
        );
        assert_eq!(line["Service"], "notify");
        assert_eq!(line["BatchDurationMs"], 12.5);
        assert_eq!(line["DeadLettered"], 2.0);
        assert_eq!(line["_aws"]["Timestamp"], at.timestamp_millis());
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "ServiceHub");
        assert_eq!(
            declared["Metrics"][1],
            json!({"Name": "DeadLettered", "Unit": "Count"})
        );
    }
}
