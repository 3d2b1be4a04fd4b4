//! Functions, HTTP APIs (authorizers, throttling) as the runner runs them.

use super::*;

impl<'a> Reader<'a> {
    pub(super) fn function(
        &self,
        id: &str,
        resource: &Map<String, Value>,
        path: &str,
        globals: &Map<String, Value>,
    ) -> Result<Function, TemplateError> {
        let properties = self.properties(resource, path)?;
        let properties_path = join_path(path, "Properties");
        let label = format!("function {id}");

        // Unsupported properties, whether set on the function or in Globals.Function.
        let mut merged = globals.clone();
        merged.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.warn_unknown(&merged, FUNCTION_PROPERTIES, &properties_path, &label);

        // A property: the function's, else Globals.Function's.
        let lookup = |key: &str| -> Result<Option<Located<Value>>, TemplateError> {
            match self.get(&properties, key, &properties_path)? {
                Some(found) => Ok(Some(found)),
                None => self.get(globals, key, "Globals.Function"),
            }
        };

        let binary = match resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
        {
            Some(Value::String(binary)) if !binary.is_empty() => binary.clone(),
            Some(other) => {
                return error(
                    join_path(path, "Metadata.BuildProperties.Binary"),
                    format!("expected a binary name, got {}", describe(other)),
                );
            }
            None => match lookup("CodeUri")? {
                None => {
                    return error(
                        join_path(&properties_path, "CodeUri"),
                        "missing: set CodeUri or Metadata.BuildProperties.Binary",
                    );
                }
                Some((Value::String(uri), uri_path)) => {
                    let last = uri
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or_default();
                    if last.is_empty() || last == "." || last == ".." {
                        return error(
                            uri_path,
                            format!(
                                "CodeUri {uri:?} does not name the binary: set Metadata.BuildProperties.Binary"
                            ),
                        );
                    }
                    last.to_owned()
                }
                Some((other, uri_path)) => {
                    return error(
                        uri_path,
                        format!(
                            "CodeUri {} does not name the binary: set Metadata.BuildProperties.Binary",
                            describe(&other)
                        ),
                    );
                }
            },
        };

        let integer = |key: &str,
                       what: &str,
                       range: std::ops::RangeInclusive<i64>|
         -> Result<Option<i64>, TemplateError> {
            match lookup(key)? {
                None => Ok(None),
                Some((value, path)) => {
                    super::properties::integer_in(&value, &path, what, range).map(Some)
                }
            }
        };
        let timeout = integer("Timeout", "a number of seconds", 1..=900)?.unwrap_or(3);
        let memory = integer("MemorySize", "a number of megabytes", 128..=10_240)?.unwrap_or(128);
        let reserved = integer(
            "ReservedConcurrentExecutions",
            "a number of concurrent executions",
            0..=i64::from(u32::MAX),
        )?;

        let mut environment = BTreeMap::new();
        for (source, source_path) in [
            (globals, "Globals.Function"),
            (&properties, properties_path.as_str()),
        ] {
            let Some((env, env_path)) = self.get_object(source, "Environment", source_path)? else {
                continue;
            };
            let Some((variables, variables_path)) =
                self.get_object(&env, "Variables", &env_path)?
            else {
                continue;
            };
            for (name, value) in variables {
                let value = match scalar_string(&value) {
                    Some(s) => s,
                    None if value.is_null() => String::new(),
                    None => {
                        return error(
                            join_path(&variables_path, &name),
                            format!(
                                "an environment variable must be a string, got {}",
                                describe(&value)
                            ),
                        );
                    }
                };
                environment.insert(name, value);
            }
        }

        let name = match self.get(&properties, "FunctionName", &properties_path) {
            Ok(Some((value, _))) => scalar_string(&value),
            _ => None,
        };

        Ok(Function {
            id: id.to_owned(),
            properties,
            path: properties_path,
            def: FunctionDef {
                logical_id: id.to_owned(),
                binary,
                environment,
                timeout: Duration::from_secs(timeout as u64),
                memory_mb: memory as u32,
                reserved_concurrency: reserved.map(|n| n as u32),
            },
            name,
        })
    }

    /// The logical id of the function a FunctionName / FunctionArn names: the logical id (what
    /// `Ref` yields), the function's FunctionName, or an ARN / invocation ARN ending in either.
    pub(super) fn function_named(&self, reference: &str, functions: &[Function]) -> Option<String> {
        let name = match reference.find(":function:") {
            Some(at) => reference[at + ":function:".len()..]
                .split([':', '/'])
                .next()
                .unwrap_or_default(),
            None => reference,
        };
        functions
            .iter()
            .find(|f| f.id == name || f.name.as_deref() == Some(name))
            .map(|f| f.id.clone())
    }

    pub(super) fn http_api(
        &self,
        id: &str,
        properties: &Map<String, Value>,
        path: &str,
        globals: &Map<String, Value>,
        functions: &[Function],
    ) -> Result<ApiSettings, TemplateError> {
        let label = format!("HttpApi {id}");
        let mut merged = globals.clone();
        merged.extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.warn_unknown(&merged, HTTP_API_PROPERTIES, path, &label);
        let stage = match self.get_string(properties, "StageName", path)? {
            Some(stage) => Some(stage),
            None => self.get_string(globals, "StageName", "Globals.HttpApi")?,
        };
        if let Some(stage) = stage
            && stage != "$default"
        {
            self.warn(format!(
                "{label}: StageName {stage} is not emulated; the local gateway serves the routes at the root"
            ));
        }

        let mut auth = ApiSettings::default();
        let sources = [
            (globals, "Globals.HttpApi".to_owned()),
            (properties, path.to_owned()),
        ];
        for (source, source_path) in &sources {
            let Some((config, config_path)) = self.get_object(source, "Auth", source_path)? else {
                continue;
            };
            if let Some((authorizers, authorizers_path)) =
                self.get_object(&config, "Authorizers", &config_path)?
            {
                for (name, authorizer) in &authorizers {
                    let authorizer_path = join_path(&authorizers_path, name);
                    let Value::Object(authorizer) = authorizer else {
                        return error(authorizer_path, "an authorizer must be a mapping");
                    };
                    let def =
                        self.authorizer(name, authorizer, &authorizer_path, &label, functions)?;
                    auth.authorizers.insert(name.clone(), def);
                }
            }
            if let Some(default) = self.get_string(&config, "DefaultAuthorizer", &config_path)? {
                auth.default_authorizer =
                    Some((default, join_path(&config_path, "DefaultAuthorizer")));
            }
        }
        if let Some((name, path)) = &auth.default_authorizer
            && !auth.authorizers.contains_key(name)
            && name != "AWS_IAM"
        {
            return error(path, format!("{label} has no authorizer {name}"));
        }
        for (source, source_path) in &sources {
            if let Some((settings, settings_path)) =
                self.get_object(source, "DefaultRouteSettings", source_path)?
            {
                auth.default_throttle = self
                    .throttle_settings(&settings, &settings_path)?
                    .or(auth.default_throttle);
            }
            if let Some((routes, routes_path)) =
                self.get_object(source, "RouteSettings", source_path)?
            {
                for (route_key, settings) in &routes {
                    let settings_path = join_path(&routes_path, route_key);
                    let Value::Object(settings) = settings else {
                        return error(settings_path, "route settings must be a mapping");
                    };
                    let settings = self.throttle_settings(settings, &settings_path)?;
                    auth.route_throttles.insert(route_key.clone(), settings);
                }
            }
        }
        Ok(auth)
    }

    /// The throttling fields of a `RouteSettings` / `DefaultRouteSettings` mapping.
    pub(super) fn throttle_settings(
        &self,
        settings: &Map<String, Value>,
        path: &str,
    ) -> Result<ThrottleSettings, TemplateError> {
        let burst_limit = self
            .get_integer(
                settings,
                "ThrottlingBurstLimit",
                path,
                "a number of requests",
                0..=i64::from(u32::MAX),
            )?
            .map(|n| n as u32);
        let rate_limit = match self.get(settings, "ThrottlingRateLimit", path)? {
            None => None,
            Some((value, value_path)) => {
                let rate = match &value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match rate {
                    Some(rate) if rate.is_finite() && rate >= 0.0 => Some(rate),
                    _ => {
                        return error(
                            value_path,
                            format!(
                                "expected a number of requests per second, got {}",
                                describe(&value)
                            ),
                        );
                    }
                }
            }
        };
        Ok(ThrottleSettings {
            burst_limit,
            rate_limit,
        })
    }

    /// One entry of an HttpApi's `Auth.Authorizers` (already resolved).
    pub(super) fn authorizer(
        &self,
        name: &str,
        authorizer: &Map<String, Value>,
        path: &str,
        api_label: &str,
        functions: &[Function],
    ) -> Result<Option<AuthorizerDef>, TemplateError> {
        let label = format!("{api_label}: authorizer {name}");
        if authorizer.contains_key("JwtConfiguration") {
            self.warn(format!(
                "{label} is a JWT authorizer, which is not emulated; its routes are served without authorization"
            ));
            return Ok(None);
        }
        let Some(arn) = self.get_string(authorizer, "FunctionArn", path)? else {
            return error(
                join_path(path, "FunctionArn"),
                "missing: a Lambda authorizer needs its function",
            );
        };
        let Some(function) = self.function_named(&arn, functions) else {
            return error(
                join_path(path, "FunctionArn"),
                format!("{arn} is not a function of this template"),
            );
        };
        match self.get_string(authorizer, "AuthorizerPayloadFormatVersion", path)?.as_deref() {
            Some("2.0") => {}
            Some(version) => self.warn(format!(
                "{label}: AuthorizerPayloadFormatVersion {version} is not emulated; the local gateway sends payload 2.0"
            )),
            None => self.warn(format!(
                "{label}: AuthorizerPayloadFormatVersion is not set; the local gateway sends payload 2.0"
            )),
        }
        if self.get_bool(authorizer, "EnableSimpleResponses", path)? != Some(true) {
            self.warn(format!(
                "{label}: EnableSimpleResponses is not true; the local gateway reads simple responses ({{\"isAuthorized\", \"context\"}}) only"
            ));
        }
        let mut identity_sources = Vec::new();
        let mut ttl = 0;
        if let Some((identity, identity_path)) = self.get_object(authorizer, "Identity", path)? {
            for header in self
                .get_strings(&identity, "Headers", &identity_path)?
                .unwrap_or_default()
            {
                identity_sources.push(format!("$request.header.{header}"));
            }
            for query in self
                .get_strings(&identity, "QueryStrings", &identity_path)?
                .unwrap_or_default()
            {
                identity_sources.push(format!("$request.querystring.{query}"));
            }
            for key in ["Context", "StageVariables"] {
                if identity.contains_key(key) {
                    self.warn(format!(
                        "{label}: Identity.{key} is not emulated and is ignored"
                    ));
                }
            }
            ttl = self
                .get_integer(
                    &identity,
                    "ReauthorizeEvery",
                    &identity_path,
                    "a number of seconds",
                    0..=3600,
                )?
                .unwrap_or(0);
        } else if let Some(sources) = self.get_strings(authorizer, "IdentitySource", path)? {
            for source in sources {
                if source.starts_with("$request.header.")
                    || source.starts_with("$request.querystring.")
                {
                    identity_sources.push(source);
                } else {
                    self.warn(format!(
                        "{label}: identity source {source} is not emulated and is ignored"
                    ));
                }
            }
        }
        Ok(Some(AuthorizerDef {
            name: name.to_owned(),
            function,
            identity_sources,
            result_ttl: Duration::from_secs(ttl as u64),
        }))
    }
}
