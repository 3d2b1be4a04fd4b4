use super::*;
use serde_json::json;

/// This checkout's repository root, from cargo's run-time `CARGO_MANIFEST_DIR`: a test binary
/// reused from another checkout's build (the target dir is shared) must read this one's files.
fn repo() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("../..")
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
