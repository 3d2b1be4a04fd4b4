use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

/// One invalid input field, as it appears in a problem+json `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FieldError {
    /// The field's path, e.g. `preferred_time_window.to`.
    pub field: String,
    /// Stable machine-readable code, e.g. `too_long`, `required`, `unknown_field`.
    pub code: &'static str,
    pub message: String,
}

/// Every problem found in one input; parsing reports all of them at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn add(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            code,
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was reported.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// What [`text`] accepts on one line, as a JSON Schema pattern: no control characters and no
/// bidi overrides, at least one character that is not white space (values are trimmed before
/// their length is checked).
pub const ONE_LINE: &str = r"^[^\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*[^\s\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069][^\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$";
/// What [`text`] accepts over several lines: tabs and line breaks too.
pub const MULTI_LINE: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*[^\s\x00-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069]*$";

/// Holds a hand-written body parser to the body type documented beside it (the type `T` the
/// OpenAPI document shows): the fields it reports `required` for `{}` are the schema's required
/// ones, it knows every documented property, and it refuses a key the schema does not name.
/// Bodies are parsed by hand so that a client learns every problem at once (serde's derive stops
/// at the first); this test keeps the parser and its documented type one contract.
pub fn check_parser_against_schema<T: JsonSchema>(
    parse: impl Fn(&Value) -> Result<(), ValidationErrors>,
) -> Result<(), String> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).map_err(|e| e.to_string())?;
    let name = T::schema_name();
    let properties: Vec<String> = schema["properties"]
        .as_object()
        .ok_or_else(|| format!("{name}: not an object schema"))?
        .keys()
        .cloned()
        .collect();
    let mut documented_required: Vec<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    documented_required.sort();
    let errors_for = |body: Value| parse(&body).err().unwrap_or_default().0;
    let mut parsed_required: Vec<String> = errors_for(Value::Object(Map::new()))
        .into_iter()
        .filter(|e| e.code == "required")
        .map(|e| e.field)
        .collect();
    parsed_required.sort();
    if parsed_required != documented_required {
        return Err(format!(
            "{name}: the parser requires {parsed_required:?}, the schema {documented_required:?}"
        ));
    }
    let mut every: Map<String, Value> = properties
        .iter()
        .map(|p| (p.clone(), Value::Null))
        .collect();
    every.insert("not_a_documented_field".into(), Value::Null);
    let unknown: Vec<String> = errors_for(Value::Object(every))
        .into_iter()
        .filter(|e| e.code == "unknown_field")
        .map(|e| e.field)
        .collect();
    if unknown != ["not_a_documented_field"] {
        return Err(format!(
            "{name}: with every documented property and one more, the parser calls {unknown:?} unknown"
        ));
    }
    Ok(())
}

/// Reads fields out of a JSON object, recording a [`FieldError`] for each missing or mistyped one,
/// so that a client learns about every problem in one response.
pub struct ObjectReader<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    known: Vec<&'static str>,
}

impl<'a> ObjectReader<'a> {
    /// A reader of a request body, which must be a JSON object (else an `invalid_type` error).
    pub fn body(body: &'a Value) -> Result<ObjectReader<'a>, ValidationErrors> {
        match body.as_object() {
            Some(object) => Ok(ObjectReader::new(object, "")),
            None => {
                let mut errors = ValidationErrors::default();
                errors.add("", "invalid_type", "the body must be a JSON object");
                Err(errors)
            }
        }
    }

    pub fn new(object: &'a Map<String, Value>, prefix: &str) -> ObjectReader<'a> {
        ObjectReader {
            object,
            prefix: prefix.to_owned(),
            known: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// The field's value; `None` when absent or null.
    pub fn optional(&mut self, name: &'static str) -> Option<&'a Value> {
        self.known.push(name);
        self.object.get(name).filter(|v| !v.is_null())
    }

    pub fn required(
        &mut self,
        name: &'static str,
        errors: &mut ValidationErrors,
    ) -> Option<&'a Value> {
        let value = self.optional(name);
        if value.is_none() {
            errors.add(self.path(name), "required", format!("{name} is required"));
        }
        value
    }

    pub fn required_str(
        &mut self,
        name: &'static str,
        errors: &mut ValidationErrors,
    ) -> Option<&'a str> {
        let value = self.required(name, errors)?;
        self.as_str(name, value, errors)
    }

    pub fn optional_str(
        &mut self,
        name: &'static str,
        errors: &mut ValidationErrors,
    ) -> Option<&'a str> {
        let value = self.optional(name)?;
        self.as_str(name, value, errors)
    }

    fn as_str(
        &self,
        name: &str,
        value: &'a Value,
        errors: &mut ValidationErrors,
    ) -> Option<&'a str> {
        let text = value.as_str();
        if text.is_none() {
            errors.add(
                self.path(name),
                "invalid_type",
                format!("{name} must be a string"),
            );
        }
        text
    }

    /// Reports every field the reader was not asked about: a typo should not pass silently.
    pub fn reject_unknown(&self, errors: &mut ValidationErrors) {
        for name in self.object.keys() {
            if !self.known.contains(&name.as_str()) {
                errors.add(
                    self.path(name),
                    "unknown_field",
                    format!("{name} is not a known field"),
                );
            }
        }
    }
}

/// `value` as an integer, as JSON Schema counts them: `12` and `12.0` alike (a float that is a
/// whole number small enough to be exact), not `12.5`.
pub fn integer(value: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= EXACT)
            .map(|f| f as i64)
    })
}

/// `value` as a JSON object, or an `invalid_type` error for `field`.
pub fn object<'a>(
    value: &'a Value,
    field: &str,
    errors: &mut ValidationErrors,
) -> Option<&'a Map<String, Value>> {
    let object = value.as_object();
    if object.is_none() {
        errors.add(field, "invalid_type", format!("{field} must be an object"));
    }
    object
}

/// The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): text
/// shown to other people (names, titles, addresses) must read as it is stored, not be reordered
/// on their screen ("Trojan Source").
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Trims `raw` and checks it is `min..=max` characters without control characters or bidi
/// overrides
/// (newlines and tabs allowed only when `multiline`).
pub fn text(
    raw: &str,
    field: &str,
    min: usize,
    max: usize,
    multiline: bool,
    errors: &mut ValidationErrors,
) -> Option<String> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length < min {
        let message = if min == 1 {
            format!("{field} must not be empty")
        } else {
            format!("{field} must be at least {min} characters")
        };
        errors.add(
            field,
            if length == 0 { "empty" } else { "too_short" },
            message,
        );
        return None;
    }
    if length > max {
        errors.add(
            field,
            "too_long",
            format!("{field} must be at most {max} characters"),
        );
        return None;
    }
    let bad_control = trimmed.chars().any(|c| {
        (c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
            || is_bidi_control(c)
    });
    if bad_control {
        errors.add(
            field,
            "invalid_characters",
            format!("{field} must not contain control characters or bidirectional overrides"),
        );
        return None;
    }
    Some(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{ObjectReader, ValidationErrors, check_parser_against_schema, integer, text};

    #[test]
    fn the_schema_check_catches_a_parser_that_drifted_from_its_type() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Documented {
            name: String,
            nickname: Option<String>,
        }
        // Knows both fields, requires the one the type requires: follows it.
        let follows = |body: &serde_json::Value| {
            let mut errors = ValidationErrors::default();
            let mut reader = ObjectReader::body(body)?;
            reader.required("name", &mut errors);
            reader.optional("nickname");
            reader.reject_unknown(&mut errors);
            errors.finish(|| ())
        };
        check_parser_against_schema::<Documented>(follows).unwrap();
        // Requires the optional one too.
        let too_strict = |body: &serde_json::Value| {
            let mut errors = ValidationErrors::default();
            let mut reader = ObjectReader::body(body)?;
            reader.required("name", &mut errors);
            reader.required("nickname", &mut errors);
            reader.reject_unknown(&mut errors);
            errors.finish(|| ())
        };
        let error = check_parser_against_schema::<Documented>(too_strict).unwrap_err();
        assert!(error.contains("requires"), "{error}");
        // Never heard of the nickname.
        let forgetful = |body: &serde_json::Value| {
            let mut errors = ValidationErrors::default();
            let mut reader = ObjectReader::body(body)?;
            reader.required("name", &mut errors);
            reader.reject_unknown(&mut errors);
            errors.finish(|| ())
        };
        let error = check_parser_against_schema::<Documented>(forgetful).unwrap_err();
        assert!(error.contains("nickname"), "{error}");
    }

    #[test]
    fn text_refuses_bidi_overrides_and_control_characters() {
        let check = |raw: &str, multiline: bool| {
            let mut errors = ValidationErrors::default();
            text(raw, "title", 1, 100, multiline, &mut errors).ok_or_else(|| errors.0[0].code)
        };
        assert_eq!(
            check("  Не работает  ", false),
            Ok("Не работает".to_owned())
        );
        assert_eq!(check("two\nlines", true), Ok("two\nlines".to_owned()));
        for bad in ["a\u{202E}b", "a\u{2066}b", "a\u{0007}b"] {
            assert_eq!(check(bad, true), Err("invalid_characters"), "{bad:?}");
        }
        assert_eq!(check("two\nlines", false), Err("invalid_characters"));
    }

    #[test]
    fn whole_floats_are_integers_as_json_schema_says() {
        use serde_json::json;
        assert_eq!(integer(&json!(12)), Some(12));
        assert_eq!(integer(&json!(6749135947422.0)), Some(6_749_135_947_422));
        assert_eq!(integer(&json!(-3.0)), Some(-3));
        assert_eq!(integer(&json!(12.5)), None);
        assert_eq!(integer(&json!(1e300)), None);
        assert_eq!(integer(&json!("12")), None);
    }
}
