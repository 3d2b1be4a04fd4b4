//! `template.yaml` read into what the local runner needs: functions, HTTP routes, Kafka event
//! source mappings and schedules, with parameters, conditions and intrinsic functions resolved.
//!
//! The YAML is first normalized into a JSON tree in which the short tags become their long form
//! (`!Ref X` -> `{"Ref": "X"}`, `!GetAtt A.B` -> `{"Fn::GetAtt": ["A", "B"]}`, `!If [...]` ->
//! `{"Fn::If": [...]}`). Every `Ref`, `Fn::GetAtt`, `Fn::Sub` variable and condition name of the
//! template is checked up front; values are resolved only where the runner reads them, so an
//! intrinsic that cannot be evaluated locally (`Fn::ImportValue`) only matters where it is used.
//!
//! Resources are not created locally, so `Ref` / `Fn::GetAtt` of a resource yield stand-ins shaped
//! like what AWS returns, with the logical id as the resource's name, account `000000000000`,
//! region `eu-central-1` (or the `AWS::Region` parameter):
//!
//! | resource | `Ref` | `Fn::GetAtt X.Arn` |
//! |---|---|---|
//! | `AWS::Serverless::Function`, `AWS::Lambda::Function` | `X` | `arn:aws:lambda:<region>:000000000000:function:X` |
//! | `AWS::SQS::Queue` | `https://sqs.<region>.amazonaws.com/000000000000/X` | `arn:aws:sqs:<region>:000000000000:X` |
//! | `AWS::SNS::Topic` | its ARN | `arn:aws:sns:<region>:000000000000:X` |
//! | `AWS::S3::Bucket` | `x` (lower-cased) | `arn:aws:s3:::x` |
//! | `AWS::SecretsManager::Secret` | its ARN | `arn:aws:secretsmanager:<region>:000000000000:secret:X` |
//! | anything else | `X` | `arn:aws:<service>:<region>:000000000000:<type>/X` (`arn_stand_in`) |
//!
//! Other attributes are `X.<Attr>`, except `QueueName` / `QueueUrl` of a queue, `TopicName` /
//! `TopicArn` of a topic and `DomainName` / `RegionalDomainName` of a bucket, which get their AWS
//! shape. Functions are named by their logical id wherever the runner needs to find them again
//! (a mapping's `FunctionName`, an authorizer's `FunctionArn`).

use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

mod conditions;
mod document;
mod event_sources;
mod intrinsics;
mod properties;
mod resources;
#[cfg(test)]
mod tests;

use document::*;

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// The logical id, e.g. `CreateRequestFunction`.
    pub logical_id: String,
    /// The binary name (Metadata.BuildProperties.Binary, else the last CodeUri segment), e.g. `create-request`.
    pub binary: String,
    /// Environment variables after Globals merge and intrinsic resolution.
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub reserved_concurrency: Option<u32>,
}

/// An HttpApi route: `POST /requests`, `GET /requests/{id}`, `ANY /files/{proxy+}`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRoute {
    pub function: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    pub path: String,
    /// The Lambda REQUEST authorizer protecting the route, if any.
    pub authorizer: Option<AuthorizerDef>,
    /// How long the gateway waits for the function (`TimeoutInMillis`, 50 ms to 30 s, default 30 s)
    /// before it answers 503; the invocation itself runs on.
    pub integration_timeout: Duration,
    /// The stage's throttling of this route, if the template sets any.
    pub throttle: Option<RouteThrottle>,
}

/// HTTP API throttling of one route across all its callers (a token bucket): `ThrottlingBurstLimit`
/// requests at once, refilled at `ThrottlingRateLimit` a second; past it API Gateway answers 429.
/// From the event's `RouteSettings`, else the API's `RouteSettings` for the route key, else its
/// `DefaultRouteSettings`, field by field; a field set nowhere takes the account's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteThrottle {
    pub burst_limit: u32,
    pub rate_limit: f64,
}

/// API Gateway's account-level throttle, for a route that sets only one of the two fields.
pub const ACCOUNT_BURST_LIMIT: u32 = 5_000;
pub const ACCOUNT_RATE_LIMIT: f64 = 10_000.0;

/// The throttling fields of one `RouteSettings` entry, as written (either may be missing).
#[derive(Debug, Clone, Copy, Default)]
struct ThrottleSettings {
    burst_limit: Option<u32>,
    rate_limit: Option<f64>,
}

impl ThrottleSettings {
    fn or(self, other: ThrottleSettings) -> ThrottleSettings {
        ThrottleSettings {
            burst_limit: self.burst_limit.or(other.burst_limit),
            rate_limit: self.rate_limit.or(other.rate_limit),
        }
    }

    fn throttle(self) -> Option<RouteThrottle> {
        if self.burst_limit.is_none() && self.rate_limit.is_none() {
            return None;
        }
        Some(RouteThrottle {
            burst_limit: self.burst_limit.unwrap_or(ACCOUNT_BURST_LIMIT),
            rate_limit: self.rate_limit.unwrap_or(ACCOUNT_RATE_LIMIT),
        })
    }
}

/// EventBridge's limit on a rule target's `Input` (characters).
pub const MAX_SCHEDULE_INPUT_CHARS: usize = 8192;

/// API Gateway's default (and largest) integration timeout for an HTTP API.
pub const MAX_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A Lambda REQUEST authorizer of an HttpApi (payload format 2.0, simple responses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerDef {
    pub name: String,
    /// The logical id of the authorizer function.
    pub function: String,
    /// e.g. `$request.header.Authorization`.
    pub identity_sources: Vec<String>,
    /// 0 disables caching.
    pub result_ttl: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaSourceDef {
    Msk { cluster_arn: String },
    SelfManaged { bootstrap_servers: String },
}

/// A Kafka event source mapping (an MSK / SelfManagedKafka event, or an
/// `AWS::Lambda::EventSourceMapping` whose Condition holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaMappingDef {
    /// The logical id of the mapping (or `<Function>.<EventName>`).
    pub id: String,
    pub function: String,
    pub source: KafkaSourceDef,
    pub topics: Vec<String>,
    /// Defaults to the function's name with a `local-` prefix when the template has none.
    pub consumer_group_id: String,
    pub batch_size: usize,
    pub maximum_batching_window: Duration,
    pub starting_position: StartingPosition,
    /// `DestinationConfig.OnFailure.Destination`, as written.
    pub on_failure_destination: Option<String>,
    pub report_batch_item_failures: bool,
    /// -1 (the AWS default) means unbounded; locally capped, see the kafka_trigger module.
    pub maximum_retry_attempts: i64,
    /// `SourceAccessConfigurations`: how the poller authenticates (SASL/SCRAM, a client
    /// certificate, a private CA), each naming its Secrets Manager secret. VPC entries are kept
    /// but mean nothing locally.
    pub source_access: Vec<SourceAccess>,
    pub enabled: bool,
}

/// One `SourceAccessConfigurations` entry, e.g. `SASL_SCRAM_512_AUTH` with its secret's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceAccess {
    pub kind: String,
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    Rate(Duration),
    /// The six AWS cron fields, as written inside `cron(...)`.
    Cron(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDef {
    pub id: String,
    pub function: String,
    pub expression: ScheduleExpression,
    /// The `Input` JSON, if the event sets one (sent instead of the scheduled-event payload).
    pub input: Option<serde_json::Value>,
    pub enabled: bool,
}

/// Everything the runner starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LocalTemplate {
    pub functions: Vec<FunctionDef>,
    pub http_routes: Vec<HttpRoute>,
    pub kafka_mappings: Vec<KafkaMappingDef>,
    pub schedules: Vec<ScheduleDef>,
    /// Properties the runner does not emulate, each naming the function and the property.
    pub warnings: Vec<String>,
}

/// Where the template came from and how to resolve it locally.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub path: PathBuf,
    /// Parameter values (parameters file and env), over the template's defaults.
    pub parameters: BTreeMap<String, String>,
    /// Environment values that replace a function variable whatever the template says
    /// (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, AWS_ENDPOINT_URL... from the dev services).
    pub environment_overrides: BTreeMap<String, String>,
    /// `sam local --env-vars` values: per function logical id, or for every function under
    /// `Parameters`; as in SAM they replace only variables the template declares for the function.
    pub function_environment: BTreeMap<String, BTreeMap<String, String>>,
}

/// A template that cannot be run: where (a dotted YAML path such as
/// `Resources.CreateRequestFunction.Properties.Timeout`, or the file for YAML syntax errors) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TemplateError {
    pub path: String,
    pub message: String,
}

/// The topic of a Kafka on-failure destination (`kafka://<topic>`); `None` for any other kind.
pub fn kafka_topic_of(destination: &str) -> Option<&str> {
    destination.strip_prefix("kafka://")
}

fn error<T>(path: impl Into<String>, message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError {
        path: path.into(),
        message: message.into(),
    })
}

/// Reads `input.path` and parses it with [`parse`].
/// A JSON value as a template parameter or an environment variable: a string as it is, anything
/// else as its JSON text (`8`, `true`).
pub fn value_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// A parameters file (`tools/local-parameters.json`): a JSON object of parameter values.
pub fn read_parameters_file(file: &std::path::Path) -> Result<BTreeMap<String, String>, String> {
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let values: BTreeMap<String, Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a JSON object: {e}", file.display()))?;
    Ok(values
        .into_iter()
        .map(|(name, value)| (name, value_text(value)))
        .collect())
}

/// `NAME=VALUE` (a `--parameter` flag).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

pub fn load(input: &TemplateInput) -> Result<LocalTemplate, TemplateError> {
    let text = std::fs::read_to_string(&input.path).or_else(|e| {
        error(
            input.path.display().to_string(),
            format!("cannot read the template: {e}"),
        )
    })?;
    parse(&text, input)
}

/// The template as a JSON tree, short-form tags (`!Ref`, `!Sub`...) in their long form, nothing
/// resolved: for tools and tests that read the template as written (policies, descriptions).
pub fn document(yaml: &str) -> Result<Value, TemplateError> {
    let raw: serde_yaml_ng::Value = match serde_yaml_ng::from_str(yaml) {
        Ok(raw) => raw,
        Err(e) => return error("template", format!("invalid YAML: {e}")),
    };
    normalize(raw, "")
}

/// Parses a SAM template (YAML or JSON) and resolves it for local running.
pub fn parse(yaml: &str, input: &TemplateInput) -> Result<LocalTemplate, TemplateError> {
    let label = if input.path.as_os_str().is_empty() {
        "template".to_owned()
    } else {
        input.path.display().to_string()
    };
    let raw: serde_yaml_ng::Value = match serde_yaml_ng::from_str(yaml) {
        Ok(raw) => raw,
        Err(e) => return error(label, format!("invalid YAML: {e}")),
    };
    let document = normalize(raw, "")?;
    let Value::Object(root) = &document else {
        return error(label, "the template is not a mapping");
    };
    Reader::new(root, input)?.read()
}

// ------------------------------------------------------------------------------------------------
// The reader.

const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

const SERVERLESS_FUNCTION: &str = "AWS::Serverless::Function";
const SERVERLESS_HTTP_API: &str = "AWS::Serverless::HttpApi";
const EVENT_SOURCE_MAPPING: &str = "AWS::Lambda::EventSourceMapping";
/// The HttpApi SAM creates for `HttpApi` events without an `ApiId`.
const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";

/// Function properties the runner reads, or that do not matter locally (IAM, deployment,
/// observability, networking, packaging). Anything else gets a warning.
const FUNCTION_PROPERTIES: &[&str] = &[
    "Architectures",
    "AutoPublishAlias",
    "AutoPublishAliasAllProperties",
    "AutoPublishCodeSha256",
    "CodeSigningConfigArn",
    "CodeUri",
    "DeploymentPreference",
    "Description",
    "Environment",
    "EphemeralStorage",
    "EventInvokeConfig",
    "Events",
    "FunctionName",
    "Handler",
    "KmsKeyArn",
    "LoggingConfig",
    "MemorySize",
    "Metadata",
    "PermissionsBoundary",
    "Policies",
    "PropagateTags",
    "ProvisionedConcurrencyConfig",
    "ReservedConcurrentExecutions",
    "Role",
    "RolePath",
    "Runtime",
    "RuntimeManagementConfig",
    "SnapStart",
    "Tags",
    "Timeout",
    "Tracing",
    "VpcConfig",
];

/// HttpApi properties that do not change how the local gateway routes or authorizes.
const HTTP_API_PROPERTIES: &[&str] = &[
    "AccessLogSettings",
    "Auth",
    "DefaultRouteSettings",
    "Description",
    "DisableExecuteApiEndpoint",
    "Domain",
    "FailOnWarnings",
    "Name",
    "PropagateTags",
    "RouteSettings",
    "StageName",
    "Tags",
];

const HTTP_API_EVENT_PROPERTIES: &[&str] = &[
    "ApiId",
    "Auth",
    "Method",
    "Path",
    "PayloadFormatVersion",
    "RouteSettings",
    "TimeoutInMillis",
];

/// Kafka mapping properties read by [`Reader::kafka_mapping`] or irrelevant locally
/// (authentication, networking, poller provisioning, tags).
const KAFKA_PROPERTIES: &[&str] = &[
    "AmazonManagedKafkaEventSourceConfig",
    "BatchSize",
    "ConsumerGroupId",
    "DestinationConfig",
    "Enabled",
    "EventSourceArn",
    "FunctionName",
    "FunctionResponseTypes",
    "KafkaBootstrapServers",
    "KmsKeyArn",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "MetricsConfig",
    "ProvisionedPollerConfig",
    "SelfManagedEventSource",
    "SelfManagedKafkaEventSourceConfig",
    "SourceAccessConfigurations",
    "StartingPosition",
    "Stream",
    "Tags",
    "Topics",
];

const SCHEDULE_PROPERTIES: &[&str] = &[
    "DeadLetterConfig",
    "Description",
    "Enabled",
    "FlexibleTimeWindow",
    "GroupName",
    "Input",
    "KmsKeyArn",
    "Name",
    "OmitName",
    "PermissionsBoundary",
    "RetryPolicy",
    "RoleArn",
    "Schedule",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "State",
];

/// Resource types that would run code or route traffic in AWS but are not emulated.
const NOT_EMULATED_RESOURCES: &[&str] = &[
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGatewayV2::Api",
    "AWS::Events::Rule",
    "AWS::Lambda::Function",
    "AWS::Scheduler::Schedule",
    "AWS::Serverless::Api",
    "AWS::Serverless::Application",
    "AWS::Serverless::StateMachine",
    "AWS::StepFunctions::StateMachine",
];

#[derive(Debug, Clone)]
enum Parameter {
    /// A string, or an array of strings for list types.
    Value(Value),
    /// Declared without a Default and not given.
    Missing,
}

/// A created (Condition holds) `AWS::Serverless::Function`, before its events are read.
struct Function {
    id: String,
    properties: Map<String, Value>,
    path: String,
    def: FunctionDef,
    /// `FunctionName`, when set and resolvable.
    name: Option<String>,
}

/// A resolved value and its YAML path.
type Located<T> = (T, String);

/// A created HttpApi's authorizers: `None` for kinds the gateway does not emulate.
/// What an HttpApi resource says about its routes: authorizers and throttling.
#[derive(Default)]
struct ApiSettings {
    authorizers: BTreeMap<String, Option<AuthorizerDef>>,
    default_authorizer: Option<(String, String)>,
    default_throttle: ThrottleSettings,
    /// `RouteSettings` by route key (`POST /auth/login`).
    route_throttles: BTreeMap<String, ThrottleSettings>,
}

struct Reader<'a> {
    root: &'a Map<String, Value>,
    input: &'a TemplateInput,
    parameters: BTreeMap<String, Parameter>,
    /// Logical id -> Type, including the resources SAM creates implicitly.
    resources: BTreeMap<String, String>,
    conditions: Map<String, Value>,
    condition_values: RefCell<BTreeMap<String, bool>>,
    condition_stack: RefCell<Vec<String>>,
    warnings: RefCell<Vec<String>>,
}

fn section<'a>(
    root: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, TemplateError> {
    match root.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => error(name, format!("must be a mapping, got {}", describe(other))),
    }
}

impl<'a> Reader<'a> {
    fn new(root: &'a Map<String, Value>, input: &'a TemplateInput) -> Result<Self, TemplateError> {
        let mut parameters = BTreeMap::new();
        for (name, declaration) in section(root, "Parameters")?.into_iter().flatten() {
            let path = join_path("Parameters", name);
            let Value::Object(declaration) = declaration else {
                return error(path, "a parameter declaration must be a mapping");
            };
            let kind = declaration
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("String");
            let given = match input.parameters.get(name) {
                Some(value) => Some(value.clone()),
                None => match declaration.get("Default") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(items)) => Some(
                        items
                            .iter()
                            .filter_map(scalar_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    Some(default) => match scalar_string(default) {
                        Some(default) => Some(default),
                        None => {
                            return error(
                                join_path(&path, "Default"),
                                format!("must be a string, got {}", describe(default)),
                            );
                        }
                    },
                },
            };
            let Some(given) = given else {
                parameters.insert(name.clone(), Parameter::Missing);
                continue;
            };
            let is_list = kind == "CommaDelimitedList" || kind.starts_with("List<");
            if !is_list {
                if let Some(Value::Array(allowed)) = declaration.get("AllowedValues") {
                    let allowed: Vec<String> = allowed.iter().filter_map(scalar_string).collect();
                    if !allowed.contains(&given) {
                        return error(
                            path,
                            format!(
                                "value {given:?} is not one of the AllowedValues [{}]",
                                allowed.join(", ")
                            ),
                        );
                    }
                }
                let length = given.chars().count() as i64;
                if let Some(min) = declaration.get("MinLength").and_then(as_integer)
                    && length < min
                {
                    return error(
                        path,
                        format!("value {given:?} is shorter than MinLength {min}"),
                    );
                }
                if let Some(max) = declaration.get("MaxLength").and_then(as_integer)
                    && length > max
                {
                    return error(
                        path,
                        format!("value {given:?} is longer than MaxLength {max}"),
                    );
                }
            }
            let value = if is_list {
                Value::from(given.split(',').map(str::to_owned).collect::<Vec<_>>())
            } else {
                Value::String(given)
            };
            parameters.insert(name.clone(), Parameter::Value(value));
        }

        let Some(declared) = section(root, "Resources")? else {
            return error("Resources", "the template declares no Resources");
        };
        let mut resources = BTreeMap::new();
        for (id, resource) in declared {
            let path = join_path("Resources", id);
            let Value::Object(resource) = resource else {
                return error(path, "a resource must be a mapping");
            };
            let Some(kind) = resource.get("Type").and_then(Value::as_str) else {
                return error(join_path(&path, "Type"), "missing or not a string");
            };
            if parameters.contains_key(id) {
                return error(path, "a parameter has the same name");
            }
            resources.insert(id.clone(), kind.to_owned());
        }
        // What SAM creates behind the scenes and templates may refer to.
        let functions: Vec<(String, bool)> = declared
            .iter()
            .filter(|(id, _)| resources.get(*id).map(String::as_str) == Some(SERVERLESS_FUNCTION))
            .map(|(id, resource)| {
                let has_role = resource
                    .get("Properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| p.contains_key("Role"));
                (id.clone(), has_role)
            })
            .collect();
        for (id, has_role) in functions {
            if !has_role {
                resources
                    .entry(format!("{id}Role"))
                    .or_insert_with(|| "AWS::IAM::Role".to_owned());
            }
        }
        resources
            .entry(IMPLICIT_HTTP_API.to_owned())
            .or_insert_with(|| SERVERLESS_HTTP_API.to_owned());
        resources
            .entry("ServerlessRestApi".to_owned())
            .or_insert_with(|| "AWS::Serverless::Api".to_owned());

        let conditions = section(root, "Conditions")?.cloned().unwrap_or_default();
        section(root, "Globals")?;
        section(root, "Mappings")?;
        section(root, "Outputs")?;
        Ok(Self {
            root,
            input,
            parameters,
            resources,
            conditions,
            condition_values: RefCell::default(),
            condition_stack: RefCell::default(),
            warnings: RefCell::default(),
        })
    }

    fn warn(&self, warning: String) {
        self.warnings.borrow_mut().push(warning);
    }

    // -------------------------------------------------------------------------------- pseudo

    fn read(&self) -> Result<LocalTemplate, TemplateError> {
        self.check_names()?;
        self.check_rules()?;
        let resources = section(self.root, "Resources")?.expect("checked in new");
        let globals = section(self.root, "Globals")?;
        let global_function = match globals.and_then(|g| g.get("Function")) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(object)) => object.clone(),
            Some(other) => {
                return error(
                    "Globals.Function",
                    format!("must be a mapping, got {}", describe(other)),
                );
            }
        };

        let mut functions = Vec::new();
        let mut apis = BTreeMap::new();
        let mut mappings_resources = Vec::new();
        for (id, resource) in resources {
            let path = join_path("Resources", id);
            let resource = resource.as_object().expect("checked in new");
            let kind = self.resources[id].as_str();
            if !self.created(resource, &path)? {
                continue;
            }
            match kind {
                SERVERLESS_FUNCTION => {
                    functions.push(self.function(id, resource, &path, &global_function)?);
                }
                SERVERLESS_HTTP_API => {
                    apis.insert(id.clone(), (resource, path));
                }
                EVENT_SOURCE_MAPPING => mappings_resources.push((id, resource, path)),
                other if NOT_EMULATED_RESOURCES.contains(&other) => {
                    self.warn(format!("resource {id} of type {other} is not emulated"));
                }
                _ => {}
            }
        }

        let mut template = LocalTemplate {
            functions: functions.iter().map(|f| f.def.clone()).collect(),
            ..LocalTemplate::default()
        };

        // HttpApis and their authorizers (the implicit API takes Globals.HttpApi only).
        let global_api = match globals.and_then(|g| g.get("HttpApi")) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(object)) => object.clone(),
            Some(other) => {
                return error(
                    "Globals.HttpApi",
                    format!("must be a mapping, got {}", describe(other)),
                );
            }
        };
        let mut api_auth = BTreeMap::new();
        for (id, (resource, path)) in &apis {
            let properties = self.properties(resource, path)?;
            api_auth.insert(
                id.clone(),
                self.http_api(
                    id,
                    &properties,
                    &join_path(path, "Properties"),
                    &global_api,
                    &functions,
                )?,
            );
        }
        if !api_auth.contains_key(IMPLICIT_HTTP_API) {
            api_auth.insert(
                IMPLICIT_HTTP_API.to_owned(),
                self.http_api(IMPLICIT_HTTP_API, &Map::new(), "", &global_api, &functions)?,
            );
        }

        // Events.
        let mut route_owners: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for function in &functions {
            let events_path = join_path(&function.path, "Events");
            let events = match function.properties.get("Events") {
                None | Some(Value::Null) => continue,
                Some(Value::Object(events)) => events,
                Some(other) => {
                    return error(
                        events_path,
                        format!("must be a mapping, got {}", describe(other)),
                    );
                }
            };
            for (name, event) in events {
                let path = join_path(&events_path, name);
                let Value::Object(event) = event else {
                    return error(path, "an event must be a mapping");
                };
                let Some(kind) = self.get_string(event, "Type", &path)? else {
                    return error(join_path(&path, "Type"), "missing");
                };
                let properties = self.properties(event, &path)?;
                let properties_path = join_path(&path, "Properties");
                let id = format!("{}.{name}", function.id);
                let label = format!("function {}: event {name}", function.id);
                match kind.as_str() {
                    "HttpApi" => {
                        let (api, route) = self.http_route(
                            function,
                            &properties,
                            &properties_path,
                            &api_auth,
                            &label,
                        )?;
                        let key = (api.clone(), route.method.clone(), route.path.clone());
                        if let Some(other) = route_owners.get(&key) {
                            return error(
                                path,
                                format!(
                                    "route {} {} of HttpApi {api} is already declared by {other}",
                                    route.method, route.path
                                ),
                            );
                        }
                        route_owners.insert(key, id);
                        template.http_routes.push(route);
                    }
                    "MSK" | "SelfManagedKafka" => {
                        let source = if kind == "MSK" {
                            let Some(arn) =
                                self.get_string(&properties, "Stream", &properties_path)?
                            else {
                                return error(
                                    join_path(&properties_path, "Stream"),
                                    "an MSK event needs the cluster ARN",
                                );
                            };
                            KafkaSourceDef::Msk { cluster_arn: arn }
                        } else {
                            let servers = self
                                .get_strings(
                                    &properties,
                                    "KafkaBootstrapServers",
                                    &properties_path,
                                )?
                                .unwrap_or_default();
                            if servers.is_empty() {
                                return error(
                                    join_path(&properties_path, "KafkaBootstrapServers"),
                                    "a SelfManagedKafka event needs the bootstrap servers",
                                );
                            }
                            KafkaSourceDef::SelfManaged {
                                bootstrap_servers: servers.join(","),
                            }
                        };
                        let mapping = self.kafka_mapping(
                            id,
                            &function.def,
                            source,
                            &properties,
                            &properties_path,
                            &label,
                        )?;
                        template.kafka_mappings.push(mapping);
                    }
                    "Schedule" | "ScheduleV2" => {
                        if let Some(schedule) = self.schedule(
                            id,
                            function,
                            &kind,
                            &properties,
                            &properties_path,
                            &label,
                        )? {
                            template.schedules.push(schedule);
                        }
                    }
                    other => self.warn(format!(
                        "function {}: event {name} of type {other} is not emulated",
                        function.id
                    )),
                }
            }
        }

        // AWS::Lambda::EventSourceMapping resources.
        for (id, resource, path) in mappings_resources {
            if let Some(mapping) = self.event_source_mapping(id, resource, &path, &functions)? {
                template.kafka_mappings.push(mapping);
            }
        }

        // Environment overrides, then what still cannot be resolved.
        for function in &mut template.functions {
            let env_vars = ["Parameters", function.logical_id.as_str()]
                .into_iter()
                .filter_map(|scope| self.input.function_environment.get(scope))
                .flatten();
            for (name, value) in env_vars {
                match function.environment.get_mut(name) {
                    Some(declared) => *declared = value.clone(),
                    None => self.warn(format!(
                        "function {}: --env-vars sets {name}, which the template does not declare for it; ignored (as sam local does)",
                        function.logical_id
                    )),
                }
            }
            for (name, value) in &self.input.environment_overrides {
                function.environment.insert(name.clone(), value.clone());
            }
            for (name, value) in &function.environment {
                // Only the reference itself: the rest of the value may be sensitive.
                if let Some(at) = value.find("{{resolve:") {
                    let rest = &value[at..];
                    let reference = rest.find("}}").map_or(rest, |end| &rest[..end + 2]);
                    self.warn(format!(
                        "function {}: environment variable {name} holds a dynamic reference ({reference}) that is not resolved locally; give it an environment override",
                        function.logical_id
                    ));
                }
            }
        }

        template
            .functions
            .sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
        template.http_routes.sort_by(|a, b| {
            (&a.path, &a.method, &a.function).cmp(&(&b.path, &b.method, &b.function))
        });
        template.kafka_mappings.sort_by(|a, b| a.id.cmp(&b.id));
        template.schedules.sort_by(|a, b| a.id.cmp(&b.id));
        let mut warnings = self.warnings.take();
        warnings.sort();
        warnings.dedup();
        template.warnings = warnings;
        Ok(template)
    }
}
