//! `GET /requests`: the filters and the page, parsed from the query string. Pages are keyset
//! pages over (created_at, id), newest first; the cursor is opaque to clients.

use crate::validation::ValidationErrors;
use chrono::{DateTime, Utc};
use servicehub_events::values::{RequestStatus, Urgency};
use uuid::Uuid;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Where the next page starts: just after this (time, id) in descending order. Both lists page
/// this way: requests by (created_at, id), audit events by (time, event id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        encode_keyset(self.at.timestamp_micros(), self.id)
    }

    pub fn decode(raw: &str) -> Option<Cursor> {
        let (micros, id) = decode_keyset(raw)?;
        Some(Cursor {
            at: DateTime::from_timestamp_micros(micros)?,
            id,
        })
    }
}

/// Cuts a page out of `items`, read with one row more than `limit` (that row tells whether a next
/// page exists): the page, and the cursor of its last item when there is more.
pub fn cut_page<T>(
    mut items: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<String>) {
    if items.len() <= limit as usize {
        return (items, None);
    }
    items.truncate(limit as usize);
    let next = items.last().map(|last| cursor_of(last).encode());
    (items, next)
}

/// The text of a keyset cursor: `<microseconds since the epoch>_<uuid>`, e.g.
/// `1796112000000000_0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b`. Every string of that shape (at most 18
/// digits, a lower-case hyphenated UUID) is a cursor, so the OpenAPI pattern
/// [`KEYSET_CURSOR_PATTERN`] describes exactly what is accepted; a made-up one is just a position
/// in the list, and the caller's filters and visibility still apply.
fn encode_keyset(micros: i64, id: Uuid) -> String {
    format!("{micros}_{id}")
}

/// The cursors [`decode_keyset`] accepts, as a JSON Schema pattern.
pub const KEYSET_CURSOR_PATTERN: &str =
    "^[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// The (microseconds, id) of a cursor of [`encode_keyset`]'s shape.
fn decode_keyset(raw: &str) -> Option<(i64, Uuid)> {
    let (micros, id) = raw.split_once('_')?;
    let digits =
        !micros.is_empty() && micros.len() <= 18 && micros.bytes().all(|b| b.is_ascii_digit());
    let id = Uuid::try_parse(id)
        .ok()
        .filter(|parsed| parsed.to_string() == id)?;
    digits.then(|| Some((micros.parse().ok()?, id)))?
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

/// The page parameters every keyset list takes, `cursor` (read by `decode`) and `limit` (1 to
/// `max`), into `after` and `limit`. False for any other name: the caller's own parameters.
pub fn page_parameter<C>(
    (name, raw): (&str, &str),
    decode: impl Fn(&str) -> Option<C>,
    (after, limit): (&mut Option<C>, &mut u32),
    max: u32,
    errors: &mut ValidationErrors,
) -> bool {
    match name {
        "cursor" => match decode(raw) {
            Some(cursor) => *after = Some(cursor),
            None => errors.add(
                "cursor",
                "invalid_value",
                "cursor is not one this API returned",
            ),
        },
        "limit" => {
            if let Some(parsed) = query_limit(raw, max, errors) {
                *limit = parsed;
            }
        }
        _ => return false,
    }
    true
}

/// A query parameter the route does not know: an error, not ignored, so a typo is not a
/// silently wider answer.
pub fn unknown_parameter(name: &str, errors: &mut ValidationErrors) {
    errors.add(
        name,
        "unknown_parameter",
        format!("{name} is not a known query parameter"),
    );
}

/// A time range's bounds in order (`from` before `to`, both given), or an `invalid_range` error
/// on `to_name`.
pub fn ordered_range(
    (from_name, from): (&str, Option<DateTime<Utc>>),
    (to_name, to): (&str, Option<DateTime<Utc>>),
    errors: &mut ValidationErrors,
) {
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        errors.add(
            to_name,
            "invalid_range",
            format!("{to_name} must be after {from_name}"),
        );
    }
}

/// The `region` filter: 1 to 100 characters once trimmed.
pub fn query_region(raw: &str, errors: &mut ValidationErrors) -> Option<String> {
    let region = raw.trim();
    if region.is_empty() || region.chars().count() > 100 {
        errors.add(
            "region",
            "invalid_value",
            "region must be 1 to 100 characters",
        );
        return None;
    }
    Some(region.to_owned())
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
                "region" => query.region = query_region(raw, &mut errors),
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
                other => {
                    let page = (&mut query.after, &mut query.limit);
                    if !page_parameter((other, raw), Cursor::decode, page, MAX_LIMIT, &mut errors) {
                        unknown_parameter(other, &mut errors);
                    }
                }
            }
        }
        ordered_range(
            ("created_from", query.created_from),
            ("created_to", query.created_to),
            &mut errors,
        );
        errors.finish(|| query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_next_cursor_only_when_a_row_more_was_read() {
        let at = DateTime::from_timestamp_micros(1_900_000_000_000_000).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let cursor_of = |id: &Uuid| Cursor { at, id: *id };
        let (page, next) = cut_page(ids.clone(), 2, cursor_of);
        assert_eq!(page, ids[..2]);
        assert_eq!(next, Some(cursor_of(&ids[1]).encode()));
        let (page, next) = cut_page(ids.clone(), 3, cursor_of);
        assert_eq!((page, next), (ids, None));
    }

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
            at: DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("bm9wZQ"), None);
    }

    #[test]
    fn a_keyset_cursor_is_exactly_its_pattern() {
        let id = Uuid::parse_str("0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b").unwrap();
        let text = encode_keyset(1_796_112_000_000_000, id);
        assert_eq!(
            text,
            "1796112000000000_0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b"
        );
        assert_eq!(decode_keyset(&text), Some((1_796_112_000_000_000, id)));
        assert_eq!(
            decode_keyset(&format!("999999999999999999_{id}")).map(|c| c.0),
            Some(999_999_999_999_999_999)
        );
        // What the pattern refuses is refused.
        for bad in [
            "",
            "_",
            "12",
            "-1_0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b",
            "1234567890123456789_0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b",
            "12_0190A5A4-7B1E-7CC0-8A2B-4C1D2E3F4A5B",
            "12_0190a5a47b1e7cc08a2b4c1d2e3f4a5b",
            "MTc5NjExMjAwMDAwMDAwMHwwMTkw",
        ] {
            assert_eq!(decode_keyset(bad), None, "{bad}");
        }
        // Every time of the pattern is one chrono can hold.
        assert!(DateTime::from_timestamp_micros(999_999_999_999_999_999).is_some());
    }
}
