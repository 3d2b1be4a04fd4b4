//! EventBridge schedules: `rate(...)` and `cron(...)` expressions fire the function with the
//! scheduled-event payload (or the event's `Input`).

use crate::pool::FunctionPool;
use crate::template::{ScheduleDef, ScheduleExpression};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The payload EventBridge sends for a scheduled rule.
pub fn scheduled_event(rule: &str, at: DateTime<Utc>) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "eu-central-1",
        "resources": [format!("arn:aws:events:eu-central-1:000000000000:rule/{rule}")],
        "detail": {}
    })
}

/// An AWS cron expression (minutes hours day-of-month month day-of-week year) as the `cron`
/// crate's (seconds first; `?` means any).
pub fn parse_aws_cron(expression: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!("cron({expression}) must have 6 fields"));
    }
    let converted: Vec<String> = fields.iter().map(|f| f.replace('?', "*")).collect();
    cron::Schedule::from_str(&format!("0 {}", converted.join(" ")))
        .map_err(|e| format!("cron({expression}): {e}"))
}

/// When the schedule fires next after `now`.
pub fn next_fire(expression: &ScheduleExpression, now: DateTime<Utc>) -> Result<Duration, String> {
    match expression {
        ScheduleExpression::Rate(period) => Ok(*period),
        ScheduleExpression::Cron(text) => {
            let schedule = parse_aws_cron(text)?;
            let next = schedule
                .after(&now)
                .next()
                .ok_or_else(|| format!("cron({text}) never fires again"))?;
            Ok((next - now).to_std().unwrap_or_default())
        }
    }
}

/// Fires `schedule` until `shutdown` resolves; a `rate(...)` one at once too when `at_start`.
///
/// As EventBridge does, a rule fires on its own clock, whatever its invocations do: a `rate`
/// fires every period from the first firing, not a period after the last invocation ended, and
/// an invocation still running when the next one fires runs beside it (in another environment).
/// Stopping drops the invocations under way, which stops their environments, as Lambda does on
/// shutdown.
pub async fn run(
    schedule: ScheduleDef,
    pool: Arc<FunctionPool>,
    at_start: bool,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut running = tokio::task::JoinSet::new();
    let first_wait = if at_start && matches!(schedule.expression, ScheduleExpression::Rate(_)) {
        Ok(Duration::ZERO)
    } else {
        next_fire(&schedule.expression, Utc::now())
    };
    let mut fire_at = match first_wait {
        Ok(wait) => tokio::time::Instant::now() + wait,
        Err(error) => {
            tracing::error!(schedule = %schedule.id, %error, "schedule disabled");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep_until(fire_at) => {}
            // Reap finished invocations as they end.
            Some(_) = running.join_next(), if !running.is_empty() => continue,
        }
        let payload = schedule
            .input
            .clone()
            .unwrap_or_else(|| scheduled_event(&schedule.id, Utc::now()));
        let (pool, id) = (pool.clone(), schedule.id.clone());
        running.spawn(async move {
            let invoked = pool.invoke_recorded(&payload).await;
            let outcome = match &invoked.result {
                Ok(_) => "ok".to_owned(),
                Err(error) => format!("error: {error}"),
            };
            tracing::info!(
                trigger = "schedule",
                function = %pool.name(),
                schedule = %id,
                lambda_request_id = %invoked.request_id,
                duration_ms = invoked.duration.as_secs_f64() * 1000.0,
                cold_start_ms = invoked.cold_start.map(|d| d.as_secs_f64() * 1000.0),
                outcome,
                "invocation"
            );
        });
        fire_at = match &schedule.expression {
            ScheduleExpression::Rate(period) => fire_at + *period,
            cron => match next_fire(cron, Utc::now()) {
                Ok(wait) => tokio::time::Instant::now() + wait,
                Err(error) => {
                    tracing::error!(schedule = %schedule.id, %error, "schedule disabled");
                    return;
                }
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn aws_cron_expressions_fire_when_they_should() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 30, 0).unwrap();
        let wait = next_fire(&ScheduleExpression::Cron("0 12 * * ? *".into()), now).unwrap();
        assert_eq!(wait, Duration::from_secs(90 * 60));
        assert!(parse_aws_cron("0 12 * *").is_err());
        assert_eq!(
            next_fire(&ScheduleExpression::Rate(Duration::from_secs(60)), now).unwrap(),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn the_scheduled_event_has_eventbridge_shape() {
        let event = scheduled_event("OutboxRelaySchedule", Utc::now());
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        assert!(
            event["resources"][0]
                .as_str()
                .unwrap()
                .ends_with("rule/OutboxRelaySchedule")
        );
    }
}
