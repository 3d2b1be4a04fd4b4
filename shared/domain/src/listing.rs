//! `GET /requests`: the filters and the page, parsed from the query string. Pages are keyset
//! pages over (created_at, id), newest first; the cursor is opaque to clients.

use crate::validation::ValidationErrors;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use servicehub_events::values::{RequestStatus, Urgency};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Where the next page starts: just after this request in (created_at, id) descending order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    pub fn decode(raw: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('|')?;
        Some(Cursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// A time query parameter (RFC 3339), or an `invalid_format` error for `name`.
pub fn query_time(name: &str, raw: &str, errors: &mut ValidationErrors) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    if parsed.is_none() {
        errors.add(
            name,
            "invalid_format",
            format!("{name} must be an RFC 3339 time, e.g. 2030-01-31T00:00:00Z"),
        );
    }
    parsed
}

/// The `limit` query parameter, 1 to `max`, or an `invalid_value` error.
pub fn query_limit(raw: &str, max: u32, errors: &mut ValidationErrors) -> Option<u32> {
    match raw.parse::<u32>() {
        Ok(limit) if (1..=max).contains(&limit) => Some(limit),
        _ => {
            errors.add(
                "limit",
                "invalid_value",
                format!("limit must be an integer from 1 to {max}"),
            );
            None
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Any of these; empty = every status.
    pub statuses: Vec<RequestStatus>,
    pub region: Option<String>,
    pub urgency: Option<Urgency>,
    pub created_from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub created_to: Option<DateTime<Utc>>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl ListQuery {
    /// Parses query parameters (`status` may be comma-separated or repeated), reporting every bad
    /// parameter at once; unknown parameters are errors too.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ListQuery, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut query = ListQuery {
            statuses: Vec::new(),
            region: None,
            urgency: None,
            created_from: None,
            created_to: None,
            after: None,
            limit: DEFAULT_LIMIT,
        };
        for (name, raw) in params {
            match name {
                "status" => {
                    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        match RequestStatus::parse(part) {
                            Some(status) if !query.statuses.contains(&status) => {
                                query.statuses.push(status)
                            }
                            Some(_) => {}
                            None => errors.add(
                                "status",
                                "invalid_value",
                                format!("{part:?} is not a request status"),
                            ),
                        }
                    }
                }
                "region" => {
                    let region = raw.trim();
                    if region.is_empty() || region.chars().count() > 100 {
                        errors.add(
                            "region",
                            "invalid_value",
                            "region must be 1 to 100 characters",
                        );
                    } else {
                        query.region = Some(region.to_owned());
                    }
                }
                "urgency" => match Urgency::parse(raw) {
                    Some(urgency) => query.urgency = Some(urgency),
                    None => errors.add(
                        "urgency",
                        "invalid_value",
                        format!("{raw:?} is not an urgency (low, normal, high, urgent)"),
                    ),
                },
                "created_from" => query.created_from = query_time("created_from", raw, &mut errors),
                "created_to" => query.created_to = query_time("created_to", raw, &mut errors),
                "cursor" => match Cursor::decode(raw) {
                    Some(cursor) => query.after = Some(cursor),
                    None => errors.add(
                        "cursor",
                        "invalid_value",
                        "cursor is not one this API returned",
                    ),
                },
                "limit" => {
                    if let Some(limit) = query_limit(raw, MAX_LIMIT, &mut errors) {
                        query.limit = limit;
                    }
                }
                other => errors.add(
                    other,
                    "unknown_parameter",
                    format!("{other} is not a known query parameter"),
                ),
            }
        }
        if let (Some(from), Some(to)) = (query.created_from, query.created_to)
            && from >= to
        {
            errors.add(
                "created_to",
                "invalid_range",
                "created_to must be after created_from",
            );
        }
        errors.finish(|| query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_default() {
        let query = ListQuery::parse([
            ("status", "new,manager_assigned"),
            ("status", "new"),
            ("region", " moscow "),
            ("urgency", "urgent"),
            ("created_from", "2030-01-01T00:00:00Z"),
            ("created_to", "2030-02-01T00:00:00+03:00"),
            ("limit", "5"),
        ])
        .unwrap();
        assert_eq!(
            query.statuses,
            [RequestStatus::New, RequestStatus::ManagerAssigned]
        );
        assert_eq!(query.region.as_deref(), Some("moscow"));
        assert_eq!(query.limit, 5);
        assert_eq!(ListQuery::parse([]).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn every_bad_parameter_is_reported() {
        let errors = ListQuery::parse([
            ("status", "open"),
            ("urgency", "asap"),
            ("created_from", "yesterday"),
            ("cursor", "!!"),
            ("limit", "1000"),
            ("sort", "id"),
        ])
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "status",
                "urgency",
                "created_from",
                "cursor",
                "limit",
                "sort"
            ]
        );
        let errors = ListQuery::parse([
            ("created_from", "2030-02-01T00:00:00Z"),
            ("created_to", "2030-01-01T00:00:00Z"),
        ])
        .unwrap_err();
        assert_eq!(errors.0[0].code, "invalid_range");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("bm9wZQ"), None);
    }
}
