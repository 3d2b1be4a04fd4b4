//! `local-runner`: runs template.yaml locally. See the crate docs and the README.

use anyhow::{Context, Result, bail};
use clap::Parser;
use local_lambda::FunctionSpec;
use local_runner::gateway::{self, BoundRoute, Gateway};
use local_runner::kafka_trigger::MappingRunner;
use local_runner::pool::FunctionPool;
use local_runner::schedule;
use local_runner::template::{self, TemplateInput};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Variables passed from the runner's environment to every function, replacing what the template
/// sets: the AWS SDKs' endpoint, region and credentials (moto, say), plus the names
/// `LOCAL_RUNNER_PASS_ENV` lists (comma-separated: a local database's URL instead of the template's
/// Secrets Manager reference, for instance).
const PASSED_BY_DEFAULT: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
];

/// [`PASSED_BY_DEFAULT`] and `LOCAL_RUNNER_PASS_ENV`'s names.
fn passed_variables() -> Vec<String> {
    let listed = std::env::var("LOCAL_RUNNER_PASS_ENV").unwrap_or_default();
    let mut names: Vec<String> = PASSED_BY_DEFAULT.iter().map(|n| n.to_string()).collect();
    names.extend(
        listed
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
    );
    names
}

#[derive(Parser)]
#[command(
    about = "Runs template.yaml locally: API Gateway HTTP API, Lambda environments, Kafka triggers, schedules"
)]
struct Cli {
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// JSON object of parameter values, e.g. tools/local-parameters.json.
    #[arg(long)]
    parameters_file: Option<PathBuf>,
    /// A parameter value, NAME=VALUE (repeatable); also from TEMPLATE_PARAMETER_<NAME> variables.
    #[arg(long = "parameter", value_parser = template::parse_key_value)]
    parameters: Vec<(String, String)>,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The HTTP API's port; 0 takes a free one (the "HTTP API" line says which).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Where the function binaries are; defaults to the folder of this binary (the cargo target dir).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Concurrent environments per function when the template reserves no concurrency.
    #[arg(long, default_value_t = 4)]
    max_concurrency: usize,
    /// Invocations of one function under way or waiting for an environment before the next is
    /// throttled, when the template reserves no concurrency (Lambda's default account limit).
    #[arg(long, default_value_t = local_runner::pool::ACCOUNT_CONCURRENCY)]
    account_concurrency: usize,
    /// Freeze an environment (SIGSTOP) once it has been idle this long, as Lambda freezes one
    /// between invocations, so that idle functions cost no CPU; the next invocation thaws it.
    /// Also `LOCAL_RUNNER_FREEZE_AFTER_MS`.
    #[arg(long, env = "LOCAL_RUNNER_FREEZE_AFTER_MS", default_value_t = 1000)]
    freeze_after_ms: u64,
    /// Never freeze idle environments (their librdkafka and timer threads then keep waking).
    /// Also `LOCAL_RUNNER_NO_FREEZE=1`.
    #[arg(
        long,
        env = "LOCAL_RUNNER_NO_FREEZE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    no_freeze: bool,
    /// Do not poll Kafka.
    #[arg(long)]
    no_kafka: bool,
    /// Start every Kafka trigger at the end of its topics, skipping what was produced while the
    /// runner was down (AWS resumes from the committed offsets; this is for dev topics shared
    /// with tests).
    #[arg(long)]
    skip_backlog: bool,
    /// Do not fire schedules.
    #[arg(long)]
    no_schedules: bool,
    /// Fire every `rate(...)` schedule once at start, as if it had been running all along
    /// (EventBridge first fires a rule one period after it is created).
    /// Also `LOCAL_RUNNER_FIRE_SCHEDULES_AT_START=1`.
    #[arg(long)]
    fire_schedules_at_start: bool,
    /// A JSON file of function environment values in `sam local --env-vars` form:
    /// `{"NotifyFunction": {"NOTIFY_CLAIM_LEASE_SECONDS": "20"}, "Parameters": {...}}` (`Parameters`
    /// applies to every function); only variables the template declares are replaced.
    /// Also `LOCAL_RUNNER_ENV_VARS=<file>`.
    #[arg(long)]
    env_vars: Option<PathBuf>,
}

/// A JSON file of the shape `expected` names.
fn read_json<T: serde::de::DeserializeOwned>(file: &Path, expected: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not {expected}", file.display()))
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCAL_RUNNER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let started = Instant::now();
    let cli = Cli::parse();

    let mut parameters: BTreeMap<String, String> = match &cli.parameters_file {
        Some(file) => template::read_parameters_file(file).map_err(anyhow::Error::msg)?,
        None => BTreeMap::new(),
    };
    for (name, value) in std::env::vars() {
        if let Some(name) = name.strip_prefix("TEMPLATE_PARAMETER_") {
            parameters.insert(name.to_owned(), value);
        }
    }
    parameters.extend(cli.parameters.iter().cloned());
    let kafka = std::env::var("KAFKA_BOOTSTRAP_SERVERS").ok();
    let environment_overrides = passed_variables()
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
        .chain(
            std::env::var("FUNCTION_RUST_LOG")
                .ok()
                .map(|v| ("RUST_LOG".to_owned(), v)),
        )
        // A service's own endpoint (the AWS SDKs' AWS_ENDPOINT_URL_<SERVICE>, e.g. _SESV2).
        .chain(std::env::vars().filter(|(name, _)| name.starts_with("AWS_ENDPOINT_URL_")))
        .collect();
    let env_vars_file = cli
        .env_vars
        .clone()
        .or_else(|| std::env::var_os("LOCAL_RUNNER_ENV_VARS").map(PathBuf::from));
    let function_environment = match &env_vars_file {
        None => BTreeMap::new(),
        Some(file) => read_json::<BTreeMap<String, BTreeMap<String, serde_json::Value>>>(
            file,
            "{\"<function>\": {\"<VAR>\": \"value\"}}",
        )?
        .into_iter()
        .map(|(scope, vars)| {
            let vars = vars
                .into_iter()
                .map(|(name, value)| (name, template::value_text(value)))
                .collect();
            (scope, vars)
        })
        .collect(),
    };
    let model = template::load(&TemplateInput {
        path: cli.template.clone(),
        parameters,
        environment_overrides,
        function_environment,
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", cli.template.display()))?;
    for warning in &model.warnings {
        tracing::warn!(%warning, "template");
    }

    let bin_dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the runner's folder")?
            .to_path_buf(),
    };
    // Bound before the functions start, so that no port they take can be the one asked for.
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(cli.host, cli.port))
        .await
        .with_context(|| format!("binding {}:{}", cli.host, cli.port))?;
    let address = listener.local_addr()?;
    let mut pools: HashMap<String, Arc<FunctionPool>> = HashMap::new();
    for function in &model.functions {
        let binary = bin_dir.join(&function.binary);
        if !binary.exists() {
            bail!(
                "{}: {} is not built (cargo build --bins)",
                function.logical_id,
                binary.display()
            );
        }
        // The logical id names the function in AWS_LAMBDA_FUNCTION_NAME and in every log line.
        let spec = FunctionSpec {
            name: function.logical_id.clone(),
            binary,
            env: function
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: function.timeout,
            memory_mb: function.memory_mb,
        };
        // Reserved concurrency is both the environments and the limit; otherwise invocations
        // past the environments wait, up to the account's limit.
        let (environments, limit) = match function.reserved_concurrency {
            Some(reserved) => (reserved as usize, reserved as usize),
            None => (cli.max_concurrency, cli.account_concurrency),
        };
        pools.insert(
            function.logical_id.clone(),
            FunctionPool::with_limit(spec, environments, limit),
        );
    }
    for pool in pools.values() {
        pool.prewarm().await.map_err(anyhow::Error::msg)?;
    }

    let pool_of = |logical_id: &str| {
        pools
            .get(logical_id)
            .cloned()
            .with_context(|| format!("no function {logical_id}"))
    };
    let mut routes = Vec::new();
    for route in &model.http_routes {
        let authorizer = match &route.authorizer {
            Some(definition) => Some((definition.clone(), pool_of(&definition.function)?)),
            None => None,
        };
        routes.push(BoundRoute {
            route: route.clone(),
            function: pool_of(&route.function)?,
            authorizer,
        });
    }

    let (stop, stopped) = watch::channel(false);
    let shutdown = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();

    if !cli.no_freeze {
        let pools: Vec<Arc<FunctionPool>> = pools.values().cloned().collect();
        let idle_for = Duration::from_millis(cli.freeze_after_ms);
        let stop_freezing = shutdown();
        tasks.spawn(async move {
            let mut stop_freezing = std::pin::pin!(stop_freezing);
            let mut tick = tokio::time::interval(
                idle_for.clamp(Duration::from_millis(100), Duration::from_secs(1)),
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop_freezing.as_mut() => break,
                    _ = tick.tick() => {}
                }
                for pool in &pools {
                    pool.freeze_idle(idle_for).await;
                }
            }
        });
    }

    let gateway = Gateway::new(routes);
    let stop_gateway = shutdown();
    tasks.spawn(async move {
        if let Err(error) = gateway::serve(gateway, listener, stop_gateway).await {
            tracing::error!(%error, "gateway stopped");
        }
    });

    println!(
        "\nservicehub local runner: {} functions",
        model.functions.len()
    );
    println!("  HTTP API  http://{address}");
    for route in &model.http_routes {
        let auth = route
            .authorizer
            .as_ref()
            .map(|a| format!("  [authorizer {}]", a.name))
            .unwrap_or_default();
        println!(
            "    {:<7} {:<32} -> {}{auth}",
            route.method, route.path, route.function
        );
    }
    if !cli.no_kafka {
        let bootstrap = kafka.clone().context(
            "KAFKA_BOOTSTRAP_SERVERS is not set: start the dev services or pass --no-kafka",
        )?;
        // Secrets Manager (moto locally) for the mappings' SourceAccessConfigurations; resolved
        // once per distinct configuration.
        let mut secrets = None;
        let mut accesses = std::collections::HashMap::new();
        for mapping in model.kafka_mappings.iter().filter(|m| m.enabled) {
            println!(
                "  Kafka     {:<40} -> {} (group {}, batch {}, window {:?})",
                mapping.topics.join(","),
                mapping.function,
                mapping.consumer_group_id,
                mapping.batch_size,
                mapping.maximum_batching_window
            );
            if !accesses.contains_key(&mapping.source_access) {
                let access = if mapping.source_access.is_empty() {
                    Default::default()
                } else {
                    if secrets.is_none() {
                        let aws =
                            aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                        secrets = Some(aws_sdk_secretsmanager::Client::new(&aws));
                    }
                    local_runner::kafka_access::resolve(
                        &mapping.source_access,
                        secrets.as_ref().expect("just created"),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", mapping.id))?
                };
                accesses.insert(mapping.source_access.clone(), access);
            }
            let runner = MappingRunner::with_access(
                mapping.clone(),
                bootstrap.clone(),
                &accesses[&mapping.source_access],
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", mapping.id))?;
            let starting = if cli.skip_backlog {
                runner.skip_backlog().await
            } else {
                runner.pin_starting_position().await
            };
            starting.map_err(|e| anyhow::anyhow!("{}: {e}", mapping.id))?;
            let pool = pool_of(&mapping.function)?;
            let stop_mapping = shutdown();
            let id = mapping.id.clone();
            tasks.spawn(async move {
                if let Err(error) = runner.run(pool, stop_mapping).await {
                    tracing::error!(mapping = %id, %error, "Kafka trigger stopped");
                }
            });
        }
    }
    if !cli.no_schedules {
        let fire_at_start = cli.fire_schedules_at_start
            || std::env::var("LOCAL_RUNNER_FIRE_SCHEDULES_AT_START")
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        for schedule in model.schedules.iter().filter(|s| s.enabled) {
            println!(
                "  Schedule  {:<40} -> {}",
                format!("{:?}", schedule.expression),
                schedule.function
            );
            let pool = pool_of(&schedule.function)?;
            tasks.spawn(schedule::run(
                schedule.clone(),
                pool,
                fire_at_start,
                shutdown(),
            ));
        }
    }
    println!(
        "ready in {:.0} ms; Ctrl-C stops everything\n",
        started.elapsed().as_secs_f64() * 1000.0
    );
    tracing::info!(ready_ms = started.elapsed().as_secs_f64() * 1000.0, %address, "ready");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("stopping");
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    for pool in pools.values() {
        pool.shutdown().await;
    }
    tracing::info!("stopped");
    Ok(())
}
