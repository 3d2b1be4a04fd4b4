//! `Conditions`, `Rules` and a resource's `Condition`: evaluated once each, cycles refused.

use super::*;

impl<'a> Reader<'a> {
    pub(super) fn check_condition_name(
        &self,
        name: &Value,
        path: &str,
    ) -> Result<(), TemplateError> {
        match name.as_str() {
            Some(name) if self.conditions.contains_key(name) => Ok(()),
            Some(name) => error(path, format!("unknown Condition {name}")),
            None => error(
                path,
                format!("a condition name must be a string, got {}", describe(name)),
            ),
        }
    }

    pub(super) fn condition(&self, name: &str, path: &str) -> Result<bool, TemplateError> {
        if let Some(value) = self.condition_values.borrow().get(name) {
            return Ok(*value);
        }
        let Some(expression) = self.conditions.get(name) else {
            return error(path, format!("unknown Condition {name}"));
        };
        if self.condition_stack.borrow().iter().any(|n| n == name) {
            return error(
                join_path("Conditions", name),
                format!(
                    "circular condition: {} -> {name}",
                    self.condition_stack.borrow().join(" -> ")
                ),
            );
        }
        self.condition_stack.borrow_mut().push(name.to_owned());
        let value = self.condition_expression(expression, &join_path("Conditions", name), false);
        self.condition_stack.borrow_mut().pop();
        let value = value?;
        self.condition_values
            .borrow_mut()
            .insert(name.to_owned(), value);
        Ok(value)
    }

    pub(super) fn condition_arguments<'v>(
        &self,
        argument: &'v Value,
        path: &str,
        function: &str,
        count: std::ops::RangeInclusive<usize>,
    ) -> Result<&'v [Value], TemplateError> {
        match argument {
            Value::Array(items) if count.contains(&items.len()) => Ok(items),
            other => error(
                path,
                format!(
                    "{function} takes a list of {} to {} items, got {}",
                    count.start(),
                    count.end(),
                    describe(other)
                ),
            ),
        }
    }

    /// Evaluates a condition (or, with `rules`, a Rules assertion, which may also use
    /// Fn::Contains, Fn::EachMemberEquals and Fn::EachMemberIn).
    pub(super) fn condition_expression(
        &self,
        expression: &Value,
        path: &str,
        rules: bool,
    ) -> Result<bool, TemplateError> {
        if let Value::Object(object) = expression
            && object.len() == 1
            && let Some(name) = object.get("Condition")
        {
            let path = join_path(path, "Condition");
            return match name.as_str() {
                Some(name) => self.condition(name, &path),
                None => error(path, "a condition name must be a string"),
            };
        }
        if let Value::Bool(b) = expression {
            return Ok(*b);
        }
        let Some((function, argument)) = intrinsic(expression) else {
            return error(
                path,
                format!(
                    "expected a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), got {}",
                    describe(expression)
                ),
            );
        };
        let path = join_path(path, function);
        match function {
            "Fn::Equals" => {
                let items = self.condition_arguments(argument, &path, function, 2..=2)?;
                let a = self.resolve(&items[0], &index_path(&path, 0))?;
                let b = self.resolve(&items[1], &index_path(&path, 1))?;
                let (Some(a), Some(b)) = (a, b) else {
                    return error(path, "Fn::Equals cannot compare AWS::NoValue");
                };
                Ok(loosely_equal(&a, &b))
            }
            "Fn::Not" => {
                let items = self.condition_arguments(argument, &path, function, 1..=1)?;
                Ok(!self.condition_expression(&items[0], &index_path(&path, 0), rules)?)
            }
            "Fn::And" | "Fn::Or" => {
                let items = self.condition_arguments(argument, &path, function, 1..=10)?;
                let mut values = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    values.push(self.condition_expression(item, &index_path(&path, i), rules)?);
                }
                Ok(if function == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            "Fn::Contains" | "Fn::EachMemberEquals" | "Fn::EachMemberIn" if rules => {
                let items = self.condition_arguments(argument, &path, function, 2..=2)?;
                let list = self.resolve_list(&items[0], &index_path(&path, 0), "the list")?;
                let Some(other) = self.resolve(&items[1], &index_path(&path, 1))? else {
                    return error(path, format!("{function} cannot compare AWS::NoValue"));
                };
                Ok(match function {
                    "Fn::Contains" => list.iter().any(|item| loosely_equal(item, &other)),
                    "Fn::EachMemberEquals" => list.iter().all(|item| loosely_equal(item, &other)),
                    _ => {
                        let allowed = other.as_array().cloned().unwrap_or_else(|| vec![other]);
                        list.iter()
                            .all(|item| allowed.iter().any(|a| loosely_equal(item, a)))
                    }
                })
            }
            other => error(
                path,
                format!(
                    "{other} is not a condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)"
                ),
            ),
        }
    }

    /// Rules: an assertion that fails (for the rules whose RuleCondition holds) rejects the
    /// template as CloudFormation would; a rule using what cannot be evaluated locally is skipped
    /// with a warning.
    pub(super) fn check_rules(&self) -> Result<(), TemplateError> {
        for (name, rule) in section(self.root, "Rules")?.into_iter().flatten() {
            let path = join_path("Rules", name);
            let outcome = (|| -> Result<Option<(String, String)>, TemplateError> {
                if let Some(condition) = rule.get("RuleCondition")
                    && !self.condition_expression(
                        condition,
                        &join_path(&path, "RuleCondition"),
                        true,
                    )?
                {
                    return Ok(None);
                }
                let assertions = rule.get("Assertions").and_then(Value::as_array);
                for (i, assertion) in assertions.into_iter().flatten().enumerate() {
                    let assertion_path = index_path(&join_path(&path, "Assertions"), i);
                    let Some(assert) = assertion.get("Assert") else {
                        continue;
                    };
                    if !self.condition_expression(
                        assert,
                        &join_path(&assertion_path, "Assert"),
                        true,
                    )? {
                        let description = assertion
                            .get("AssertDescription")
                            .and_then(Value::as_str)
                            .unwrap_or("the assertion does not hold");
                        return Ok(Some((assertion_path, description.to_owned())));
                    }
                }
                Ok(None)
            })();
            match outcome {
                Ok(None) => {}
                Ok(Some((path, description))) => return error(path, description),
                Err(e) => self.warn(format!("rule {name} is not checked locally: {e}")),
            }
        }
        Ok(())
    }

    /// Whether a resource (or output) with this `Condition` exists.
    pub(super) fn created(
        &self,
        resource: &Map<String, Value>,
        path: &str,
    ) -> Result<bool, TemplateError> {
        match resource.get("Condition") {
            None => Ok(true),
            Some(Value::String(name)) => self.condition(name, &join_path(path, "Condition")),
            Some(other) => error(
                join_path(path, "Condition"),
                format!("must be a condition name, got {}", describe(other)),
            ),
        }
    }

    // -------------------------------------------------------------------------------- intrinsics
}
