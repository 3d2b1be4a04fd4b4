//! What invokes a function: HttpApi routes, Kafka event source mappings (SAM events and
//! `AWS::Lambda::EventSourceMapping`) and schedules.

use super::*;

impl<'a> Reader<'a> {
    /// An `HttpApi` event: the API it belongs to and its route.
    pub(super) fn http_route(
        &self,
        function: &Function,
        properties: &Map<String, Value>,
        path: &str,
        apis: &BTreeMap<String, ApiSettings>,
        label: &str,
    ) -> Result<(String, HttpRoute), TemplateError> {
        self.warn_unknown(properties, HTTP_API_EVENT_PROPERTIES, path, label);
        if let Some(version) = self.get_string(properties, "PayloadFormatVersion", path)?
            && version != "2.0"
        {
            self.warn(format!(
                "{label}: PayloadFormatVersion {version} is not emulated; the local gateway sends payload 2.0"
            ));
        }
        let api = match self.get_string(properties, "ApiId", path)? {
            None => IMPLICIT_HTTP_API.to_owned(),
            Some(api) => api,
        };
        let Some(auth) = apis.get(&api) else {
            return error(
                join_path(path, "ApiId"),
                format!(
                    "{api} is not an AWS::Serverless::HttpApi of this template (or its Condition is false)"
                ),
            );
        };
        let method = self.get_string(properties, "Method", path)?;
        let route_path = self.get_string(properties, "Path", path)?;
        let method = match method {
            None => "ANY".to_owned(),
            Some(m)
                if m == "*"
                    || m.eq_ignore_ascii_case("any")
                    || m.eq_ignore_ascii_case("x-amazon-apigateway-any-method") =>
            {
                "ANY".to_owned()
            }
            Some(m) => m.to_ascii_uppercase(),
        };
        let route_path = route_path.unwrap_or_else(|| "$default".to_owned());
        if route_path != "$default" && !route_path.starts_with('/') {
            return error(
                join_path(path, "Path"),
                format!("{route_path:?} must start with / (or be $default)"),
            );
        }

        let chosen = match self.get_object(properties, "Auth", path)? {
            Some((event_auth, auth_path)) => self
                .get_string(&event_auth, "Authorizer", &auth_path)?
                .map(|name| (name, join_path(&auth_path, "Authorizer"))),
            None => None,
        };
        let chosen = chosen.or_else(|| auth.default_authorizer.clone());
        let authorizer = match chosen {
            None => None,
            Some((name, _)) if name == "NONE" => None,
            Some((name, _)) if name == "AWS_IAM" => {
                self.warn(format!(
                    "{label}: AWS_IAM authorization is not emulated; the route is served without authorization"
                ));
                None
            }
            Some((name, name_path)) => match auth.authorizers.get(&name) {
                Some(def) => def.clone(),
                None => return error(name_path, format!("HttpApi {api} has no authorizer {name}")),
            },
        };
        let integration_timeout = self
            .get_integer(
                properties,
                "TimeoutInMillis",
                path,
                "a number of milliseconds",
                50..=30_000,
            )?
            .map_or(MAX_INTEGRATION_TIMEOUT, |ms| {
                Duration::from_millis(ms as u64)
            });
        let event_throttle = match self.get_object(properties, "RouteSettings", path)? {
            Some((settings, settings_path)) => self.throttle_settings(&settings, &settings_path)?,
            None => ThrottleSettings::default(),
        };
        let route_key = format!("{method} {route_path}");
        let throttle = event_throttle
            .or(auth
                .route_throttles
                .get(&route_key)
                .copied()
                .unwrap_or_default())
            .or(auth.default_throttle)
            .throttle();
        Ok((
            api,
            HttpRoute {
                function: function.id.clone(),
                method,
                path: route_path,
                authorizer,
                integration_timeout,
                throttle,
            },
        ))
    }

    /// The settings shared by MSK / SelfManagedKafka events and Kafka event source mappings.
    pub(super) fn kafka_mapping(
        &self,
        id: String,
        function: &FunctionDef,
        source: KafkaSourceDef,
        properties: &Map<String, Value>,
        path: &str,
        label: &str,
    ) -> Result<KafkaMappingDef, TemplateError> {
        self.warn_unknown(properties, KAFKA_PROPERTIES, path, label);
        let topics = self
            .get_strings(properties, "Topics", path)?
            .unwrap_or_default();
        if topics.is_empty() || topics.iter().any(String::is_empty) {
            return error(join_path(path, "Topics"), "a Kafka trigger needs its topic");
        }
        let batch_size = self
            .get_integer(
                properties,
                "BatchSize",
                path,
                "a number of records",
                1..=10_000,
            )?
            .unwrap_or(100);
        let window = match self.get_integer(
            properties,
            "MaximumBatchingWindowInSeconds",
            path,
            "a number of seconds",
            0..=300,
        )? {
            Some(seconds) => Duration::from_secs(seconds as u64),
            // What Lambda uses for Kafka sources when the template leaves it unset.
            None => Duration::from_millis(500),
        };
        let starting_position = match self
            .get_string(properties, "StartingPosition", path)?
            .as_deref()
        {
            Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
            Some("LATEST") => StartingPosition::Latest,
            Some("AT_TIMESTAMP") => {
                self.warn(format!(
                    "{label}: StartingPosition AT_TIMESTAMP is not emulated; using TRIM_HORIZON"
                ));
                StartingPosition::TrimHorizon
            }
            Some(other) => {
                return error(
                    join_path(path, "StartingPosition"),
                    format!("expected TRIM_HORIZON or LATEST, got {other:?}"),
                );
            }
            None => {
                self.warn(format!(
                    "{label}: StartingPosition is not set; using TRIM_HORIZON"
                ));
                StartingPosition::TrimHorizon
            }
        };
        let mut consumer_group = None;
        for config in [
            "AmazonManagedKafkaEventSourceConfig",
            "SelfManagedKafkaEventSourceConfig",
        ] {
            if let Some((config, config_path)) = self.get_object(properties, config, path)? {
                if config.contains_key("SchemaRegistryConfig") {
                    self.warn(format!(
                        "{label}: SchemaRegistryConfig is not emulated; records are delivered as produced"
                    ));
                }
                if let Some(group) = self.get_string(&config, "ConsumerGroupId", &config_path)? {
                    consumer_group = Some(group);
                }
            }
        }
        if consumer_group.is_none() {
            consumer_group = self.get_string(properties, "ConsumerGroupId", path)?;
        }
        let consumer_group_id = consumer_group
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| format!("local-{}", function.binary));
        let on_failure_destination = match self.get_object(properties, "DestinationConfig", path)? {
            Some((config, config_path)) => {
                match self.get_object(&config, "OnFailure", &config_path)? {
                    Some((on_failure, on_failure_path)) => {
                        self.get_string(&on_failure, "Destination", &on_failure_path)?
                    }
                    None => None,
                }
            }
            None => None,
        };
        // As AWS: a Kafka destination must not be a topic the mapping reads (a loop).
        if let Some(topic) = on_failure_destination.as_deref().and_then(kafka_topic_of)
            && (topic.is_empty() || topics.iter().any(|t| t == topic))
        {
            return error(
                format!("{path}.DestinationConfig.OnFailure.Destination"),
                format!(
                    "kafka://{topic}: a Kafka on-failure destination must name a topic other than the ones the mapping reads"
                ),
            );
        }
        let report_batch_item_failures = self
            .get_strings(properties, "FunctionResponseTypes", path)?
            .unwrap_or_default()
            .iter()
            .any(|t| t == "ReportBatchItemFailures");
        let maximum_retry_attempts = self
            .get_integer(
                properties,
                "MaximumRetryAttempts",
                path,
                "a number of attempts",
                -1..=10_000,
            )?
            .unwrap_or(-1);
        let enabled = self.get_bool(properties, "Enabled", path)?.unwrap_or(true);
        let mut source_access = Vec::new();
        match self.get(properties, "SourceAccessConfigurations", path)? {
            None => {}
            Some((Value::Array(entries), list_path)) => {
                for (i, entry) in entries.iter().enumerate() {
                    let entry_path = index_path(&list_path, i);
                    let Value::Object(entry) = entry else {
                        return error(
                            entry_path,
                            format!("expected a mapping, got {}", describe(entry)),
                        );
                    };
                    let field = |key| -> Result<String, TemplateError> {
                        match self.get_string(entry, key, &entry_path)? {
                            Some(value) if !value.is_empty() => Ok(value),
                            _ => error(join_path(&entry_path, key), "missing"),
                        }
                    };
                    source_access.push(SourceAccess {
                        kind: field("Type")?,
                        uri: field("URI")?,
                    });
                }
            }
            Some((value, list_path)) => {
                return error(
                    list_path,
                    format!("expected a list, got {}", describe(&value)),
                );
            }
        }
        Ok(KafkaMappingDef {
            id,
            function: function.logical_id.clone(),
            source,
            topics,
            consumer_group_id,
            batch_size: batch_size as usize,
            maximum_batching_window: window,
            starting_position,
            on_failure_destination,
            report_batch_item_failures,
            maximum_retry_attempts,
            source_access,
            enabled,
        })
    }

    pub(super) fn event_source_mapping(
        &self,
        id: &str,
        resource: &Map<String, Value>,
        path: &str,
        functions: &[Function],
    ) -> Result<Option<KafkaMappingDef>, TemplateError> {
        let properties = self.properties(resource, path)?;
        let path = join_path(path, "Properties");
        let label = format!("event source mapping {id}");
        let Some(target) = self.get_string(&properties, "FunctionName", &path)? else {
            return error(join_path(&path, "FunctionName"), "missing");
        };
        let Some(function_id) = self.function_named(&target, functions) else {
            self.warn(format!(
                "{label}: FunctionName {target} is not a function of this template; the mapping is ignored"
            ));
            return Ok(None);
        };
        let function = &functions
            .iter()
            .find(|f| f.id == function_id)
            .expect("found by name")
            .def;
        let source = if let Some((source, source_path)) =
            self.get_object(&properties, "SelfManagedEventSource", &path)?
        {
            let Some((endpoints, endpoints_path)) =
                self.get_object(&source, "Endpoints", &source_path)?
            else {
                return error(join_path(&source_path, "Endpoints"), "missing");
            };
            let servers =
                match self.get_strings(&endpoints, "KafkaBootstrapServers", &endpoints_path)? {
                    Some(servers) => servers,
                    None => self
                        .get_strings(&endpoints, "KAFKA_BOOTSTRAP_SERVERS", &endpoints_path)?
                        .unwrap_or_default(),
                };
            if servers.is_empty() {
                return error(
                    join_path(&endpoints_path, "KafkaBootstrapServers"),
                    "a self-managed Kafka source needs its bootstrap servers",
                );
            }
            KafkaSourceDef::SelfManaged {
                bootstrap_servers: servers.join(","),
            }
        } else if let Some(arn) = self.get_string(&properties, "EventSourceArn", &path)? {
            let service = arn.split(':').nth(2).unwrap_or_default();
            if service != "kafka" {
                let kind = match service {
                    "sqs" => "SQS",
                    "kinesis" => "Kinesis",
                    "dynamodb" => "DynamoDB Streams",
                    "mq" => "Amazon MQ",
                    "rds" | "docdb" => "DocumentDB",
                    _ => "non-Kafka",
                };
                self.warn(format!(
                    "{label}: the {kind} event source {arn} for function {function_id} is not emulated"
                ));
                return Ok(None);
            }
            KafkaSourceDef::Msk { cluster_arn: arn }
        } else {
            return error(
                path,
                "neither EventSourceArn nor SelfManagedEventSource is set",
            );
        };
        self.kafka_mapping(id.to_owned(), function, source, &properties, &path, &label)
            .map(Some)
    }

    pub(super) fn schedule(
        &self,
        id: String,
        function: &Function,
        kind: &str,
        properties: &Map<String, Value>,
        path: &str,
        label: &str,
    ) -> Result<Option<ScheduleDef>, TemplateError> {
        self.warn_unknown(properties, SCHEDULE_PROPERTIES, path, label);
        let key = if kind == "Schedule" {
            "Schedule"
        } else {
            "ScheduleExpression"
        };
        let Some(expression) = self.get_string(properties, key, path)? else {
            return error(join_path(path, key), "missing");
        };
        let expression_path = join_path(path, key);
        if expression.trim_start().starts_with("at(") {
            self.warn(format!(
                "{label}: one-time schedule {expression} is not emulated"
            ));
            return Ok(None);
        }
        let expression =
            parse_schedule_expression(&expression).or_else(|m| error(expression_path, m))?;
        if let Some(zone) = self.get_string(properties, "ScheduleExpressionTimezone", path)?
            && !matches!(zone.as_str(), "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT")
        {
            self.warn(format!(
                "{label}: ScheduleExpressionTimezone {zone} is not emulated; the schedule runs in UTC"
            ));
        }
        for ignored in ["StartDate", "EndDate"] {
            if properties.contains_key(ignored) {
                self.warn(format!("{label}: {ignored} is not emulated and is ignored"));
            }
        }
        let input = match self.get(properties, "Input", path)? {
            None => None,
            Some((Value::String(text), input_path)) => {
                // EventBridge refuses a target Input longer than this (AWS::Events::Rule).
                if text.chars().count() > MAX_SCHEDULE_INPUT_CHARS {
                    return error(
                        input_path,
                        format!(
                            "Input is {} characters; EventBridge allows at most {MAX_SCHEDULE_INPUT_CHARS}",
                            text.chars().count()
                        ),
                    );
                }
                match serde_json::from_str(&text) {
                    Ok(value) => Some(value),
                    Err(e) => return error(input_path, format!("Input is not valid JSON: {e}")),
                }
            }
            Some((value, _)) => Some(value),
        };
        let mut enabled = self.get_bool(properties, "Enabled", path)?.unwrap_or(true);
        if let Some(state) = self.get_string(properties, "State", path)? {
            match state.as_str() {
                "ENABLED" => {}
                "DISABLED" => enabled = false,
                other => {
                    return error(
                        join_path(path, "State"),
                        format!("expected ENABLED or DISABLED, got {other:?}"),
                    );
                }
            }
        }
        Ok(Some(ScheduleDef {
            id,
            function: function.id.clone(),
            expression,
            input,
            enabled,
        }))
    }
}

/// `rate(5 minutes)` / `cron(0 12 * * ? *)`.
pub(super) fn parse_schedule_expression(text: &str) -> Result<ScheduleExpression, String> {
    let text = text.trim();
    if let Some(body) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
        let mut words = body.split_whitespace();
        let (Some(amount), Some(unit), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{text}: expected rate(<value> <unit>)"));
        };
        let amount: u64 = match amount.parse() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("{text}: the value must be a positive integer")),
        };
        let unit_seconds = match unit {
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            other => {
                return Err(format!(
                    "{text}: unknown unit {other:?} (minute(s), hour(s) or day(s))"
                ));
            }
        };
        let singular = !unit.ends_with('s');
        if singular != (amount == 1) {
            return Err(format!(
                "{text}: use the singular unit for 1 and the plural otherwise (rate(1 minute), rate(5 minutes))"
            ));
        }
        return Ok(ScheduleExpression::Rate(Duration::from_secs(
            amount * unit_seconds,
        )));
    }
    if let Some(body) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
        let fields = body.split_whitespace().collect::<Vec<_>>().join(" ");
        crate::schedule::parse_aws_cron(&fields)?;
        return Ok(ScheduleExpression::Cron(fields));
    }
    Err(format!("{text:?}: expected rate(...) or cron(...)"))
}
