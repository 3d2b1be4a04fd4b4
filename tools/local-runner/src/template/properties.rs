//! Reading a resource's properties: resolved, typed, located by their YAML path for messages,
//! and a warning for the ones the runner does not know.

use super::*;

impl<'a> Reader<'a> {
    /// A resource's `Properties` (resolved first when the whole mapping is an intrinsic).
    pub(super) fn properties(
        &self,
        resource: &Map<String, Value>,
        path: &str,
    ) -> Result<Map<String, Value>, TemplateError> {
        let path = join_path(path, "Properties");
        match resource.get("Properties") {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(value @ Value::Object(object)) => {
                if intrinsic(value).is_some() {
                    match self.resolve(value, &path)? {
                        Some(Value::Object(object)) => Ok(object),
                        None => Ok(Map::new()),
                        Some(other) => {
                            error(path, format!("must be a mapping, got {}", describe(&other)))
                        }
                    }
                } else {
                    Ok(object.clone())
                }
            }
            Some(other) => error(path, format!("must be a mapping, got {}", describe(other))),
        }
    }

    /// `object[key]` resolved, with its path; `None` when absent or AWS::NoValue.
    pub(super) fn get(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<Located<Value>>, TemplateError> {
        let path = join_path(path, key);
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => Ok(self.resolve(value, &path)?.map(|v| (v, path))),
        }
    }

    pub(super) fn get_string(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<String>, TemplateError> {
        match self.get(object, key, path)? {
            None => Ok(None),
            Some((value, path)) => match scalar_string(&value) {
                Some(s) => Ok(Some(s)),
                None => error(path, format!("expected a string, got {}", describe(&value))),
            },
        }
    }

    pub(super) fn get_integer(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, TemplateError> {
        match self.get(object, key, path)? {
            None => Ok(None),
            Some((value, path)) => integer_in(&value, &path, what, range).map(Some),
        }
    }

    pub(super) fn get_bool(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, TemplateError> {
        match self.get(object, key, path)? {
            None => Ok(None),
            Some((value, path)) => match as_bool(&value) {
                Some(b) => Ok(Some(b)),
                None => error(
                    path,
                    format!("expected true or false, got {}", describe(&value)),
                ),
            },
        }
    }

    pub(super) fn get_strings(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<Vec<String>>, TemplateError> {
        match self.get(object, key, path)? {
            None => Ok(None),
            Some((Value::Array(items), path)) => {
                let mut strings = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match scalar_string(item) {
                        Some(s) => strings.push(s),
                        None => {
                            return error(
                                index_path(&path, i),
                                format!("expected a string, got {}", describe(item)),
                            );
                        }
                    }
                }
                Ok(Some(strings))
            }
            Some((value, path)) => match scalar_string(&value) {
                Some(s) => Ok(Some(vec![s])),
                None => error(
                    path,
                    format!("expected a list of strings, got {}", describe(&value)),
                ),
            },
        }
    }

    pub(super) fn get_object(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<Located<Map<String, Value>>>, TemplateError> {
        match self.get(object, key, path)? {
            None => Ok(None),
            Some((Value::Object(object), path)) => Ok(Some((object, path))),
            Some((value, path)) => error(
                path,
                format!("expected a mapping, got {}", describe(&value)),
            ),
        }
    }

    /// Warns about the keys of `object` outside `known` (unless they resolve to AWS::NoValue).
    pub(super) fn warn_unknown(
        &self,
        object: &Map<String, Value>,
        known: &[&str],
        path: &str,
        label: &str,
    ) {
        for (key, value) in object {
            if known.contains(&key.as_str()) {
                continue;
            }
            if matches!(self.resolve(value, &join_path(path, key)), Ok(None)) {
                continue;
            }
            self.warn(format!(
                "{label}: property {key} is not supported locally and is ignored"
            ));
        }
    }

    // -------------------------------------------------------------------------------- reading
}

/// `value` as a whole number within `range`, else an error at `path` saying what was expected.
pub(super) fn integer_in(
    value: &Value,
    path: &str,
    what: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, TemplateError> {
    match as_integer(value) {
        Some(n) if range.contains(&n) => Ok(n),
        Some(n) => error(
            path,
            format!(
                "must be between {} and {}, got {n}",
                range.start(),
                range.end()
            ),
        ),
        None => error(path, format!("expected {what}, got {}", describe(value))),
    }
}
