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
// Normalization: YAML (with short-form tags) -> JSON tree in long form.

/// Intrinsic functions that have a `!Short` YAML form `!X` -> `{"Fn::X": ...}`.
const SHORT_FORM_FUNCTIONS: &[&str] = &[
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

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn index_path(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn normalize(value: serde_yaml_ng::Value, path: &str) -> Result<Value, TemplateError> {
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
fn intrinsic(value: &Value) -> Option<(&str, &Value)> {
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
fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(77).collect::<String>())
    } else {
        text
    }
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn as_integer(value: &Value) -> Option<i64> {
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

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// CloudFormation compares `Fn::Equals` operands as strings (`30` equals `"30"`).
fn loosely_equal(a: &Value, b: &Value) -> bool {
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
fn sub_variables(template: &str) -> Result<Vec<&str>, String> {
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

    fn pseudo(&self, name: &str) -> Option<Value> {
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

    fn pseudo_string(&self, name: &str) -> String {
        self.pseudo(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    // -------------------------------------------------------------------------------- stand-ins

    fn ref_stand_in(&self, id: &str, kind: &str) -> String {
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

    fn get_att_stand_in(&self, id: &str, kind: &str, attribute: &str) -> String {
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
    fn alias_function(&self, name: &str) -> Option<String> {
        let (function, suffix) = name.rsplit_once('.')?;
        (matches!(suffix, "Alias" | "Version")
            && self.resources.get(function).map(String::as_str) == Some(SERVERLESS_FUNCTION))
        .then(|| function.to_owned())
    }

    fn is_ref_name(&self, name: &str) -> bool {
        PSEUDO_PARAMETERS.contains(&name)
            || self.parameters.contains_key(name)
            || self.resources.contains_key(name)
            || self.alias_function(name).is_some()
    }

    fn is_sub_name(&self, name: &str) -> bool {
        self.is_ref_name(name)
            || name
                .split_once('.')
                .is_some_and(|(resource, _)| self.resources.contains_key(resource))
    }

    // -------------------------------------------------------------------------------- checks

    /// Every Ref, Fn::GetAtt, Fn::Sub variable and condition name of the template must exist
    /// (CloudFormation rejects the template otherwise, whichever branch is taken).
    fn check_names(&self) -> Result<(), TemplateError> {
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

    fn check_condition_name(&self, name: &Value, path: &str) -> Result<(), TemplateError> {
        match name.as_str() {
            Some(name) if self.conditions.contains_key(name) => Ok(()),
            Some(name) => error(path, format!("unknown Condition {name}")),
            None => error(
                path,
                format!("a condition name must be a string, got {}", describe(name)),
            ),
        }
    }

    fn check_value(&self, value: &Value, path: &str, condition: bool) -> Result<(), TemplateError> {
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

    fn check_sub(
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

    fn condition(&self, name: &str, path: &str) -> Result<bool, TemplateError> {
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

    fn condition_arguments<'v>(
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
    fn condition_expression(
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
    fn check_rules(&self) -> Result<(), TemplateError> {
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
    fn created(&self, resource: &Map<String, Value>, path: &str) -> Result<bool, TemplateError> {
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

    /// The value with every intrinsic function evaluated; `None` for `AWS::NoValue`, which also
    /// removes the mapping key or list item that holds it.
    fn resolve(&self, value: &Value, path: &str) -> Result<Option<Value>, TemplateError> {
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
    fn resolve_string(
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

    fn resolve_list(
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

    fn reference(&self, name: &str, path: &str) -> Result<Option<Value>, TemplateError> {
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

    fn get_att(
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

    fn arguments<'v>(
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

    fn substitute(
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

    fn evaluate(
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

    /// A resource's `Properties` (resolved first when the whole mapping is an intrinsic).
    fn properties(
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
    fn get(
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

    fn get_string(
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

    fn get_integer(
        &self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, TemplateError> {
        match self.get(object, key, path)? {
            None => Ok(None),
            Some((value, path)) => match as_integer(&value) {
                Some(n) if range.contains(&n) => Ok(Some(n)),
                Some(n) => error(
                    path,
                    format!(
                        "must be between {} and {}, got {n}",
                        range.start(),
                        range.end()
                    ),
                ),
                None => error(path, format!("expected {what}, got {}", describe(&value))),
            },
        }
    }

    fn get_bool(
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

    fn get_strings(
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

    fn get_object(
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
    fn warn_unknown(&self, object: &Map<String, Value>, known: &[&str], path: &str, label: &str) {
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

    fn function(
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
                Some((value, path)) => match as_integer(&value) {
                    Some(n) if range.contains(&n) => Ok(Some(n)),
                    Some(n) => error(
                        path,
                        format!(
                            "must be between {} and {}, got {n}",
                            range.start(),
                            range.end()
                        ),
                    ),
                    None => error(path, format!("expected {what}, got {}", describe(&value))),
                },
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
    fn function_named(&self, reference: &str, functions: &[Function]) -> Option<String> {
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

    fn http_api(
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
    fn throttle_settings(
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
    fn authorizer(
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

    /// An `HttpApi` event: the API it belongs to and its route.
    fn http_route(
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
    fn kafka_mapping(
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

    fn event_source_mapping(
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

    fn schedule(
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
fn parse_schedule_expression(text: &str) -> Result<ScheduleExpression, String> {
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

/// The ARN a resource of `kind` would have, named by its logical id.
fn arn_stand_in(id: &str, kind: &str, partition: &str, region: &str, account: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// This checkout's repository root, from cargo's run-time `CARGO_MANIFEST_DIR`: a test binary
    /// reused from another checkout's build (the target dir is shared) must read this one's files.
    fn repo() -> PathBuf {
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
            .join("../..")
    }
    const CLUSTER_ARN: &str = "arn:aws:kafka:eu-central-1:000000000000:cluster/servicehub/local";
    const DATABASE_URL: &str = "postgres://servicehub@127.0.0.1:55432/servicehub";

    fn pairs(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn input(parameters: &[(&str, &str)], overrides: &[(&str, &str)]) -> TemplateInput {
        TemplateInput {
            path: PathBuf::new(),
            parameters: pairs(parameters),
            environment_overrides: pairs(overrides),
            function_environment: Default::default(),
        }
    }

    fn real(
        parameters: &[(&str, &str)],
        overrides: &[(&str, &str)],
    ) -> Result<LocalTemplate, TemplateError> {
        load(&TemplateInput {
            path: repo().join("template.yaml"),
            ..input(parameters, overrides)
        })
    }

    fn local_overrides() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DATABASE_URL", DATABASE_URL),
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:59092"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:55000"),
        ]
    }

    fn parse_ok(yaml: &str, parameters: &[(&str, &str)]) -> LocalTemplate {
        match parse(yaml, &input(parameters, &[])) {
            Ok(template) => template,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse_err(yaml: &str, parameters: &[(&str, &str)]) -> TemplateError {
        match parse(yaml, &input(parameters, &[])) {
            Ok(template) => panic!("parsed: {template:#?}"),
            Err(e) => e,
        }
    }

    fn function<'t>(template: &'t LocalTemplate, id: &str) -> &'t FunctionDef {
        template
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .unwrap_or_else(|| panic!("no function {id}"))
    }

    fn env(template: &LocalTemplate, id: &str) -> BTreeMap<String, String> {
        function(template, id).environment.clone()
    }

    #[test]
    fn real_template_with_msk() {
        let template = real(
            &[
                ("KafkaMode", "msk"),
                ("MskClusterArn", CLUSTER_ARN),
                ("KafkaBootstrapServers", "127.0.0.1:59092"),
            ],
            &local_overrides(),
        )
        .unwrap();
        // Every function of the template is one of the workspace's function crates.
        let functions_dir = repo().join("functions");
        for function in &template.functions {
            assert!(
                functions_dir
                    .join(&function.binary)
                    .join("Cargo.toml")
                    .exists(),
                "{} runs {}, which is not a crate under functions/",
                function.logical_id,
                function.binary
            );
        }
        assert_eq!(
            function(&template, "AssignManagerFunction").binary,
            "assign-manager"
        );
        let create = function(&template, "CreateRequestFunction");
        assert_eq!(create.timeout, Duration::from_secs(10));
        assert_eq!(create.memory_mb, 256);
        assert_eq!(create.reserved_concurrency, None);
        assert_eq!(
            function(&template, "AssignManagerFunction").timeout,
            Duration::from_secs(60)
        );
        assert_eq!(
            create.environment,
            pairs(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:55000"),
                ("DATABASE_URL", DATABASE_URL),
                // KafkaProducerAuth auto: MSK IAM in msk mode, with the cluster to discover.
                ("KAFKA_AUTH", "iam"),
                ("KAFKA_AUTH_SECRET_ARN", ""),
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:59092"),
                ("KAFKA_CA_SECRET_ARN", ""),
                ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
                ("MSK_CLUSTER_ARN", CLUSTER_ARN),
                // Number parameters' defaults, as strings.
                ("OUTBOX_PUBLISH_BUDGET_MS", "200"),
                ("PERFORMANCE_METRICS_FLUSH_SECONDS", "60"),
                ("RUST_LOG", "info"),
                ("SERVICE_NAME", "create-request"),
            ])
        );

        let route = |method: &str, path: &str| {
            template
                .http_routes
                .iter()
                .find(|r| r.method == method && r.path == path)
                .unwrap_or_else(|| panic!("no route {method} {path}"))
        };
        assert_eq!(route("POST", "/requests").function, "CreateRequestFunction");
        assert_eq!(
            route("GET", "/requests/{id}").function,
            "GetRequestFunction"
        );
        // Public: register, login, refresh; everything else behind the JWT authorizer.
        let mut public: Vec<&str> = template
            .http_routes
            .iter()
            .filter(|r| r.authorizer.is_none())
            .map(|r| r.path.as_str())
            .collect();
        public.sort();
        assert_eq!(public, ["/auth/login", "/auth/refresh", "/auth/register"]);
        assert!(template.http_routes.iter().all(|r| {
            r.authorizer
                .as_ref()
                .is_none_or(|a| a.function == "AuthorizerFunction")
        }));

        // One MSK mapping per consumer (the self-managed twins are off), each in its own group.
        assert!(template.kafka_mappings.iter().all(
            |m| m.id.ends_with("MskTrigger") && matches!(m.source, KafkaSourceDef::Msk { .. })
        ));
        let groups: std::collections::BTreeSet<&str> = template
            .kafka_mappings
            .iter()
            .map(|m| m.consumer_group_id.as_str())
            .collect();
        assert_eq!(groups.len(), template.kafka_mappings.len());
        let assign = template
            .kafka_mappings
            .iter()
            .find(|m| m.id == "AssignManagerMskTrigger")
            .expect("the assign-manager trigger");
        assert_eq!(
            *assign,
            KafkaMappingDef {
                id: "AssignManagerMskTrigger".into(),
                function: "AssignManagerFunction".into(),
                source: KafkaSourceDef::Msk {
                    cluster_arn: CLUSTER_ARN.into()
                },
                topics: vec!["request-events".into()],
                consumer_group_id: "servicehub-assign-manager".into(),
                batch_size: 100,
                maximum_batching_window: Duration::ZERO,
                starting_position: StartingPosition::TrimHorizon,
                on_failure_destination: Some("kafka://request-events.dlq".into()),
                report_batch_item_failures: false,
                maximum_retry_attempts: 10,
                source_access: Vec::new(),
                enabled: true,
            }
        );
        assert_eq!(
            template.schedules,
            [
                ScheduleDef {
                    id: "NotifyFunction.RetrySweep".into(),
                    function: "NotifyFunction".into(),
                    expression: ScheduleExpression::Rate(Duration::from_secs(60)),
                    input: Some(serde_json::json!({"sweep": "notifications"})),
                    enabled: true,
                },
                ScheduleDef {
                    id: "OutboxRelayFunction.EveryMinute".into(),
                    function: "OutboxRelayFunction".into(),
                    expression: ScheduleExpression::Rate(Duration::from_secs(60)),
                    input: None,
                    enabled: true,
                }
            ]
        );
        assert_eq!(template.warnings, Vec::<String>::new());
    }

    #[test]
    fn real_template_with_self_managed_kafka() {
        let template = real(
            &[
                ("KafkaMode", "self-managed"),
                ("KafkaBootstrapServers", "127.0.0.1:59092"),
                (
                    "SelfManagedKafkaSecretArn",
                    "arn:aws:secretsmanager:eu-central-1:000000000000:secret:kafka",
                ),
                (
                    "KafkaServerRootCaSecretArn",
                    "arn:aws:secretsmanager:eu-central-1:000000000000:secret:ca",
                ),
                ("VpcSubnetIds", "subnet-1,subnet-2"),
                ("VpcSecurityGroupIds", "sg-1"),
            ],
            &local_overrides(),
        )
        .unwrap();
        assert!(
            template
                .kafka_mappings
                .iter()
                .all(|m| m.id.ends_with("SelfManagedKafkaTrigger")),
            "{:#?}",
            template.kafka_mappings
        );
        let mapping = template
            .kafka_mappings
            .iter()
            .find(|m| m.id == "AssignManagerSelfManagedKafkaTrigger")
            .expect("the assign-manager trigger");
        assert_eq!(mapping.function, "AssignManagerFunction");
        assert_eq!(
            mapping.source,
            KafkaSourceDef::SelfManaged {
                bootstrap_servers: "127.0.0.1:59092".into()
            }
        );
        assert_eq!(mapping.topics, ["request-events"]);
        assert_eq!(mapping.consumer_group_id, "servicehub-assign-manager");
        assert_eq!(mapping.batch_size, 100);
        assert_eq!(mapping.maximum_batching_window, Duration::ZERO);
        assert_eq!(mapping.starting_position, StartingPosition::TrimHorizon);
        assert!(mapping.on_failure_destination.is_some());
        // SourceAccessConfigurations in order, AWS::NoValue entries (a third subnet) dropped.
        let access = |kind: &str, uri: &str| SourceAccess {
            kind: kind.into(),
            uri: uri.into(),
        };
        assert_eq!(
            mapping.source_access,
            [
                access("VPC_SUBNET", "subnet:subnet-1"),
                access("VPC_SUBNET", "subnet:subnet-2"),
                access("VPC_SECURITY_GROUP", "security_group:sg-1"),
                access(
                    "SASL_SCRAM_512_AUTH",
                    "arn:aws:secretsmanager:eu-central-1:000000000000:secret:kafka"
                ),
                access(
                    "SERVER_ROOT_CA_CERTIFICATE",
                    "arn:aws:secretsmanager:eu-central-1:000000000000:secret:ca"
                ),
            ]
        );
        // Producers authenticate as the trigger does: SCRAM with its secret, the same CA.
        let producer = &function(&template, "CreateRequestFunction").environment;
        assert_eq!(producer["KAFKA_AUTH"], "scram");
        assert_eq!(producer["KAFKA_SASL_MECHANISM"], "SCRAM-SHA-512");
        assert_eq!(
            producer["KAFKA_AUTH_SECRET_ARN"],
            "arn:aws:secretsmanager:eu-central-1:000000000000:secret:kafka"
        );
        assert_eq!(
            producer["KAFKA_CA_SECRET_ARN"],
            "arn:aws:secretsmanager:eu-central-1:000000000000:secret:ca"
        );
        assert_eq!(producer["MSK_CLUSTER_ARN"], "");
        assert_eq!(template.warnings, Vec::<String>::new());

        // Several brokers: the template splits them, the mapping joins them again.
        let template = real(
            &[
                ("KafkaMode", "self-managed"),
                ("KafkaBootstrapServers", "10.0.0.1:9092,10.0.0.2:9092"),
            ],
            &local_overrides(),
        )
        .unwrap();
        assert_eq!(
            template.kafka_mappings[0].source,
            KafkaSourceDef::SelfManaged {
                bootstrap_servers: "10.0.0.1:9092,10.0.0.2:9092".into()
            }
        );
    }

    #[test]
    fn env_vars_replace_only_what_the_template_declares_as_sam_local_does() {
        let scoped = |scope: &str, pairs: &[(&str, &str)]| {
            (
                scope.to_owned(),
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let template = load(&TemplateInput {
            path: repo().join("template.yaml"),
            function_environment: [
                scoped(
                    "NotifyFunction",
                    &[("NOTIFY_CLAIM_LEASE_SECONDS", "20"), ("NOT_DECLARED", "x")],
                ),
                scoped("Parameters", &[("SERVICE_NAME", "everyone")]),
            ]
            .into(),
            ..input(
                &[
                    ("MskClusterArn", CLUSTER_ARN),
                    ("KafkaBootstrapServers", "127.0.0.1:59092"),
                ],
                &local_overrides(),
            )
        })
        .unwrap();
        let notify = env(&template, "NotifyFunction");
        assert_eq!(notify["NOTIFY_CLAIM_LEASE_SECONDS"], "20");
        assert!(!notify.contains_key("NOT_DECLARED"));
        assert_eq!(
            env(&template, "GetRequestFunction")["SERVICE_NAME"],
            "everyone"
        );
        assert!(
            template
                .warnings
                .iter()
                .any(|w| w.contains("NOT_DECLARED") && w.contains("NotifyFunction")),
            "{:?}",
            template.warnings
        );
    }

    #[test]
    fn real_template_without_overrides_warns_about_dynamic_references() {
        let template = real(
            &[
                ("MskClusterArn", CLUSTER_ARN),
                ("KafkaBootstrapServers", "127.0.0.1:59092"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            env(&template, "GetRequestFunction")["DATABASE_URL"],
            "{{resolve:secretsmanager:servicehub/database-url}}"
        );
        // One warning per function that is given the database URL, all about it.
        let with_database = template
            .functions
            .iter()
            .filter(|f| {
                !f.environment
                    .get("DATABASE_URL")
                    .is_none_or(String::is_empty)
            })
            .count();
        assert_eq!(
            with_database,
            template.functions.len() - 3,
            "all but the three ClickHouse-only ones (audit-sink, get-audit, get-analytics)"
        );
        assert_eq!(
            template.warnings.len(),
            with_database,
            "{:#?}",
            template.warnings
        );
        assert!(
            template
                .warnings
                .iter()
                .all(|w| w.contains("DATABASE_URL holds a dynamic reference"))
        );
        let assign_manager = template
            .warnings
            .iter()
            .find(|w| w.starts_with("function AssignManagerFunction:"))
            .expect("a warning for AssignManagerFunction");
        assert_eq!(
            assign_manager,
            "function AssignManagerFunction: environment variable DATABASE_URL holds a dynamic reference \
             ({{resolve:secretsmanager:servicehub/database-url}}) that is not resolved locally; give it an \
             environment override"
        );
    }

    #[test]
    fn real_template_errors_name_what_is_missing() {
        let e = real(&[("KafkaMode", "self-managed")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Rules.SelfManagedNeedsBootstrapServers.Assertions[0]: KafkaBootstrapServers is \
             required when KafkaMode is self-managed."
        );
        // The template's Rules hold locally too.
        let e = real(&[("KafkaBootstrapServers", "127.0.0.1:59092")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Rules.MskNeedsClusterArn.Assertions[0]: MskClusterArn is required when KafkaMode is msk."
        );
        let e = real(
            &[("KafkaMode", "kraft"), ("KafkaBootstrapServers", "x:1")],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.path, "Parameters.KafkaMode");
        assert!(
            e.message
                .contains("not one of the AllowedValues [msk, self-managed]"),
            "{e}"
        );
    }

    #[test]
    fn runner_end_to_end_template() {
        let template = load(&TemplateInput {
            path: repo().join("tests/fixtures/runner-template.yaml"),
            ..input(
                &[
                    ("KafkaBootstrapServers", "127.0.0.1:59092"),
                    ("ConsumerGroupId", "e2e-group"),
                ],
                &[("DATABASE_URL", DATABASE_URL)],
            )
        })
        .unwrap();
        assert_eq!(
            function(&template, "AuthorizerFunction").binary,
            "runtime-probe"
        );
        assert_eq!(
            function(&template, "AuthorizerFunction").timeout,
            Duration::from_secs(10)
        );
        let authorizer = AuthorizerDef {
            name: "ProbeAuthorizer".into(),
            function: "AuthorizerFunction".into(),
            identity_sources: vec!["$request.header.Authorization".into()],
            result_ttl: Duration::from_secs(300),
        };
        assert_eq!(template.http_routes.len(), 2);
        for route in &template.http_routes {
            assert_eq!(route.authorizer.as_ref(), Some(&authorizer));
        }
        let mapping = &template.kafka_mappings[0];
        assert_eq!(mapping.id, "AssignManagerFunction.Requests");
        assert_eq!(mapping.consumer_group_id, "e2e-group");
        assert_eq!(mapping.batch_size, 50);
        assert_eq!(mapping.maximum_batching_window, Duration::ZERO);
        assert_eq!(mapping.starting_position, StartingPosition::Latest);
        assert_eq!(
            mapping.source,
            KafkaSourceDef::SelfManaged {
                bootstrap_servers: "127.0.0.1:59092".into()
            }
        );
        assert_eq!(template.warnings, Vec::<String>::new());
    }

    #[test]
    fn sub_forms() {
        let yaml = r#"
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Bucket: {Type: AWS::S3::Bucket}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/sub-demo/
      Environment:
        Variables:
          PLAIN: !Sub "servicehub-${Stage}"
          PSEUDO: !Sub "${AWS::Region}/${AWS::AccountId}/${AWS::StackName}/${AWS::Partition}/${AWS::URLSuffix}"
          RESOURCE: !Sub "${Queue}"
          ATTRIBUTE: !Sub "${Queue.Arn}|${Queue.QueueName}|${Bucket.Arn}"
          ESCAPED: !Sub "${!Literal}-${Stage}"
          MAP: !Sub
            - "${Name}.${Domain}:${Stage}"
            - Name: !Join ["-", [a, !Ref Stage]]
              Domain: example.org
          LONG:
            Fn::Sub: "arn:${AWS::Partition}:s3:::${Stage}"
          DYNAMIC: !Sub "{{resolve:ssm:/servicehub/${Stage}/key}}"
          NUMBER: 42
          FLAG: true
          SELF: !GetAtt Fn.Arn
          SELF_REF: !Ref Fn
          QUEUE_URL: !GetAtt [Queue, QueueUrl]
"#;
        let template = parse_ok(yaml, &[]);
        let env = env(&template, "Fn");
        assert_eq!(function(&template, "Fn").binary, "sub-demo");
        assert_eq!(env["PLAIN"], "servicehub-dev");
        assert_eq!(
            env["PSEUDO"],
            "eu-central-1/000000000000/servicehub-local/aws/amazonaws.com"
        );
        assert_eq!(
            env["RESOURCE"],
            "https://sqs.eu-central-1.amazonaws.com/000000000000/Queue"
        );
        assert_eq!(
            env["ATTRIBUTE"],
            "arn:aws:sqs:eu-central-1:000000000000:Queue|Queue|arn:aws:s3:::bucket"
        );
        assert_eq!(env["ESCAPED"], "${Literal}-dev");
        assert_eq!(env["MAP"], "a-dev.example.org:dev");
        assert_eq!(env["LONG"], "arn:aws:s3:::dev");
        assert_eq!(env["NUMBER"], "42");
        assert_eq!(env["FLAG"], "true");
        assert_eq!(
            env["SELF"],
            "arn:aws:lambda:eu-central-1:000000000000:function:Fn"
        );
        assert_eq!(env["SELF_REF"], "Fn");
        assert_eq!(env["QUEUE_URL"], env["RESOURCE"]);
        assert_eq!(
            template.warnings,
            [
                "function Fn: environment variable DYNAMIC holds a dynamic reference \
              ({{resolve:ssm:/servicehub/dev/key}}) that is not resolved locally; give it an environment override"
            ]
        );

        // Parameters and the region come from the input.
        let template = parse_ok(yaml, &[("Stage", "qa"), ("AWS::Region", "us-east-1")]);
        let env = super::tests::env(&template, "Fn");
        assert_eq!(env["PLAIN"], "servicehub-qa");
        assert!(env["PSEUDO"].starts_with("us-east-1/"));
        assert_eq!(
            env["SELF"],
            "arn:aws:lambda:us-east-1:000000000000:function:Fn"
        );

        let e = parse_err(
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: f/\n      Environment:\n        Variables:\n          X: !Sub \"${Nope}\"\n",
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.Fn.Properties.Environment.Variables.X.Fn::Sub: Fn::Sub: unknown variable ${Nope}"
        );
    }

    #[test]
    fn other_intrinsics() {
        let yaml = r#"
Parameters:
  Subnets: {Type: CommaDelimitedList, Default: "a,b,c"}
  Empty: {Type: CommaDelimitedList, Default: ""}
Mappings:
  Sizes:
    eu-central-1: {Memory: 1024}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f/
      MemorySize: !FindInMap [Sizes, !Ref "AWS::Region", Memory]
      Environment:
        Variables:
          JOINED: !Join [";", !Ref Subnets]
          SECOND: !Select [1, !Ref Subnets]
          EMPTY: !Join ["", !Ref Empty]
          B64: !Base64 hello
          ZONE: !Select [0, !GetAZs ""]
          JSON: {"Fn::ToJsonString": {a: [1, 2]}}
"#;
        let template = parse_ok(yaml, &[]);
        let env = env(&template, "Fn");
        assert_eq!(function(&template, "Fn").memory_mb, 1024);
        assert_eq!(env["JOINED"], "a;b;c");
        assert_eq!(env["SECOND"], "b");
        assert_eq!(env["EMPTY"], "");
        assert_eq!(env["B64"], "aGVsbG8=");
        assert_eq!(env["ZONE"], "eu-central-1a");
        assert_eq!(env["JSON"], r#"{"a":[1,2]}"#);

        let e = parse_err(
            &yaml.replace("!Select [1, !Ref Subnets]", "!Select [7, !Ref Subnets]"),
            &[],
        );
        assert_eq!(
            e.path,
            "Resources.Fn.Properties.Environment.Variables.SECOND.Fn::Select"
        );
        assert!(e.message.contains("out of range"), "{e}");
        let e = parse_err(
            &yaml.replace("!Base64 hello", "!ImportValue other-stack-export"),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.Fn.Properties.Environment.Variables.B64.Fn::ImportValue: Fn::ImportValue cannot be resolved locally"
        );
    }

    #[test]
    fn if_no_value_and_conditions() {
        let yaml = r#"
Parameters:
  Env: {Type: String, Default: local, AllowedValues: [local, prod]}
  Replicas: {Type: Number, Default: 3}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsLocal: {"Fn::Not": [{"Condition": IsProd}]}
  ThreeReplicas: {"Fn::Equals": [{"Ref": Replicas}, 3]}
  Both: !And [!Condition IsLocal, !Condition ThreeReplicas]
  Either: !Or [!Condition IsProd, !Equals [a, b]]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Layers: !If [IsProd, [arn:aws:lambda:eu-central-1:000000000000:layer:x:1], !Ref AWS::NoValue]
      Timeout: !If [IsProd, 30, !Ref "AWS::NoValue"]
      Environment:
        Variables:
          ONLY_PROD: !If [IsProd, "yes", !Ref AWS::NoValue]
          MODE: {"Fn::If": ["IsLocal", "local", "prod"]}
          BOTH: !If [Both, "1", "0"]
          EITHER: !If [Either, "1", "0"]
  ProdOnly:
    Type: AWS::Serverless::Function
    Condition: IsProd
    Properties: {CodeUri: prod-only/}
"#;
        let template = parse_ok(yaml, &[]);
        assert_eq!(template.functions.len(), 1);
        let fn_ = function(&template, "Fn");
        assert_eq!(fn_.timeout, Duration::from_secs(3));
        assert_eq!(fn_.memory_mb, 128);
        assert_eq!(
            fn_.environment,
            pairs(&[("BOTH", "1"), ("EITHER", "0"), ("MODE", "local")])
        );
        assert_eq!(template.warnings, Vec::<String>::new());

        let template = parse_ok(yaml, &[("Env", "prod")]);
        assert_eq!(template.functions.len(), 2);
        assert_eq!(function(&template, "ProdOnly").binary, "prod-only");
        let fn_ = function(&template, "Fn");
        assert_eq!(fn_.timeout, Duration::from_secs(30));
        assert_eq!(
            fn_.environment,
            pairs(&[
                ("BOTH", "0"),
                ("EITHER", "1"),
                ("MODE", "prod"),
                ("ONLY_PROD", "yes")
            ])
        );
        assert_eq!(
            template.warnings,
            ["function Fn: property Layers is not supported locally and is ignored"]
        );
    }

    #[test]
    fn globals_are_merged_and_overrides_win() {
        let yaml = r#"
Globals:
  Function:
    CodeUri: functions/shared/
    Timeout: 15
    MemorySize: 512
    Environment:
      Variables: {A: global-a, B: global-b}
Resources:
  One:
    Type: AWS::Serverless::Function
    Properties:
      MemorySize: 1024
      Environment: {Variables: {B: own-b, C: own-c}}
  Two:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: two}}
    Properties: {Timeout: 20, ReservedConcurrentExecutions: 5}
"#;
        let template = parse(
            yaml,
            &input(&[], &[("A", "override-a"), ("D", "override-d")]),
        )
        .unwrap();
        let one = function(&template, "One");
        assert_eq!(
            (
                one.binary.as_str(),
                one.timeout,
                one.memory_mb,
                one.reserved_concurrency
            ),
            ("shared", Duration::from_secs(15), 1024, None)
        );
        assert_eq!(
            one.environment,
            pairs(&[
                ("A", "override-a"),
                ("B", "own-b"),
                ("C", "own-c"),
                ("D", "override-d")
            ])
        );
        let two = function(&template, "Two");
        assert_eq!(
            (
                two.binary.as_str(),
                two.timeout,
                two.memory_mb,
                two.reserved_concurrency
            ),
            ("two", Duration::from_secs(20), 512, Some(5))
        );
        assert_eq!(
            two.environment,
            pairs(&[("A", "override-a"), ("B", "global-b"), ("D", "override-d")])
        );
    }

    #[test]
    fn http_api_with_lambda_authorizer() {
        let yaml = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: $default
      DefaultRouteSettings: {ThrottlingBurstLimit: 50, ThrottlingRateLimit: 25}
      RouteSettings:
        "PUT /files/{proxy+}": {ThrottlingRateLimit: 0.5}
      Auth:
        DefaultAuthorizer: JwtLambda
        Authorizers:
          JwtLambda:
            FunctionArn: !GetAtt AuthFn.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [Authorization]
              QueryStrings: [token]
              ReauthorizeEvery: 120
          ByName:
            FunctionArn: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthFn.Arn}/invocations"
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
  AuthFn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/authorizer}
  Files:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/files
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: "/files/{proxy+}"}
        Put:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: put
            Path: "/files/{proxy+}"
            Auth: {Authorizer: ByName}
        Health:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: "*"
            Path: /health
            Auth: {Authorizer: NONE}
            RouteSettings: {ThrottlingBurstLimit: 2}
  Fallback:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fallback
      Events:
        Default: {Type: HttpApi}
"#;
        let template = parse_ok(yaml, &[]);
        let jwt = AuthorizerDef {
            name: "JwtLambda".into(),
            function: "AuthFn".into(),
            identity_sources: vec![
                "$request.header.Authorization".into(),
                "$request.querystring.token".into(),
            ],
            result_ttl: Duration::from_secs(120),
        };
        let by_name = AuthorizerDef {
            name: "ByName".into(),
            function: "AuthFn".into(),
            identity_sources: vec![],
            result_ttl: Duration::ZERO,
        };
        assert_eq!(
            template.http_routes,
            [
                HttpRoute {
                    function: "Fallback".into(),
                    method: "ANY".into(),
                    path: "$default".into(),
                    authorizer: None,
                    integration_timeout: MAX_INTEGRATION_TIMEOUT,
                    throttle: None,
                },
                HttpRoute {
                    function: "Files".into(),
                    method: "GET".into(),
                    path: "/files/{proxy+}".into(),
                    authorizer: Some(jwt),
                    integration_timeout: MAX_INTEGRATION_TIMEOUT,
                    throttle: Some(RouteThrottle {
                        burst_limit: 50,
                        rate_limit: 25.0
                    }),
                },
                HttpRoute {
                    function: "Files".into(),
                    method: "PUT".into(),
                    path: "/files/{proxy+}".into(),
                    authorizer: Some(by_name),
                    integration_timeout: MAX_INTEGRATION_TIMEOUT,
                    // The route's own rate, the default burst.
                    throttle: Some(RouteThrottle {
                        burst_limit: 50,
                        rate_limit: 0.5
                    }),
                },
                HttpRoute {
                    function: "Files".into(),
                    method: "ANY".into(),
                    path: "/health".into(),
                    authorizer: None,
                    integration_timeout: MAX_INTEGRATION_TIMEOUT,
                    throttle: Some(RouteThrottle {
                        burst_limit: 2,
                        rate_limit: 25.0
                    }),
                },
            ]
        );
        assert_eq!(template.warnings, Vec::<String>::new());

        let e = parse_err(
            &yaml.replace("Authorizer: NONE", "Authorizer: Missing"),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.Files.Properties.Events.Health.Properties.Auth.Authorizer: HttpApi Api has no authorizer Missing"
        );
        let e = parse_err(&yaml.replace("Method: put", "Method: GET"), &[]);
        assert_eq!(
            e.to_string(),
            "Resources.Files.Properties.Events.Put: route GET /files/{proxy+} of HttpApi Api is already declared by Files.Get"
        );
        let e = parse_err(
            &yaml.replace(
                "FunctionArn: !GetAtt AuthFn.Arn",
                "FunctionArn: arn:aws:lambda:eu-central-1:1:function:elsewhere",
            ),
            &[],
        );
        assert_eq!(
            e.path,
            "Resources.Api.Properties.Auth.Authorizers.JwtLambda.FunctionArn"
        );
    }

    #[test]
    fn schedules() {
        let yaml = r#"
Resources:
  Report:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/report
      Events:
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
            Input: '{"kind": "nightly", "limit": 10}'
            Enabled: false
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            State: DISABLED
        EveryTwoDays:
          Type: Schedule
          Properties: {Schedule: rate(2 days)}
        Five:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(5 minutes)
            ScheduleExpressionTimezone: Europe/Moscow
"#;
        let template = parse_ok(yaml, &[]);
        let summary: Vec<(&str, &ScheduleExpression, bool)> = template
            .schedules
            .iter()
            .map(|s| (s.id.as_str(), &s.expression, s.enabled))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "Report.EveryTwoDays",
                    &ScheduleExpression::Rate(Duration::from_secs(2 * 86_400)),
                    true
                ),
                (
                    "Report.Five",
                    &ScheduleExpression::Rate(Duration::from_secs(300)),
                    true
                ),
                (
                    "Report.Hourly",
                    &ScheduleExpression::Rate(Duration::from_secs(3600)),
                    false
                ),
                (
                    "Report.Nightly",
                    &ScheduleExpression::Cron("0 3 * * ? *".into()),
                    false
                ),
            ]
        );
        assert_eq!(
            template.schedules[3].input,
            Some(json!({"kind": "nightly", "limit": 10}))
        );
        assert!(template.schedules.iter().all(|s| s.function == "Report"));
        assert_eq!(
            template.warnings,
            [
                "function Report: event Five: ScheduleExpressionTimezone Europe/Moscow is not emulated; the schedule runs in UTC"
            ]
        );

        let long = format!(r#"'{{"pad": "{}"}}'"#, "x".repeat(MAX_SCHEDULE_INPUT_CHARS));
        let e = parse_err(
            &yaml.replace(r#"'{"kind": "nightly", "limit": 10}'"#, &long),
            &[],
        );
        assert!(
            e.to_string().contains("EventBridge allows at most 8192"),
            "{e}"
        );

        for bad in [
            "rate(0 minutes)",
            "rate(5 minute)",
            "rate(1 minutes)",
            "rate(five minutes)",
            "rate(5 seconds)",
            "every 5 minutes",
            "cron(0 3 * *)",
        ] {
            let e = parse_err(&yaml.replace("rate(2 days)", bad), &[]);
            assert_eq!(
                e.path, "Resources.Report.Properties.Events.EveryTwoDays.Properties.Schedule",
                "{bad}: {e}"
            );
            assert!(
                e.message
                    .contains(bad.trim_end_matches(')').trim_start_matches("cron(")),
                "{bad}: {e}"
            );
        }
        let e = parse_err(&yaml.replace("\"limit\": 10}'", "\"limit\": }'"), &[]);
        assert_eq!(
            e.path,
            "Resources.Report.Properties.Events.Nightly.Properties.Input"
        );
    }

    #[test]
    fn kafka_events_and_mappings() {
        let yaml = r#"
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/consumer/
      Events:
        Msk:
          Type: MSK
          Properties:
            Stream: arn:aws:kafka:eu-central-1:000000000000:cluster/demo/1
            Topics: [orders]
            StartingPosition: LATEST
            AmazonManagedKafkaEventSourceConfig: {ConsumerGroupId: orders-group}
            FunctionResponseTypes: [ReportBatchItemFailures]
        SelfManaged:
          Type: SelfManagedKafka
          Properties:
            KafkaBootstrapServers: [a:9092, b:9092]
            Topics: [payments]
            StartingPosition: TRIM_HORIZON
            SelfManagedKafkaEventSourceConfig: {ConsumerGroupId: payments-group}
            FilterCriteria: {Filters: [{Pattern: '{"value": {"kind": ["x"]}}'}]}
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Queue.Arn}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !GetAtt Consumer.Arn
      SelfManagedEventSource:
        Endpoints:
          KAFKA_BOOTSTRAP_SERVERS: [c:9092]
      Topics: [audit-events]
      FunctionResponseTypes: [ReportBatchItemFailures]
      MaximumRetryAttempts: 3
      Enabled: false
      DestinationConfig: {OnFailure: {Destination: !GetAtt Queue.Arn}}
  SqsMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Consumer
      EventSourceArn: !GetAtt Queue.Arn
  ElsewhereMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: other-stack-function
      EventSourceArn: arn:aws:kafka:eu-central-1:000000000000:cluster/demo/1
      Topics: [x]
"#;
        let template = parse_ok(yaml, &[]);
        let mappings = &template.kafka_mappings;
        assert_eq!(mappings.len(), 3, "{mappings:#?}");

        assert_eq!(mappings[0].id, "Consumer.Msk");
        assert_eq!(
            mappings[0].source,
            KafkaSourceDef::Msk {
                cluster_arn: "arn:aws:kafka:eu-central-1:000000000000:cluster/demo/1".into()
            }
        );
        assert_eq!(mappings[0].consumer_group_id, "orders-group");
        assert_eq!(mappings[0].starting_position, StartingPosition::Latest);
        assert!(mappings[0].report_batch_item_failures);
        assert_eq!(
            mappings[0].maximum_batching_window,
            Duration::from_millis(500)
        );

        assert_eq!(mappings[1].id, "Consumer.SelfManaged");
        assert_eq!(
            mappings[1].source,
            KafkaSourceDef::SelfManaged {
                bootstrap_servers: "a:9092,b:9092".into()
            }
        );
        assert_eq!(mappings[1].consumer_group_id, "payments-group");
        assert_eq!(mappings[1].topics, ["payments"]);

        assert_eq!(
            mappings[2],
            KafkaMappingDef {
                id: "Mapping".into(),
                function: "Consumer".into(),
                source: KafkaSourceDef::SelfManaged {
                    bootstrap_servers: "c:9092".into()
                },
                topics: vec!["audit-events".into()],
                consumer_group_id: "local-consumer".into(),
                batch_size: 100,
                maximum_batching_window: Duration::from_millis(500),
                starting_position: StartingPosition::TrimHorizon,
                on_failure_destination: Some("arn:aws:sqs:eu-central-1:000000000000:Queue".into()),
                report_batch_item_failures: true,
                maximum_retry_attempts: 3,
                source_access: Vec::new(),
                enabled: false,
            }
        );
        assert_eq!(
            template.warnings,
            [
                "event source mapping ElsewhereMapping: FunctionName other-stack-function is not a function of this template; the mapping is ignored",
                "event source mapping Mapping: StartingPosition is not set; using TRIM_HORIZON",
                "event source mapping SqsMapping: the SQS event source arn:aws:sqs:eu-central-1:000000000000:Queue for function Consumer is not emulated",
                "function Consumer: event Queue of type SQS is not emulated",
                "function Consumer: event SelfManaged: property FilterCriteria is not supported locally and is ignored",
            ]
        );

        let e = parse_err(
            &yaml.replace("StartingPosition: LATEST", "StartingPosition: NEWEST"),
            &[],
        );
        assert_eq!(
            e.path,
            "Resources.Consumer.Properties.Events.Msk.Properties.StartingPosition"
        );
        let e = parse_err(
            &yaml.replace("MaximumRetryAttempts: 3", "MaximumRetryAttempts: many"),
            &[],
        );
        assert_eq!(e.path, "Resources.Mapping.Properties.MaximumRetryAttempts");
        let e = parse_err(
            &yaml.replace(
                "{Destination: !GetAtt Queue.Arn}",
                "{Destination: kafka://audit-events}",
            ),
            &[],
        );
        assert!(
            e.message.contains("other than the ones the mapping reads"),
            "{e:?}"
        );
    }

    #[test]
    fn unsupported_things_are_warned_about() {
        let yaml = r#"
Globals:
  Function:
    CodeUri: functions/x/
    DeadLetterQueue: {Type: SQS, TargetArn: arn:aws:sqs:eu-central-1:000000000000:dlq}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Layers: [arn:aws:lambda:eu-central-1:000000000000:layer:x:1]
      FileSystemConfigs: []
      Policies: [AWSLambdaBasicExecutionRole]
      VpcConfig: {SubnetIds: [a], SecurityGroupIds: [b]}
      Tracing: Active
      Events:
        Rest: {Type: Api, Properties: {Path: /x, Method: get}}
        Http: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /x, Method: GET}}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: prod
      CorsConfiguration: true
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {issuer: "https://issuer.example", audience: [servicehub]}
  Plain:
    Type: AWS::Lambda::Function
    Properties: {Handler: x, Runtime: python3.12, Code: {ZipFile: "x"}, Role: arn:aws:iam::000000000000:role/x}
"#;
        let template = parse_ok(yaml, &[]);
        assert_eq!(template.http_routes.len(), 1);
        assert_eq!(template.http_routes[0].authorizer, None);
        assert_eq!(
            template.warnings,
            [
                "HttpApi Api: StageName prod is not emulated; the local gateway serves the routes at the root",
                "HttpApi Api: authorizer Jwt is a JWT authorizer, which is not emulated; its routes are served without authorization",
                "HttpApi Api: property CorsConfiguration is not supported locally and is ignored",
                "function Fn: event Rest of type Api is not emulated",
                "function Fn: property DeadLetterQueue is not supported locally and is ignored",
                "function Fn: property FileSystemConfigs is not supported locally and is ignored",
                "function Fn: property Layers is not supported locally and is ignored",
                "resource Plain of type AWS::Lambda::Function is not emulated",
            ]
        );
    }

    fn function_yaml(properties: &str) -> String {
        format!(
            "Resources:\n  CreateRequestFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n{properties}"
        )
    }

    #[test]
    fn errors_carry_their_yaml_path() {
        let e = parse_err(
            &function_yaml("      CodeUri: f/\n      Timeout: abc\n"),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.Timeout: expected a number of seconds, got \"abc\""
        );
        let e = parse_err(
            &function_yaml("      CodeUri: f/\n      MemorySize: 64\n"),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.MemorySize: must be between 128 and 10240, got 64"
        );
        let e = parse_err(&function_yaml("      CodeUri: .\n"), &[]);
        assert_eq!(e.path, "Resources.CreateRequestFunction.Properties.CodeUri");
        assert!(e.message.contains("Metadata.BuildProperties.Binary"), "{e}");
        let e = parse_err(&function_yaml("      Timeout: 5\n"), &[]);
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.CodeUri: missing: set CodeUri or Metadata.BuildProperties.Binary"
        );

        let e = parse_err("Resources: [a, b]\n", &[]);
        assert_eq!(
            e.to_string(),
            "Resources: must be a mapping, got [\"a\",\"b\"]"
        );
        let e = parse_err("Resources:\n  X: {Properties: {}}\n", &[]);
        assert_eq!(e.path, "Resources.X.Type");
    }

    #[test]
    fn unknown_names_are_errors_wherever_they_are() {
        // In a property the runner never reads, too: CloudFormation rejects the template.
        let e = parse_err(
            &function_yaml(
                "      CodeUri: f/\n      Policies:\n        - SQSSendMessagePolicy:\n            QueueName: !GetAtt Nope.QueueName\n",
            ),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.Policies[0].SQSSendMessagePolicy.QueueName.Fn::GetAtt: Fn::GetAtt of unknown resource \"Nope\""
        );
        let e = parse_err(
            &function_yaml(
                "      CodeUri: f/\n      Environment:\n        Variables:\n          X: !Ref Nope\n",
            ),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.Environment.Variables.X.Ref: Ref to unknown parameter or resource Nope"
        );
        let e = parse_err(
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Condition: Missing\n    Properties: {CodeUri: f/}\n",
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.Fn.Condition: unknown Condition Missing"
        );
        let e = parse_err(
            &function_yaml("      CodeUri: f/\n      Timeout: !If [Missing, 1, 2]\n"),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.Timeout.Fn::If[0]: unknown Condition Missing"
        );
        let e = parse_err(
            "Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Condition: A\n    Properties: {CodeUri: f/}\n",
            &[],
        );
        assert!(e.message.starts_with("circular condition"), "{e}");
    }

    #[test]
    fn parameters_without_a_value_only_matter_when_used() {
        let yaml = "Parameters:\n  Unused: {Type: String}\n  Used: {Type: String}\n  Long: {Type: String, Default: abc, MaxLength: 2}\n";
        let unused = format!("{yaml}{}", function_yaml("      CodeUri: f/\n"));
        assert_eq!(
            parse(&unused, &input(&[("Long", "ab")], &[]))
                .unwrap()
                .functions
                .len(),
            1
        );
        let e = parse(&unused, &input(&[], &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Parameters.Long: value \"abc\" is longer than MaxLength 2"
        );
        let used = format!(
            "{yaml}{}",
            function_yaml(
                "      CodeUri: f/\n      Environment:\n        Variables:\n          X: !Ref Used\n"
            )
        );
        let e = parse(&used, &input(&[("Long", "ab")], &[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Resources.CreateRequestFunction.Properties.Environment.Variables.X.Ref: parameter Used has no value: it has no Default and none was given"
        );
        let template = parse(&used, &input(&[("Long", "ab"), ("Used", "yes")], &[])).unwrap();
        assert_eq!(env(&template, "CreateRequestFunction")["X"], "yes");
    }

    #[test]
    fn malformed_yaml() {
        let e = parse_err(
            "Resources:\n  Fn:\n    Type: [unclosed\n    Properties: {}\n",
            &[],
        );
        assert_eq!(e.path, "template");
        assert!(e.message.starts_with("invalid YAML: "), "{e}");
        assert!(e.message.contains("at line 4 column 15"), "{e}");
        let e = parse_err("Resources:\n  A: {Type: X}\n  A: {Type: Y}\n", &[]);
        assert!(e.message.contains("duplicate entry with key \"A\""), "{e}");
        let e = parse_err("Resources:\n  Fn: !Bogus x\n", &[]);
        assert_eq!(
            e.to_string(),
            "Resources.Fn.!Bogus: unknown YAML tag !Bogus"
        );
        let e = parse_err("just a string\n", &[]);
        assert_eq!(e.to_string(), "template: the template is not a mapping");

        let e = load(&TemplateInput {
            path: PathBuf::from("/nonexistent/template.yaml"),
            ..TemplateInput::default()
        })
        .unwrap_err();
        assert_eq!(e.path, "/nonexistent/template.yaml");
        assert!(e.message.starts_with("cannot read the template"), "{e}");
    }

    #[test]
    fn short_tags_become_long_form() {
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "a: !Ref X\nb: !GetAtt A.B.C\nc: !If [C, !Sub \"${X}\", !Ref AWS::NoValue]\nd: !Condition C\ne: !!str 5\n",
        )
        .unwrap();
        assert_eq!(
            normalize(raw, "").unwrap(),
            json!({
                "a": {"Ref": "X"},
                "b": {"Fn::GetAtt": ["A", "B.C"]},
                "c": {"Fn::If": ["C", {"Fn::Sub": "${X}"}, {"Ref": "AWS::NoValue"}]},
                "d": {"Condition": "C"},
                "e": "5",
            })
        );
    }
}
