//! The YAML document normalized into a JSON tree in long form, and the small value helpers the
//! reader uses on it.

use super::*;

/// Intrinsic functions that have a `!Short` YAML form `!X` -> `{"Fn::X": ...}`.
pub(super) const SHORT_FORM_FUNCTIONS: &[&str] = &[
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
];

pub(super) fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

pub(super) fn normalize(value: serde_yaml_ng::Value, path: &str) -> Result<Value, TemplateError> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                match n.as_f64().and_then(serde_json::Number::from_f64) {
                    Some(f) => Value::Number(f),
                    None => return error(path, format!("{n} is not a finite number")),
                }
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| normalize(item, &index_path(path, i)))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, item) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => {
                        return error(path, format!("mapping key {other:?} is not a scalar"));
                    }
                };
                let item = normalize(item, &join_path(path, &key))?;
                object.insert(key, item);
            }
            Value::Object(object)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.strip_prefix('!').unwrap_or(&tag).to_owned();
            let inner_path = join_path(path, &format!("!{name}"));
            // YAML core tags (`!!str 5`): keep the value, stringified for `!!str`.
            if let Some(core) = name
                .strip_prefix('!')
                .or_else(|| name.strip_prefix("tag:yaml.org,2002:"))
            {
                let inner = normalize(tagged.value, &inner_path)?;
                return Ok(match (core, inner) {
                    ("str", Value::Number(n)) => Value::String(n.to_string()),
                    ("str", Value::Bool(b)) => Value::String(b.to_string()),
                    (_, inner) => inner,
                });
            }
            let inner = normalize(tagged.value, &inner_path)?;
            let (key, argument) = match name.as_str() {
                "Ref" => {
                    if !inner.is_string() {
                        return error(inner_path, "!Ref takes the name of a parameter or resource");
                    }
                    ("Ref".to_owned(), inner)
                }
                "Condition" => ("Condition".to_owned(), inner),
                "GetAtt" => match inner {
                    Value::String(s) => match s.split_once('.') {
                        Some((resource, attribute)) => (
                            "Fn::GetAtt".to_owned(),
                            Value::from(vec![resource.to_owned(), attribute.to_owned()]),
                        ),
                        None => {
                            return error(
                                inner_path,
                                format!("!GetAtt {s}: expected Resource.Attribute"),
                            );
                        }
                    },
                    other => ("Fn::GetAtt".to_owned(), other),
                },
                known if SHORT_FORM_FUNCTIONS.contains(&known) => (format!("Fn::{known}"), inner),
                unknown => return error(inner_path, format!("unknown YAML tag !{unknown}")),
            };
            let mut object = Map::new();
            object.insert(key, argument);
            Value::Object(object)
        }
    })
}

/// `{"Ref": ...}` or `{"Fn::X": ...}`: the function and its argument.
pub(super) fn intrinsic(value: &Value) -> Option<(&str, &Value)> {
    let Value::Object(object) = value else {
        return None;
    };
    if object.len() != 1 {
        return None;
    }
    let (key, argument) = object.iter().next()?;
    (key == "Ref" || key.starts_with("Fn::")).then_some((key.as_str(), argument))
}

/// A short rendering of a value for messages.
pub(super) fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

pub(super) fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// CloudFormation compares `Fn::Equals` operands as strings (`30` equals `"30"`).
pub(super) fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| loosely_equal(x, y))
        }
        _ => match (scalar_string(a), scalar_string(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// The `${...}` variable names of an `Fn::Sub` string (`${!Literal}` escapes are skipped).
pub(super) fn sub_variables(template: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            rest = literal;
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(format!("unterminated ${{ in {template:?}"));
        };
        names.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(names)
}
