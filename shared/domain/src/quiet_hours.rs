//! Quiet hours: the part of each day, in the user's own time zone, when messages that can wait
//! are held back until the window ends (notify keeps them and its schedule sends them then).

use crate::validation::{ObjectReader, ValidationErrors, object};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Local time the window starts (inclusive) and ends (exclusive); `from > to` spans midnight.
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub time_zone: Tz,
}

/// `HH:MM`, 24-hour.
pub fn format_time(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

impl QuietHours {
    /// From the stored columns; `None` unless all three are set and the zone is known.
    pub fn from_parts(
        from: Option<NaiveTime>,
        to: Option<NaiveTime>,
        zone: Option<&str>,
    ) -> Option<QuietHours> {
        Some(QuietHours {
            from: from?,
            to: to?,
            time_zone: zone?.parse().ok()?,
        })
    }

    /// Parses `{"from": "22:00", "to": "08:00", "time_zone": "Europe/Moscow"}`.
    pub fn parse(value: &Value, field: &str, errors: &mut ValidationErrors) -> Option<QuietHours> {
        let reported = errors.0.len();
        let mut r = ObjectReader::new(object(value, field, errors)?, field);
        let mut time = |name: &'static str, errors: &mut ValidationErrors| {
            let text = r.required_str(name, errors)?;
            let parsed = NaiveTime::parse_from_str(text, "%H:%M").ok();
            if parsed.is_none() || text.len() != 5 {
                errors.add(
                    r.path(name),
                    "invalid_format",
                    format!("{name} must be a time of day as HH:MM (24-hour)"),
                );
                return None;
            }
            parsed
        };
        let from = time("from", errors);
        let to = time("to", errors);
        let zone = r.required_str("time_zone", errors).and_then(|text| {
            let zone = text.parse::<Tz>().ok();
            if zone.is_none() {
                errors.add(
                    r.path("time_zone"),
                    "invalid_value",
                    "time_zone must be an IANA time zone such as Europe/Moscow",
                );
            }
            zone
        });
        r.reject_unknown(errors);
        let (from, to, time_zone) = (from?, to?, zone?);
        if errors.0.len() > reported {
            return None;
        }
        if from == to {
            errors.add(
                r.path("to"),
                "invalid_value",
                "the quiet hours must end at another time than they start",
            );
            return None;
        }
        Some(QuietHours {
            from,
            to,
            time_zone,
        })
    }

    /// When a message that can wait may go out if it is ready at `now`: `None` outside the
    /// window (at once), else the window's end.
    pub fn defer_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.time_zone);
        let time = local.time();
        let inside = if self.from < self.to {
            self.from <= time && time < self.to
        } else {
            time >= self.from || time < self.to
        };
        if !inside {
            return None;
        }
        let mut day = local.date_naive();
        if time >= self.to {
            // Spanning midnight, before it: the window ends tomorrow.
            day = day.succ_opt()?;
        }
        let end = day.and_time(self.to);
        // A daylight-saving gap has no such local time: the window ends when clocks resume.
        let end = (0..=2)
            .find_map(|hours| {
                self.time_zone
                    .from_local_datetime(&(end + Duration::hours(hours)))
                    .earliest()
            })?
            .with_timezone(&Utc);
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn quiet(from: &str, to: &str, zone: &str) -> QuietHours {
        let mut errors = ValidationErrors::default();
        let parsed = QuietHours::parse(
            &json!({"from": from, "to": to, "time_zone": zone}),
            "quiet_hours",
            &mut errors,
        );
        parsed.unwrap_or_else(|| panic!("{errors}"))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_night_window_holds_messages_until_the_morning_in_the_users_zone() {
        let night = quiet("22:00", "08:00", "Europe/Moscow");
        // 23:30 in Moscow (UTC+3): until 08:00 Moscow, 05:00 UTC the next day.
        assert_eq!(
            night.defer_until(utc("2031-03-10T20:30:00Z")),
            Some(utc("2031-03-11T05:00:00Z"))
        );
        // 02:00 Moscow: the same morning.
        assert_eq!(
            night.defer_until(utc("2031-03-10T23:00:00Z")),
            Some(utc("2031-03-11T05:00:00Z"))
        );
        // 08:00 and 21:59 Moscow: at once.
        assert_eq!(night.defer_until(utc("2031-03-11T05:00:00Z")), None);
        assert_eq!(night.defer_until(utc("2031-03-11T18:59:00Z")), None);
    }

    #[test]
    fn a_day_window_and_a_daylight_saving_gap() {
        let lunch = quiet("12:00", "13:30", "UTC");
        assert_eq!(
            lunch.defer_until(utc("2031-06-01T12:10:00Z")),
            Some(utc("2031-06-01T13:30:00Z"))
        );
        assert_eq!(lunch.defer_until(utc("2031-06-01T13:30:00Z")), None);
        // Berlin skips 02:00-03:00 on the last Sunday of March: a window ending at 02:30 ends
        // when the clocks resume (03:30 local, 01:30 UTC).
        let gap = quiet("01:00", "02:30", "Europe/Berlin");
        assert_eq!(
            gap.defer_until(utc("2031-03-30T00:15:00Z")),
            Some(utc("2031-03-30T01:30:00Z"))
        );
    }

    #[test]
    fn malformed_quiet_hours_are_refused_field_by_field() {
        for (body, field) in [
            (
                json!({"from": "7:00", "to": "08:00", "time_zone": "UTC"}),
                "quiet_hours.from",
            ),
            (
                json!({"from": "22:00", "to": "24:00", "time_zone": "UTC"}),
                "quiet_hours.to",
            ),
            (
                json!({"from": "22:00", "to": "22:00", "time_zone": "UTC"}),
                "quiet_hours.to",
            ),
            (
                json!({"from": "22:00", "to": "08:00", "time_zone": "Mars/Olympus"}),
                "quiet_hours.time_zone",
            ),
            (
                json!({"from": "22:00", "to": "08:00"}),
                "quiet_hours.time_zone",
            ),
            (
                json!({"from": "22:00", "to": "08:00", "time_zone": "UTC", "x": 1}),
                "quiet_hours.x",
            ),
        ] {
            let mut errors = ValidationErrors::default();
            assert!(
                QuietHours::parse(&body, "quiet_hours", &mut errors).is_none(),
                "{body}"
            );
            assert_eq!(errors.0[0].field, field, "{body}: {errors}");
        }
    }
}
