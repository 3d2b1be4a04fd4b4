//! `GET /analytics/requests` (admins, and managers for their regions): the business at a glance,
//! computed by ClickHouse over the audit events: the requests created in a period, counted by
//! their status now, region, category and day; the median and 90th percentile time from creation
//! to manager assignment, to contractor assignment and to completion; the cancellation rate; and
//! the notifications about those requests sent and failed per channel. Its use case is
//! [`request_analytics`]; the route is `http_main!(AuditReader, (caller, query) ...)`.

use crate::clickhouse::{ClickHouse, ClickHouseError, quote};
use crate::reader::{AuditQueryError, AuditReader};
use crate::schema::EVENTS;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use servicehub_domain::listing::{ordered_range, query_region, query_time, unknown_parameter};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::values::Role;
use servicehub_platform::http::{Caller, Identity};
use std::collections::BTreeMap;

/// The period when none is given: the last 30 days.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest period one answer covers.
pub const MAX_DAYS: i64 = 366;

/// What to count: requests created in `[from, to)`, in `regions` (all when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub regions: Option<Vec<String>>,
}

impl AnalyticsQuery {
    /// Parses `from`, `to` (RFC 3339) and `region`, then applies who may see what: an admin any
    /// region, a manager their own (all of them when no region is named; not another one).
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        caller: &Identity,
        now: DateTime<Utc>,
    ) -> Result<AnalyticsQuery, AuditQueryError> {
        let mut errors = ValidationErrors::default();
        let (mut from, mut to, mut region) = (None, None, None);
        for (name, raw) in params {
            match name {
                "from" => from = query_time("from", raw.trim(), &mut errors),
                "to" => to = query_time("to", raw.trim(), &mut errors),
                "region" => region = query_region(raw, &mut errors),
                other => unknown_parameter(other, &mut errors),
            }
        }
        let to = to.unwrap_or(now);
        let from = from.unwrap_or(to - Duration::days(DEFAULT_DAYS));
        ordered_range(("from", Some(from)), ("to", Some(to)), &mut errors);
        if from < to && to - from > Duration::days(MAX_DAYS) {
            errors.add(
                "from",
                "invalid_range",
                format!("one answer covers at most {MAX_DAYS} days"),
            );
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let regions = match caller.role {
            Role::Admin => region.map(|r| vec![r]),
            Role::Manager => match region {
                Some(r) if caller.regions.contains(&r) => Some(vec![r]),
                Some(_) => {
                    return Err(AuditQueryError::NotAllowed(
                        "a manager sees the analytics of their own regions",
                    ));
                }
                None => Some(caller.regions.clone()),
            },
            _ => {
                return Err(AuditQueryError::NotAllowed(
                    "only admins and managers read the analytics",
                ));
            }
        };
        Ok(AnalyticsQuery { from, to, regions })
    }

    /// The requests in scope: one row each, with its region, category and creation time.
    fn scope(&self) -> String {
        let region_filter = match &self.regions {
            None => String::new(),
            Some(regions) => format!(
                "AND region IN ({})",
                if regions.is_empty() {
                    "''".to_owned()
                } else {
                    regions
                        .iter()
                        .map(|r| quote(r))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        };
        format!(
            "SELECT request_id,
                    any(region) AS request_region,
                    any(category) AS request_category,
                    min(time_us) AS created_us
             FROM {EVENTS}
             WHERE event_type = 'request.created'
               AND time >= toDateTime({from_s}) AND time_us >= {from_us}
               AND time <= toDateTime({to_s}) AND time_us < {to_us}
               {region_filter}
             GROUP BY request_id",
            from_s = self.from.timestamp(),
            from_us = self.from.timestamp_micros(),
            to_s = self.to.timestamp(),
            to_us = self.to.timestamp_micros(),
        )
    }

    /// One row per request in scope: region, category, creation and step times, status now.
    fn facts(&self) -> String {
        let scope = self.scope();
        format!(
            "SELECT request_region AS region, request_category AS category,
                    created_us, manager_us, contractor_us, completed_us,
                    multiIf(cancelled > 0, 'cancelled',
                            completed_us > 0, 'completed',
                            last_status != '', last_status,
                            manager_us > 0, 'manager_assigned',
                            'new') AS status
             FROM ({scope})
             ANY LEFT JOIN (
                 SELECT request_id,
                        minIf(time_us, event_type = 'workflow.manager_assigned') AS manager_us,
                        minIf(time_us, event_type = 'workflow.contractor_assigned') AS contractor_us,
                        minIf(time_us, event_type = 'workflow.work_completed') AS completed_us,
                        countIf(event_type = 'request.cancelled') AS cancelled,
                        argMaxIf(status_to, time_us,
                                 event_type = 'workflow.status_changed') AS last_status
                 FROM {EVENTS}
                 WHERE event_type IN ('workflow.manager_assigned', 'workflow.contractor_assigned',
                                      'workflow.work_completed', 'request.cancelled',
                                      'workflow.status_changed')
                   AND time >= toDateTime({from_s})
                 GROUP BY request_id
             ) USING request_id",
            from_s = self.from.timestamp(),
        )
    }

    /// The requests in scope counted by status, region, category and day together (a few rows
    /// at most per day); the four breakdowns are summed from them.
    pub fn breakdown_sql(&self) -> String {
        format!(
            "SELECT status, region, category,
                    toString(toDate(toDateTime(intDiv(created_us, 1000000)))) AS day,
                    count() AS n
             FROM ({facts})
             GROUP BY status, region, category, day
             FORMAT JSONEachRow",
            facts = self.facts()
        )
    }

    /// One row: how many, how many cancelled, and the step durations.
    pub fn requests_sql(&self) -> String {
        let seconds = |step: &str| {
            format!(
                "quantilesExactIf(0.5, 0.9)(({step} - created_us) / 1e6, {step} > 0) AS {step}_q,
                 countIf({step} > 0) AS {step}_n"
            )
        };
        format!(
            "SELECT count() AS requests,
                    countIf(status = 'cancelled') AS cancelled,
                    {manager}, {contractor}, {completed}
             FROM ({facts})
             FORMAT JSONEachRow",
            manager = seconds("manager_us"),
            contractor = seconds("contractor_us"),
            completed = seconds("completed_us"),
            facts = self.facts(),
        )
    }

    /// The notifications about the requests in scope, sent and failed, per channel.
    pub fn notifications_sql(&self) -> String {
        format!(
            "SELECT channel,
                    uniqExactIf(event_id, event_type != 'notification.failed') AS sent,
                    uniqExactIf(event_id, event_type = 'notification.failed') AS failed
             FROM {EVENTS}
             WHERE event_type IN ('notification.email.sent', 'notification.telegram.sent',
                                  'notification.sms.sent', 'notification.failed')
               AND time >= toDateTime({from_s})
               AND request_id IN (SELECT request_id FROM ({scope}))
             GROUP BY channel
             ORDER BY channel
             FORMAT JSONEachRow",
            scope = self.scope(),
            from_s = self.from.timestamp(),
        )
    }
}

#[derive(Debug, Deserialize)]
struct BreakdownRow {
    status: String,
    region: String,
    category: String,
    day: String,
    n: u64,
}

#[derive(Debug, Deserialize)]
struct RequestsRow {
    requests: u64,
    cancelled: u64,
    manager_us_q: Vec<Option<f64>>,
    manager_us_n: u64,
    contractor_us_q: Vec<Option<f64>>,
    contractor_us_n: u64,
    completed_us_q: Vec<Option<f64>>,
    completed_us_n: u64,
}

#[derive(Debug, Deserialize)]
struct ChannelRow {
    channel: String,
    sent: u64,
    failed: u64,
}

/// How long a step took after creation, over the requests that reached it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StepDuration {
    /// The requests that reached the step.
    pub count: u64,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

impl StepDuration {
    fn of(count: u64, quantiles: &[Option<f64>]) -> StepDuration {
        let at = |i: usize| {
            quantiles
                .get(i)
                .copied()
                .flatten()
                .filter(|_| count > 0)
                .map(|s| (s * 1000.0).round() / 1000.0)
        };
        StepDuration {
            count,
            median_seconds: at(0),
            p90_seconds: at(1),
        }
    }
}

/// Notifications on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChannelFigures {
    pub sent: u64,
    pub failed: u64,
    /// failed / (sent + failed).
    pub failure_rate: f64,
}

/// The body of `GET /analytics/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RequestAnalytics {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The regions counted; absent: all.
    pub regions: Option<Vec<String>>,
    /// Requests created in the period.
    pub requests: u64,
    /// By the status they are in now.
    pub by_status: BTreeMap<String, u64>,
    pub by_region: BTreeMap<String, u64>,
    pub by_category: BTreeMap<String, u64>,
    /// By the UTC day they were created (`YYYY-MM-DD`).
    pub by_day: BTreeMap<String, u64>,
    pub time_to_manager_assignment: StepDuration,
    pub time_to_contractor_assignment: StepDuration,
    pub time_to_completion: StepDuration,
    /// Cancelled / created (0 when nothing was created).
    pub cancellation_rate: f64,
    /// About these requests, per channel (`email`, `sms`, `telegram`).
    pub notifications: BTreeMap<String, ChannelFigures>,
}

/// Sums `rows` by the key `of` picks.
fn sum_by(rows: &[BreakdownRow], of: impl Fn(&BreakdownRow) -> &str) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for row in rows {
        *sums.entry(of(row).to_owned()).or_insert(0) += row.n;
    }
    sums
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0
    }
}

/// Runs both queries.
pub async fn analytics(
    clickhouse: &ClickHouse,
    query: &AnalyticsQuery,
) -> Result<RequestAnalytics, ClickHouseError> {
    let (requests_sql, breakdown_sql, notifications_sql) = (
        query.requests_sql(),
        query.breakdown_sql(),
        query.notifications_sql(),
    );
    let (requests, breakdown, channels) = tokio::try_join!(
        clickhouse.select::<RequestsRow>(&requests_sql),
        clickhouse.select::<BreakdownRow>(&breakdown_sql),
        clickhouse.select::<ChannelRow>(&notifications_sql),
    )?;
    let row = requests
        .into_iter()
        .next()
        .ok_or_else(|| ClickHouseError::Decode("the aggregate returned no row".into()))?;
    Ok(RequestAnalytics {
        from: query.from,
        to: query.to,
        regions: query.regions.clone(),
        requests: row.requests,
        cancellation_rate: rate(row.cancelled, row.requests),
        by_status: sum_by(&breakdown, |r| &r.status),
        by_region: sum_by(&breakdown, |r| &r.region),
        by_category: sum_by(&breakdown, |r| &r.category),
        by_day: sum_by(&breakdown, |r| &r.day),
        time_to_manager_assignment: StepDuration::of(row.manager_us_n, &row.manager_us_q),
        time_to_contractor_assignment: StepDuration::of(row.contractor_us_n, &row.contractor_us_q),
        time_to_completion: StepDuration::of(row.completed_us_n, &row.completed_us_q),
        notifications: channels
            .into_iter()
            .map(|c| {
                let figures = ChannelFigures {
                    sent: c.sent,
                    failed: c.failed,
                    failure_rate: rate(c.failed, c.sent + c.failed),
                };
                (c.channel, figures)
            })
            .collect(),
    })
}

/// `GET /analytics/requests`. Without a usable ClickHouse configuration access is still
/// checked, and permitted callers are told the store is not configured.
pub async fn request_analytics(
    reader: &AuditReader,
    caller: Caller,
    mut pairs: Vec<(String, String)>,
) -> Result<RequestAnalytics, AuditQueryError> {
    // A parameter given twice with the same value counts once.
    pairs.dedup();
    let query = AnalyticsQuery::parse(
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        &caller.identity,
        Utc::now(),
    )?;
    Ok(analytics(reader.store()?, &query).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn who(role: Role, regions: &[&str]) -> Identity {
        Identity {
            user_id: Uuid::now_v7(),
            role,
            regions: regions.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn a_manager_sees_their_regions_and_an_admin_any() {
        let now = Utc::now();
        let manager = who(Role::Manager, &["Москва", "Казань"]);
        let q = AnalyticsQuery::parse([], &manager, now).unwrap();
        assert_eq!(q.regions, Some(vec!["Москва".into(), "Казань".into()]));
        assert_eq!((q.to, q.to - q.from), (now, Duration::days(DEFAULT_DAYS)));
        let q = AnalyticsQuery::parse([("region", "Казань")], &manager, now).unwrap();
        assert_eq!(q.regions, Some(vec!["Казань".into()]));
        let denied = AnalyticsQuery::parse([("region", "Тверь")], &manager, now);
        assert!(matches!(denied, Err(AuditQueryError::NotAllowed(_))));
        let admin = who(Role::Admin, &[]);
        assert_eq!(
            AnalyticsQuery::parse([], &admin, now).unwrap().regions,
            None
        );
        for role in [Role::Customer, Role::Contractor, Role::Security] {
            let denied = AnalyticsQuery::parse([], &who(role, &[]), now);
            assert!(
                matches!(denied, Err(AuditQueryError::NotAllowed(_))),
                "{role:?}"
            );
        }
    }

    #[test]
    fn bad_periods_and_parameters_are_422() {
        let admin = who(Role::Admin, &[]);
        let now = Utc::now();
        for params in [
            vec![
                ("from", "2030-02-01T00:00:00Z"),
                ("to", "2030-01-01T00:00:00Z"),
            ],
            vec![
                ("from", "2020-01-01T00:00:00Z"),
                ("to", "2030-01-01T00:00:00Z"),
            ],
            vec![("from", "yesterday")],
            vec![("status", "new")],
            vec![("region", " ")],
        ] {
            let parsed = AnalyticsQuery::parse(params.clone(), &admin, now);
            assert!(
                matches!(parsed, Err(AuditQueryError::Invalid(_))),
                "{params:?}"
            );
        }
    }

    #[test]
    fn region_names_are_quoted_into_the_sql() {
        let q = AnalyticsQuery {
            from: Utc::now() - Duration::days(1),
            to: Utc::now(),
            regions: Some(vec!["O'Hare".into()]),
        };
        let sql = q.requests_sql();
        assert!(sql.contains(&quote("O'Hare")), "{sql}");
        assert!(!sql.contains("'O'Hare'"));
        // A manager without regions sees nothing, not everything.
        let none = AnalyticsQuery {
            regions: Some(vec![]),
            ..q
        };
        assert!(none.notifications_sql().contains("IN ('')"));
    }
}
