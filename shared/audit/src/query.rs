//! `GET /audit` (admins): the stored events, newest first, filtered by `actor` (user id), `type`
//! (event type), `request_id`, `from` (inclusive) / `to` (exclusive) (RFC 3339); `limit` 1..=500
//! (default 100) and `cursor` (from `next_cursor`). Keyset pages over (time, event id).
//! Its use case is [`audit_log`]; the route is `http_main!(AuditReader, (caller, query) ...)`.

use crate::clickhouse::{ClickHouse, ClickHouseError, quote};
use crate::reader::{AuditQueryError, AuditReader};
use crate::schema::{EVENTS, EVENTS_BY_ACTOR, EVENTS_BY_REQUEST};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use servicehub_domain::listing::{
    Cursor, cut_page, ordered_range, page_parameter, query_time, unknown_parameter,
};
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::CATALOG;
use servicehub_events::values::Role;
use servicehub_platform::http::Caller;
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<Uuid>,
    pub event_type: Option<String>,
    pub request_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl AuditQuery {
    /// Parses query parameters, reporting every bad one at once; unknown parameters are errors.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<AuditQuery, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut query = AuditQuery {
            actor: None,
            event_type: None,
            request_id: None,
            from: None,
            to: None,
            after: None,
            limit: DEFAULT_LIMIT,
        };
        let uuid = |name: &str, raw: &str, errors: &mut ValidationErrors| {
            let parsed = Uuid::parse_str(raw.trim()).ok();
            if parsed.is_none() {
                errors.add(name, "invalid_format", format!("{name} must be a UUID"));
            }
            parsed
        };
        for (name, raw) in params {
            match name {
                "actor" => query.actor = uuid("actor", raw, &mut errors),
                "request_id" => query.request_id = uuid("request_id", raw, &mut errors),
                "type" => {
                    let raw = raw.trim();
                    if CATALOG.iter().any(|e| e.event_type == raw) {
                        query.event_type = Some(raw.to_owned());
                    } else {
                        errors.add(
                            "type",
                            "invalid_value",
                            format!("{raw:?} is not an event type, e.g. request.created"),
                        );
                    }
                }
                "from" => query.from = query_time("from", raw.trim(), &mut errors),
                "to" => query.to = query_time("to", raw.trim(), &mut errors),
                other => {
                    let page = (&mut query.after, &mut query.limit);
                    if !page_parameter((other, raw), Cursor::decode, page, MAX_LIMIT, &mut errors) {
                        unknown_parameter(other, &mut errors);
                    }
                }
            }
        }
        ordered_range(("from", query.from), ("to", query.to), &mut errors);
        errors.finish(|| query)
    }

    /// The SELECT for one page plus one row (which tells whether there is a next page). Every
    /// value spliced in is a number, a UUID or a catalog event type, and quoted nonetheless.
    pub fn sql(&self) -> String {
        let mut conditions: Vec<String> = Vec::new();
        if let Some(event_type) = &self.event_type {
            conditions.push(format!("event_type = {}", quote(event_type)));
        }
        // `time` (seconds) prunes partitions; `time_us` is the exact bound.
        if let Some(from) = self.from {
            conditions.push(format!(
                "time >= toDateTime({}) AND time_us >= {}",
                from.timestamp(),
                from.timestamp_micros()
            ));
        }
        if let Some(to) = self.to {
            conditions.push(format!(
                "time <= toDateTime({}) AND time_us < {}",
                to.timestamp(),
                to.timestamp_micros()
            ));
        }
        if let Some(actor) = self.actor {
            conditions.push(format!(
                "event_id IN (SELECT event_id FROM {EVENTS_BY_ACTOR} WHERE actor_user_id = {})",
                quote(&actor.to_string())
            ));
        }
        if let Some(request) = self.request_id {
            conditions.push(format!(
                "event_id IN (SELECT event_id FROM {EVENTS_BY_REQUEST} WHERE request_id = {})",
                quote(&request.to_string())
            ));
        }
        if let Some(after) = self.after {
            conditions.push(format!(
                "time <= toDateTime({}) AND (time_us < {us} OR (time_us = {us} AND toString(event_id) < {id}))",
                after.at.timestamp_micros().div_euclid(1_000_000),
                us = after.at.timestamp_micros(),
                id = quote(&after.id.to_string()),
            ));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        format!(
            "SELECT toString(event_id) AS id, event_type, event_version, source, subject, \
             request_id, actor_user_id, actor_role, actor_service, correlation_id, causation_id, \
             time_us, topic, partition, offset, payload \
             FROM {EVENTS} FINAL {filter} \
             ORDER BY time_us DESC, id DESC LIMIT {} FORMAT JSONEachRow",
            self.limit + 1
        )
    }
}

/// A row as the page query returns it.
#[derive(Debug, Deserialize)]
struct StoredRow {
    id: String,
    event_type: String,
    event_version: u16,
    source: String,
    subject: String,
    request_id: String,
    actor_user_id: String,
    actor_role: String,
    actor_service: String,
    correlation_id: String,
    causation_id: String,
    time_us: i64,
    topic: String,
    partition: i32,
    offset: i64,
    payload: String,
}

/// Who acted: a user with a role, or a service.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditActor {
    pub user_id: Option<Uuid>,
    pub role: Option<Role>,
    /// The function that acted when no user did (or that reported the event).
    pub service: Option<String>,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AuditEntry {
    pub event_id: Uuid,
    /// The CloudEvents type, e.g. `request.created`.
    pub event_type: String,
    pub event_version: u16,
    pub time: DateTime<Utc>,
    /// The function that emitted it (CloudEvents `source`).
    pub source: String,
    /// The aggregate id (CloudEvents `subject`, the Kafka key).
    pub subject: String,
    /// The service request it concerns, if any.
    pub request_id: Option<Uuid>,
    pub actor: AuditActor,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    /// Where the audit sink read it.
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The whole CloudEvents envelope as it travelled on Kafka.
    pub event: serde_json::Value,
}

/// One page of `GET /audit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl StoredRow {
    fn into_entry(self) -> Result<AuditEntry, ClickHouseError> {
        let bad = |what: &str| ClickHouseError::Decode(format!("stored {what} is invalid"));
        Ok(AuditEntry {
            event_id: Uuid::parse_str(&self.id).map_err(|_| bad("event_id"))?,
            event_type: self.event_type,
            event_version: self.event_version,
            time: DateTime::from_timestamp_micros(self.time_us).ok_or_else(|| bad("time_us"))?,
            source: self.source,
            subject: self.subject,
            request_id: Uuid::parse_str(&self.request_id).ok(),
            actor: AuditActor {
                user_id: Uuid::parse_str(&self.actor_user_id).ok(),
                role: Role::parse(&self.actor_role),
                service: non_empty(self.actor_service),
            },
            correlation_id: self.correlation_id,
            causation_id: non_empty(self.causation_id),
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            event: serde_json::from_str(&self.payload)
                .unwrap_or(serde_json::Value::String(self.payload)),
        })
    }
}

/// One page for `query`.
pub async fn page(
    clickhouse: &ClickHouse,
    query: &AuditQuery,
) -> Result<AuditPage, ClickHouseError> {
    let rows: Vec<StoredRow> = clickhouse.select(&query.sql()).await?;
    let items = rows
        .into_iter()
        .map(StoredRow::into_entry)
        .collect::<Result<Vec<_>, _>>()?;
    let (items, next_cursor) = cut_page(items, query.limit, |last| Cursor {
        at: last.time,
        id: last.event_id,
    });
    Ok(AuditPage { items, next_cursor })
}

/// `GET /audit`: a page of the log, for admins. Without a usable `CLICKHOUSE_*` configuration
/// access is still checked, and admins are told the store is not configured.
pub async fn audit_log(
    reader: &AuditReader,
    caller: Caller,
    mut pairs: Vec<(String, String)>,
) -> Result<AuditPage, AuditQueryError> {
    if caller.identity.role != Role::Admin {
        return Err(AuditQueryError::NotAllowed(
            "only admins read the audit log",
        ));
    }
    // A parameter given twice with the same value counts once.
    pairs.dedup();
    let query = AuditQuery::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))?;
    Ok(page(reader.store()?, &query).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_default() {
        let actor = Uuid::now_v7();
        let query = AuditQuery::parse([
            ("actor", actor.to_string().as_str()),
            ("type", "request.created"),
            ("from", "2030-01-01T00:00:00Z"),
            ("to", "2030-02-01T00:00:00+03:00"),
            ("limit", "500"),
        ])
        .unwrap();
        assert_eq!(query.actor, Some(actor));
        assert_eq!(query.event_type.as_deref(), Some("request.created"));
        assert_eq!(query.limit, 500);
        assert_eq!(AuditQuery::parse([]).unwrap().limit, DEFAULT_LIMIT);
        let sql = query.sql();
        assert!(sql.contains("event_type = 'request.created'"), "{sql}");
        assert!(sql.contains("LIMIT 501"), "{sql}");
    }

    #[test]
    fn every_bad_parameter_is_reported() {
        let errors = AuditQuery::parse([
            ("actor", "bob"),
            ("cursor", "!!"),
            ("from", "yesterday"),
            ("limit", "0"),
            ("request_id", "42"),
            ("sort", "time"),
            ("type", "request.exploded"),
        ])
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "actor",
                "cursor",
                "from",
                "limit",
                "request_id",
                "sort",
                "type"
            ]
        );
        let range = AuditQuery::parse([
            ("from", "2030-01-02T00:00:00Z"),
            ("to", "2030-01-01T00:00:00Z"),
        ])
        .unwrap_err();
        assert_eq!(range.0[0].code, "invalid_range");
        assert!(AuditQuery::parse([("limit", "501")]).is_err());
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("bm9wZQ"), None);
    }
}
