//! A service request as a customer files it, parsed from JSON into types that only hold valid values.

use crate::validation::{MULTI_LINE, ONE_LINE, ObjectReader, ValidationErrors, object, text};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use servicehub_events::values::{Money, TimeWindow, Urgency};

macro_rules! text_newtype {
    ($(#[$m:meta])* $name:ident, min $min:literal, max $max:literal, multiline $multi:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            /// Trims and checks the text, reporting problems under `field`.
            pub fn parse(raw: &str, field: &str, errors: &mut ValidationErrors) -> Option<$name> {
                text(raw, field, $min, $max, $multi, errors).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}

text_newtype!(
    /// What is wrong, in a line: "Не работает холодильник".
    RequestTitle, min 3, max 200, multiline false
);
text_newtype!(
    /// The details, possibly several paragraphs.
    RequestDescription, min 1, max 5000, multiline true
);
text_newtype!(
    /// The region a request belongs to; managers and contractors serve regions.
    Region, min 1, max 100, multiline false
);
text_newtype!(City, min 1, max 100, multiline false);
text_newtype!(Address, min 3, max 300, multiline false);

/// A category of work as a slug: `appliance-repair`, `plumbing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category(String);

impl Category {
    pub fn parse(raw: &str, field: &str, errors: &mut ValidationErrors) -> Option<Category> {
        let valid = (2..=64).contains(&raw.len())
            && raw.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if valid {
            Some(Category(raw.to_owned()))
        } else {
            errors.add(
                field,
                "invalid_format",
                "category must be a slug of lowercase latin letters, digits and single dashes, 2 to 64 characters",
            );
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn parse_urgency(raw: &str, field: &str, errors: &mut ValidationErrors) -> Option<Urgency> {
    let urgency = Urgency::parse(raw);
    if urgency.is_none() {
        let allowed: Vec<&str> = Urgency::ALL.iter().map(|u| u.as_str()).collect();
        errors.add(
            field,
            "invalid_value",
            format!("urgency must be one of {}", allowed.join(", ")),
        );
    }
    urgency
}

fn parse_time(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<DateTime<Utc>> {
    let parsed = value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    if parsed.is_none() {
        errors.add(
            field,
            "invalid_format",
            format!("{field} must be an RFC 3339 date-time, e.g. 2026-12-01T09:00:00Z"),
        );
    }
    parsed
}

/// Parses `{"from": ..., "to": ...}`: `to` after `from`, and not already over at `now`.
pub fn parse_time_window(
    value: &Value,
    field: &str,
    now: DateTime<Utc>,
    errors: &mut ValidationErrors,
) -> Option<TimeWindow> {
    let mut reader = ObjectReader::new(object(value, field, errors)?, field);
    let from = reader
        .required("from", errors)
        .and_then(|v| parse_time(v, &format!("{field}.from"), errors));
    let to = reader
        .required("to", errors)
        .and_then(|v| parse_time(v, &format!("{field}.to"), errors));
    reader.reject_unknown(errors);
    let (from, to) = (from?, to?);
    if to <= from {
        errors.add(
            format!("{field}.to"),
            "invalid_range",
            "the window must end after it starts",
        );
        return None;
    }
    if to <= now {
        errors.add(
            format!("{field}.to"),
            "in_the_past",
            "the window is already over",
        );
        return None;
    }
    Some(TimeWindow { from, to })
}

/// Parses `{"amount_minor": 500000, "currency": "RUB"}`: a positive amount of an ISO 4217 code.
pub fn parse_money(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<Money> {
    let mut reader = ObjectReader::new(object(value, field, errors)?, field);
    let amount = reader.required("amount_minor", errors).and_then(|v| {
        let amount = crate::validation::integer(v).filter(|a| *a > 0);
        if amount.is_none() {
            errors.add(
                format!("{field}.amount_minor"),
                "invalid_value",
                "amount_minor must be a positive integer (minor units)",
            );
        }
        amount
    });
    let currency = reader.required_str("currency", errors).and_then(|c| {
        let valid = c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase());
        if !valid {
            errors.add(
                format!("{field}.currency"),
                "invalid_format",
                "currency must be an ISO 4217 code such as RUB",
            );
        }
        valid.then(|| c.to_owned())
    });
    reader.reject_unknown(errors);
    Some(Money {
        amount_minor: amount?,
        currency: currency?,
    })
}

/// A service request as filed: every field valid.
#[derive(Debug, Clone, PartialEq)]
pub struct NewServiceRequest {
    pub title: RequestTitle,
    pub description: RequestDescription,
    pub category: Category,
    pub urgency: Urgency,
    pub region: Region,
    pub city: City,
    pub address: Address,
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
}

impl NewServiceRequest {
    /// Parses the JSON body of `POST /requests`, reporting every problem at once.
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<NewServiceRequest, ValidationErrors> {
        let mut r = ObjectReader::body(body)?;
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        let title = r
            .required_str("title", e)
            .and_then(|v| RequestTitle::parse(v, "title", e));
        let description = r
            .required_str("description", e)
            .and_then(|v| RequestDescription::parse(v, "description", e));
        let category = r
            .required_str("category", e)
            .and_then(|v| Category::parse(v, "category", e));
        let urgency = match r.optional_str("urgency", e) {
            Some(v) => parse_urgency(v, "urgency", e),
            None if r.optional("urgency").is_none() => Some(Urgency::Normal),
            None => None,
        };
        let region = r
            .required_str("region", e)
            .and_then(|v| Region::parse(v, "region", e));
        let city = r
            .required_str("city", e)
            .and_then(|v| City::parse(v, "city", e));
        let address = r
            .required_str("address", e)
            .and_then(|v| Address::parse(v, "address", e));
        let window = r
            .optional("preferred_time_window")
            .map(|v| parse_time_window(v, "preferred_time_window", now, e));
        let budget = r.optional("budget").map(|v| parse_money(v, "budget", e));
        r.reject_unknown(e);
        if !errors.is_empty() {
            return Err(errors);
        }
        // No error was reported, so every required part parsed.
        let missing = || unreachable_parse();
        Ok(NewServiceRequest {
            title: title.ok_or_else(missing)?,
            description: description.ok_or_else(missing)?,
            category: category.ok_or_else(missing)?,
            urgency: urgency.ok_or_else(missing)?,
            region: region.ok_or_else(missing)?,
            city: city.ok_or_else(missing)?,
            address: address.ok_or_else(missing)?,
            preferred_time_window: window.map(|w| w.ok_or_else(missing)).transpose()?,
            budget: budget.map(|b| b.ok_or_else(missing)).transpose()?,
        })
    }
}

/// A parser returned nothing without reporting why: a bug, reported rather than panicking.
fn unreachable_parse() -> ValidationErrors {
    let mut errors = ValidationErrors::default();
    errors.add("", "invalid", "the request could not be parsed");
    errors
}

// The bodies as the OpenAPI document shows them, beside their parsers; the tests hold each parser
// to its type (`check_parser_against_schema`).

/// A category slug: `appliance-repair`.
pub const SLUG: &str = r"^[a-z0-9]+(-[a-z0-9]+)*$";

/// An amount of money in minor units (kopecks, cents) of an ISO 4217 currency.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    /// Positive, in minor units.
    #[schemars(range(min = 1, max = 9_223_372_036_854_775_807_i64))]
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `RUB`.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
}

/// A window of time: `to` after `from`, and not over yet.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindowBody {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// `POST /requests`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    #[schemars(length(min = 3, max = 200), regex(pattern = ONE_LINE))]
    pub title: String,
    #[schemars(length(min = 1, max = 5000), regex(pattern = MULTI_LINE))]
    pub description: String,
    /// A slug: `appliance-repair`.
    #[schemars(regex(pattern = SLUG), length(min = 2, max = 64))]
    pub category: String,
    /// Default normal.
    pub urgency: Option<Urgency>,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub region: String,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub city: String,
    #[schemars(length(min = 3, max = 300), regex(pattern = ONE_LINE))]
    pub address: String,
    /// In the future, `from` before `to`.
    pub preferred_time_window: Option<TimeWindowBody>,
    pub budget: Option<MoneyBody>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_parsers_follow_their_documented_bodies() {
        use crate::validation::check_parser_against_schema;
        check_parser_against_schema::<NewRequestBody>(|body| {
            NewServiceRequest::parse(body, now()).map(drop)
        })
        .unwrap();
        let inside = |parse: fn(&Value, &str, &mut ValidationErrors) -> bool| {
            move |body: &Value| {
                let mut errors = ValidationErrors::default();
                parse(body, "", &mut errors);
                errors.finish(|| ())
            }
        };
        check_parser_against_schema::<MoneyBody>(inside(|v, f, e| parse_money(v, f, e).is_some()))
            .unwrap();
        check_parser_against_schema::<TimeWindowBody>(inside(|v, f, e| {
            parse_time_window(v, f, now(), e).is_some()
        }))
        .unwrap();
    }

    fn valid() -> Value {
        json!({
            "title": "  Не работает холодильник ",
            "description": "Холодильник Bosch перестал морозить.\nГорит индикатор ошибки.",
            "category": "appliance-repair",
            "urgency": "high",
            "region": "Москва",
            "city": "Москва",
            "address": "ул. Ленина, 1",
            "preferred_time_window": {"from": "2026-12-01T09:00:00Z", "to": "2026-12-01T13:00:00+03:00"},
            "budget": {"amount_minor": 500000, "currency": "RUB"}
        })
    }

    fn codes(body: Value) -> Vec<(String, &'static str)> {
        NewServiceRequest::parse(&body, now())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn a_valid_request_parses_trimmed() {
        let request = NewServiceRequest::parse(&valid(), now()).unwrap();
        assert_eq!(request.title.as_str(), "Не работает холодильник");
        assert_eq!(request.urgency, Urgency::High);
        assert_eq!(request.budget.unwrap().amount_minor, 500_000);
        assert_eq!(
            request.preferred_time_window.unwrap().to,
            Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn urgency_defaults_to_normal_and_optional_parts_may_be_absent() {
        let mut body = valid();
        for field in ["urgency", "preferred_time_window", "budget"] {
            body.as_object_mut().unwrap().remove(field);
        }
        let request = NewServiceRequest::parse(&body, now()).unwrap();
        assert_eq!(request.urgency, Urgency::Normal);
        assert!(request.budget.is_none() && request.preferred_time_window.is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let body = json!({
            "title": "ab",
            "description": "   ",
            "category": "Appliance Repair",
            "urgency": "whenever",
            "region": 7,
            "address": "x".repeat(301),
            "preferred_time_window": {"from": "2026-12-01T13:00:00Z", "to": "2026-12-01T09:00:00Z"},
            "budget": {"amount_minor": -5, "currency": "rub"},
            "colour": "red"
        });
        assert_eq!(
            codes(body),
            vec![
                ("title".into(), "too_short"),
                ("description".into(), "empty"),
                ("category".into(), "invalid_format"),
                ("urgency".into(), "invalid_value"),
                ("region".into(), "invalid_type"),
                ("city".into(), "required"),
                ("address".into(), "too_long"),
                ("preferred_time_window.to".into(), "invalid_range"),
                ("budget.amount_minor".into(), "invalid_value"),
                ("budget.currency".into(), "invalid_format"),
                ("colour".into(), "unknown_field"),
            ]
        );
    }

    #[test]
    fn windows_in_the_past_and_bad_dates_are_rejected() {
        let mut body = valid();
        body["preferred_time_window"] =
            json!({"from": "2020-01-01T09:00:00Z", "to": "2020-01-01T10:00:00Z"});
        assert_eq!(
            codes(body.clone()),
            vec![("preferred_time_window.to".into(), "in_the_past")]
        );
        body["preferred_time_window"] = json!({"from": "tomorrow", "to": 5});
        assert_eq!(
            codes(body.clone()),
            vec![
                ("preferred_time_window.from".into(), "invalid_format"),
                ("preferred_time_window.to".into(), "invalid_format")
            ]
        );
        body["preferred_time_window"] = json!("morning");
        assert_eq!(
            codes(body),
            vec![("preferred_time_window".into(), "invalid_type")]
        );
    }

    #[test]
    fn control_characters_are_refused_except_newlines_in_descriptions() {
        let mut body = valid();
        body["title"] = json!("Broken\u{0007} fridge");
        assert_eq!(codes(body), vec![("title".into(), "invalid_characters")]);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_one_error() {
        assert_eq!(codes(json!([1, 2])), vec![("".into(), "invalid_type")]);
    }

    #[test]
    fn length_limits_count_characters_not_bytes() {
        let mut body = valid();
        body["title"] = json!("ж".repeat(200));
        assert!(NewServiceRequest::parse(&body, now()).is_ok());
        body["title"] = json!("ж".repeat(201));
        assert_eq!(codes(body), vec![("title".into(), "too_long")]);
    }
}
