//! `template.yaml` read into what the local runner needs: functions, HTTP routes, Kafka event
//! source mappings and schedules, with parameters, conditions and intrinsic functions resolved.

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub function: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    pub path: String,
    /// The Lambda REQUEST authorizer protecting the route, if any.
    pub authorizer: Option<AuthorizerDef>,
}

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
    pub enabled: bool,
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
}
