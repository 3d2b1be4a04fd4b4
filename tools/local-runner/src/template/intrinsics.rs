//! Intrinsic functions: names checked up front, values resolved where the runner reads them,
//! and the stand-ins for `Ref` / `Fn::GetAtt` of resources that are not created locally.

use super::*;

impl<'a> Reader<'a> {
    pub(super) fn pseudo(&self, name: &str) -> Option<Value> {
        if name == "AWS::NoValue" || !PSEUDO_PARAMETERS.contains(&name) {
            return None;
        }
        if let Some(value) = self.input.parameters.get(name) {
            return Some(if name == "AWS::NotificationARNs" {
                Value::from(
                    value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                )
            } else {
                Value::String(value.clone())
            });
        }
        Some(match name {
            "AWS::Region" => Value::from("eu-central-1"),
            "AWS::AccountId" => Value::from("000000000000"),
            "AWS::StackName" => Value::from("servicehub-local"),
            "AWS::Partition" => Value::from("aws"),
            "AWS::URLSuffix" => Value::from("amazonaws.com"),
            "AWS::StackId" => Value::from(format!(
                "arn:{}:cloudformation:{}:{}:stack/{}/00000000-0000-0000-0000-000000000000",
                self.pseudo_string("AWS::Partition"),
                self.pseudo_string("AWS::Region"),
                self.pseudo_string("AWS::AccountId"),
                self.pseudo_string("AWS::StackName"),
            )),
            _ => Value::Array(Vec::new()),
        })
    }

    pub(super) fn pseudo_string(&self, name: &str) -> String {
        self.pseudo(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    // -------------------------------------------------------------------------------- stand-ins

    pub(super) fn ref_stand_in(&self, id: &str, kind: &str) -> String {
        match kind {
            "AWS::SQS::Queue" => format!(
                "https://sqs.{}.{}/{}/{id}",
                self.pseudo_string("AWS::Region"),
                self.pseudo_string("AWS::URLSuffix"),
                self.pseudo_string("AWS::AccountId"),
            ),
            "AWS::S3::Bucket" => id.to_ascii_lowercase(),
            "AWS::SNS::Topic"
            | "AWS::SecretsManager::Secret"
            | "AWS::Serverless::StateMachine"
            | "AWS::StepFunctions::StateMachine"
            | "AWS::MSK::Cluster" => arn_stand_in(
                id,
                kind,
                &self.pseudo_string("AWS::Partition"),
                &self.pseudo_string("AWS::Region"),
                &self.pseudo_string("AWS::AccountId"),
            ),
            _ => id.to_owned(),
        }
    }

    pub(super) fn get_att_stand_in(&self, id: &str, kind: &str, attribute: &str) -> String {
        let arn = || {
            arn_stand_in(
                id,
                kind,
                &self.pseudo_string("AWS::Partition"),
                &self.pseudo_string("AWS::Region"),
                &self.pseudo_string("AWS::AccountId"),
            )
        };
        match (kind, attribute) {
            (_, "Arn") | ("AWS::SNS::Topic", "TopicArn") => arn(),
            ("AWS::SQS::Queue", "QueueName") | ("AWS::SNS::Topic", "TopicName") => id.to_owned(),
            ("AWS::SQS::Queue", "QueueUrl") => self.ref_stand_in(id, kind),
            ("AWS::S3::Bucket", "DomainName") => {
                format!(
                    "{}.s3.{}",
                    id.to_ascii_lowercase(),
                    self.pseudo_string("AWS::URLSuffix")
                )
            }
            ("AWS::S3::Bucket", "RegionalDomainName") => format!(
                "{}.s3.{}.{}",
                id.to_ascii_lowercase(),
                self.pseudo_string("AWS::Region"),
                self.pseudo_string("AWS::URLSuffix")
            ),
            _ => format!("{id}.{attribute}"),
        }
    }

    // -------------------------------------------------------------------------------- names

    /// The function a `Ref X.Alias` / `Ref X.Version` (SAM) names.
    pub(super) fn alias_function(&self, name: &str) -> Option<String> {
        let (function, suffix) = name.rsplit_once('.')?;
        (matches!(suffix, "Alias" | "Version")
            && self.resources.get(function).map(String::as_str) == Some(SERVERLESS_FUNCTION))
        .then(|| function.to_owned())
    }

    pub(super) fn is_ref_name(&self, name: &str) -> bool {
        PSEUDO_PARAMETERS.contains(&name)
            || self.parameters.contains_key(name)
            || self.resources.contains_key(name)
            || self.alias_function(name).is_some()
    }

    pub(super) fn is_sub_name(&self, name: &str) -> bool {
        self.is_ref_name(name)
            || name
                .split_once('.')
                .is_some_and(|(resource, _)| self.resources.contains_key(resource))
    }

    // -------------------------------------------------------------------------------- checks

    /// Every Ref, Fn::GetAtt, Fn::Sub variable and condition name of the template must exist
    /// (CloudFormation rejects the template otherwise, whichever branch is taken).
    pub(super) fn check_names(&self) -> Result<(), TemplateError> {
        for (name, expression) in &self.conditions {
            self.check_value(expression, &join_path("Conditions", name), true)?;
        }
        if let Some(globals) = section(self.root, "Globals")? {
            for (name, value) in globals {
                self.check_value(value, &join_path("Globals", name), false)?;
            }
        }
        for (id, resource) in section(self.root, "Resources")?.into_iter().flatten() {
            let path = join_path("Resources", id);
            if let Some(condition) = resource.get("Condition") {
                self.check_condition_name(condition, &join_path(&path, "Condition"))?;
            }
            if let Some(properties) = resource.get("Properties") {
                self.check_value(properties, &join_path(&path, "Properties"), false)?;
            }
        }
        for (name, output) in section(self.root, "Outputs")?.into_iter().flatten() {
            let path = join_path("Outputs", name);
            if let Some(condition) = output.get("Condition") {
                self.check_condition_name(condition, &join_path(&path, "Condition"))?;
            }
            for key in ["Value", "Export"] {
                if let Some(value) = output.get(key) {
                    self.check_value(value, &join_path(&path, key), false)?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn check_value(
        &self,
        value: &Value,
        path: &str,
        condition: bool,
    ) -> Result<(), TemplateError> {
        if condition
            && let Value::Object(object) = value
            && object.len() == 1
            && let Some(name) = object.get("Condition")
        {
            return self.check_condition_name(name, &join_path(path, "Condition"));
        }
        if let Some((function, argument)) = intrinsic(value) {
            let path = join_path(path, function);
            match (function, argument) {
                ("Ref", Value::String(name)) => {
                    if !self.is_ref_name(name) {
                        return error(path, format!("Ref to unknown parameter or resource {name}"));
                    }
                    return Ok(());
                }
                ("Ref", other) => {
                    return error(path, format!("Ref takes a name, got {}", describe(other)));
                }
                ("Fn::GetAtt", Value::Array(items)) if !items.is_empty() => {
                    let resource = items[0].as_str().unwrap_or_default();
                    if !self.resources.contains_key(resource) {
                        return error(
                            path,
                            format!("Fn::GetAtt of unknown resource {}", describe(&items[0])),
                        );
                    }
                    for (i, item) in items.iter().enumerate().skip(1) {
                        self.check_value(item, &index_path(&path, i), false)?;
                    }
                    return Ok(());
                }
                ("Fn::GetAtt", Value::String(name)) => {
                    let resource = name.split_once('.').map_or(name.as_str(), |(r, _)| r);
                    if !self.resources.contains_key(resource) {
                        return error(path, format!("Fn::GetAtt of unknown resource {resource}"));
                    }
                    return Ok(());
                }
                ("Fn::Sub", Value::String(template)) => {
                    return self.check_sub(template, &Map::new(), &path);
                }
                ("Fn::Sub", Value::Array(items)) => {
                    if let [Value::String(template), Value::Object(variables)] = items.as_slice() {
                        self.check_sub(template, variables, &path)?;
                        for (name, item) in variables {
                            self.check_value(item, &join_path(&index_path(&path, 1), name), false)?;
                        }
                        return Ok(());
                    }
                }
                ("Fn::If", Value::Array(items)) if items.len() == 3 => {
                    self.check_condition_name(&items[0], &index_path(&path, 0))?;
                    self.check_value(&items[1], &index_path(&path, 1), false)?;
                    return self.check_value(&items[2], &index_path(&path, 2), false);
                }
                ("Fn::And" | "Fn::Or" | "Fn::Not", Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(item, &index_path(&path, i), true)?;
                    }
                    return Ok(());
                }
                _ => {}
            }
            return self.check_value(argument, &path, false);
        }
        match value {
            Value::Object(object) => {
                for (key, item) in object {
                    self.check_value(item, &join_path(path, key), false)?;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_value(item, &index_path(path, i), false)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn check_sub(
        &self,
        template: &str,
        variables: &Map<String, Value>,
        path: &str,
    ) -> Result<(), TemplateError> {
        for name in sub_variables(template).or_else(|m| error(path, m))? {
            if !variables.contains_key(name) && !self.is_sub_name(name) {
                return error(path, format!("Fn::Sub: unknown variable ${{{name}}}"));
            }
        }
        Ok(())
    }

    // -------------------------------------------------------------------------------- conditions

    /// The value with every intrinsic function evaluated; `None` for `AWS::NoValue`, which also
    /// removes the mapping key or list item that holds it.
    pub(super) fn resolve(
        &self,
        value: &Value,
        path: &str,
    ) -> Result<Option<Value>, TemplateError> {
        if let Some((function, argument)) = intrinsic(value) {
            return self.evaluate(function, argument, &join_path(path, function));
        }
        Ok(Some(match value {
            Value::Object(object) => {
                let mut resolved = Map::new();
                for (key, item) in object {
                    if let Some(item) = self.resolve(item, &join_path(path, key))? {
                        resolved.insert(key.clone(), item);
                    }
                }
                Value::Object(resolved)
            }
            Value::Array(items) => {
                let mut resolved = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(item) = self.resolve(item, &index_path(path, i))? {
                        resolved.push(item);
                    }
                }
                Value::Array(resolved)
            }
            scalar => scalar.clone(),
        }))
    }

    /// Resolves a value that must exist and be a string (numbers and booleans are stringified).
    pub(super) fn resolve_string(
        &self,
        value: &Value,
        path: &str,
        what: &str,
    ) -> Result<String, TemplateError> {
        match self.resolve(value, path)? {
            Some(resolved) => match scalar_string(&resolved) {
                Some(s) => Ok(s),
                None => error(
                    path,
                    format!("{what} must be a string, got {}", describe(&resolved)),
                ),
            },
            None => error(path, format!("{what} cannot be AWS::NoValue")),
        }
    }

    pub(super) fn resolve_list(
        &self,
        value: &Value,
        path: &str,
        what: &str,
    ) -> Result<Vec<Value>, TemplateError> {
        match self.resolve(value, path)? {
            Some(Value::Array(items)) => Ok(items),
            Some(other) => error(
                path,
                format!("{what} must be a list, got {}", describe(&other)),
            ),
            None => error(path, format!("{what} cannot be AWS::NoValue")),
        }
    }

    pub(super) fn reference(&self, name: &str, path: &str) -> Result<Option<Value>, TemplateError> {
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(value) = self.pseudo(name) {
            return Ok(Some(value));
        }
        match self.parameters.get(name) {
            Some(Parameter::Value(value)) => return Ok(Some(value.clone())),
            Some(Parameter::Missing) => {
                return error(
                    path,
                    format!("parameter {name} has no value: it has no Default and none was given"),
                );
            }
            None => {}
        }
        if let Some(kind) = self.resources.get(name) {
            return Ok(Some(Value::String(self.ref_stand_in(name, kind))));
        }
        if let Some(function) = self.alias_function(name) {
            return Ok(Some(Value::String(function)));
        }
        error(path, format!("Ref to unknown parameter or resource {name}"))
    }

    pub(super) fn get_att(
        &self,
        resource: &str,
        attribute: &str,
        path: &str,
    ) -> Result<String, TemplateError> {
        match self.resources.get(resource) {
            Some(kind) => Ok(self.get_att_stand_in(resource, kind, attribute)),
            None if self.parameters.contains_key(resource) => error(
                path,
                format!("Fn::GetAtt of {resource}, which is a parameter, not a resource"),
            ),
            None => error(path, format!("Fn::GetAtt of unknown resource {resource}")),
        }
    }

    pub(super) fn arguments<'v>(
        &self,
        argument: &'v Value,
        path: &str,
        function: &str,
        count: usize,
    ) -> Result<&'v [Value], TemplateError> {
        match argument {
            Value::Array(items) if items.len() == count => Ok(items),
            other => error(
                path,
                format!(
                    "{function} takes a list of {count} items, got {}",
                    describe(other)
                ),
            ),
        }
    }

    pub(super) fn substitute(
        &self,
        template: &str,
        variables: &BTreeMap<String, String>,
        path: &str,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let Some(end) = after.find('}') else {
                return error(path, format!("unterminated ${{ in {template:?}"));
            };
            let name = &after[..end];
            let value = if let Some(value) = variables.get(name) {
                value.clone()
            } else if self.is_ref_name(name) {
                match self.reference(name, path)? {
                    Some(value) => match scalar_string(&value) {
                        Some(s) => s,
                        None => {
                            return error(
                                path,
                                format!("Fn::Sub: ${{{name}}} is a list, not a string"),
                            );
                        }
                    },
                    None => return error(path, format!("Fn::Sub: ${{{name}}} is AWS::NoValue")),
                }
            } else if let Some((resource, attribute)) = name.split_once('.')
                && self.resources.contains_key(resource)
            {
                self.get_att(resource, attribute, path)?
            } else {
                return error(path, format!("Fn::Sub: unknown variable ${{{name}}}"));
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub(super) fn evaluate(
        &self,
        function: &str,
        argument: &Value,
        path: &str,
    ) -> Result<Option<Value>, TemplateError> {
        let string =
            |s: String| -> Result<Option<Value>, TemplateError> { Ok(Some(Value::String(s))) };
        match function {
            "Ref" => match argument {
                Value::String(name) => self.reference(name, path),
                other => error(path, format!("Ref takes a name, got {}", describe(other))),
            },
            "Fn::GetAtt" => {
                let (resource, attribute) = match argument {
                    Value::String(s) => match s.split_once('.') {
                        Some((r, a)) => (r.to_owned(), a.to_owned()),
                        None => {
                            return error(path, format!("expected Resource.Attribute, got {s:?}"));
                        }
                    },
                    Value::Array(items) if items.len() == 2 => {
                        let Some(resource) = items[0].as_str() else {
                            return error(path, "Fn::GetAtt takes a logical id first");
                        };
                        let attribute =
                            self.resolve_string(&items[1], &index_path(path, 1), "the attribute")?;
                        (resource.to_owned(), attribute)
                    }
                    other => {
                        return error(
                            path,
                            format!(
                                "Fn::GetAtt takes [Resource, Attribute], got {}",
                                describe(other)
                            ),
                        );
                    }
                };
                string(self.get_att(&resource, &attribute, path)?)
            }
            "Fn::Sub" => match argument {
                Value::String(template) => {
                    string(self.substitute(template, &BTreeMap::new(), path)?)
                }
                Value::Array(items) => {
                    let [Value::String(template), Value::Object(variables)] = items.as_slice()
                    else {
                        return error(path, "Fn::Sub takes a string or [string, {variables}]");
                    };
                    let mut resolved = BTreeMap::new();
                    for (name, value) in variables {
                        let value_path = join_path(&index_path(path, 1), name);
                        let value =
                            self.resolve_string(value, &value_path, "an Fn::Sub variable")?;
                        resolved.insert(name.clone(), value);
                    }
                    string(self.substitute(template, &resolved, path)?)
                }
                other => error(
                    path,
                    format!(
                        "Fn::Sub takes a string or [string, {{variables}}], got {}",
                        describe(other)
                    ),
                ),
            },
            "Fn::Join" => {
                let items = self.arguments(argument, path, function, 2)?;
                let delimiter =
                    self.resolve_string(&items[0], &index_path(path, 0), "the delimiter")?;
                let list =
                    self.resolve_list(&items[1], &index_path(path, 1), "the Fn::Join list")?;
                let mut parts = Vec::new();
                for item in &list {
                    match scalar_string(item) {
                        Some(s) => parts.push(s),
                        None => {
                            return error(
                                index_path(path, 1),
                                format!("Fn::Join items must be strings, got {}", describe(item)),
                            );
                        }
                    }
                }
                string(parts.join(&delimiter))
            }
            "Fn::Select" => {
                let items = self.arguments(argument, path, function, 2)?;
                let index_value = self.resolve(&items[0], &index_path(path, 0))?;
                let Some(index) = index_value.as_ref().and_then(as_integer) else {
                    return error(index_path(path, 0), "Fn::Select takes an integer index");
                };
                let list =
                    self.resolve_list(&items[1], &index_path(path, 1), "the Fn::Select list")?;
                match usize::try_from(index).ok().and_then(|i| list.get(i)) {
                    Some(item) => Ok(Some(item.clone())),
                    None => error(
                        path,
                        format!(
                            "Fn::Select index {index} is out of range (the list has {} items)",
                            list.len()
                        ),
                    ),
                }
            }
            "Fn::Split" => {
                let items = self.arguments(argument, path, function, 2)?;
                let delimiter =
                    self.resolve_string(&items[0], &index_path(path, 0), "the delimiter")?;
                if delimiter.is_empty() {
                    return error(index_path(path, 0), "Fn::Split needs a non-empty delimiter");
                }
                let source =
                    self.resolve_string(&items[1], &index_path(path, 1), "the Fn::Split source")?;
                Ok(Some(Value::from(
                    source
                        .split(delimiter.as_str())
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                )))
            }
            "Fn::If" => {
                let items = self.arguments(argument, path, function, 3)?;
                let Some(name) = items[0].as_str() else {
                    return error(index_path(path, 0), "Fn::If takes a condition name first");
                };
                if self.condition(name, &index_path(path, 0))? {
                    self.resolve(&items[1], &index_path(path, 1))
                } else {
                    self.resolve(&items[2], &index_path(path, 2))
                }
            }
            "Fn::Base64" => {
                use base64::Engine as _;
                let text = self.resolve_string(argument, path, "the Fn::Base64 argument")?;
                string(base64::engine::general_purpose::STANDARD.encode(text))
            }
            "Fn::FindInMap" => {
                let items = match argument {
                    Value::Array(items) if (3..=4).contains(&items.len()) => items,
                    other => {
                        return error(
                            path,
                            format!(
                                "Fn::FindInMap takes [Map, TopKey, SecondKey], got {}",
                                describe(other)
                            ),
                        );
                    }
                };
                let mut keys = Vec::new();
                for (i, item) in items.iter().take(3).enumerate() {
                    keys.push(self.resolve_string(
                        item,
                        &index_path(path, i),
                        "a Fn::FindInMap key",
                    )?);
                }
                let found = section(self.root, "Mappings")?
                    .and_then(|m| m.get(&keys[0]))
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]));
                match (found, items.get(3)) {
                    (Some(value), _) => self.resolve(value, path),
                    (None, Some(Value::Object(default)))
                        if default.contains_key("DefaultValue") =>
                    {
                        self.resolve(&default["DefaultValue"], &index_path(path, 3))
                    }
                    (None, _) => error(
                        path,
                        format!(
                            "Mappings.{}.{}.{} does not exist",
                            keys[0], keys[1], keys[2]
                        ),
                    ),
                }
            }
            "Fn::GetAZs" => {
                let region = match self.resolve_string(argument, path, "the region")? {
                    r if r.is_empty() => self.pseudo_string("AWS::Region"),
                    r => r,
                };
                Ok(Some(Value::from(
                    ["a", "b", "c"]
                        .map(|zone| format!("{region}{zone}"))
                        .to_vec(),
                )))
            }
            "Fn::Length" => {
                let list = self.resolve_list(argument, path, "the Fn::Length argument")?;
                Ok(Some(Value::from(list.len())))
            }
            "Fn::ToJsonString" => match self.resolve(argument, path)? {
                Some(value) => string(value.to_string()),
                None => error(path, "Fn::ToJsonString of AWS::NoValue"),
            },
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => error(
                path,
                format!("{function} can only be used in Conditions or as an Fn::If condition"),
            ),
            other => error(path, format!("{other} cannot be resolved locally")),
        }
    }

    // -------------------------------------------------------------------------------- properties
}

/// The ARN a resource of `kind` would have, named by its logical id.
pub(super) fn arn_stand_in(
    id: &str,
    kind: &str,
    partition: &str,
    region: &str,
    account: &str,
) -> String {
    let (service, resource) = match kind {
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
            ("lambda", format!("function:{id}"))
        }
        "AWS::SQS::Queue" | "AWS::SNS::Topic" => (
            if kind == "AWS::SQS::Queue" {
                "sqs"
            } else {
                "sns"
            },
            id.to_owned(),
        ),
        "AWS::S3::Bucket" => return format!("arn:{partition}:s3:::{}", id.to_ascii_lowercase()),
        "AWS::IAM::Role" => return format!("arn:{partition}:iam::{account}:role/{id}"),
        "AWS::Serverless::HttpApi" | "AWS::Serverless::Api" | "AWS::ApiGatewayV2::Api" => {
            return format!("arn:{partition}:apigateway:{region}::/apis/{id}");
        }
        "AWS::Logs::LogGroup" => ("logs", format!("log-group:{id}:*")),
        "AWS::DynamoDB::Table" => ("dynamodb", format!("table/{id}")),
        "AWS::SecretsManager::Secret" => ("secretsmanager", format!("secret:{id}")),
        "AWS::KMS::Key" => ("kms", format!("key/{id}")),
        "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
            ("states", format!("stateMachine:{id}"))
        }
        "AWS::Events::Rule" => ("events", format!("rule/{id}")),
        "AWS::Events::EventBus" => ("events", format!("event-bus/{id}")),
        "AWS::MSK::Cluster" => ("kafka", format!("cluster/{id}/local")),
        "AWS::Kinesis::Stream" => ("kinesis", format!("stream/{id}")),
        other => {
            let mut parts = other.split("::").skip(1);
            let service = parts.next().unwrap_or("unknown").to_ascii_lowercase();
            let kind = parts.next().unwrap_or("resource").to_ascii_lowercase();
            return format!("arn:{partition}:{service}:{region}:{account}:{kind}/{id}");
        }
    };
    format!("arn:{partition}:{service}:{region}:{account}:{resource}")
}
