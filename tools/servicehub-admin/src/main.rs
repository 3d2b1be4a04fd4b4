//! Operator commands that are not Lambda functions: create the Kafka topics from the topic table,
//! apply the database migrations, create the ClickHouse audit tables, inspect and replay dead
//! letters. Works against the local dev services and production alike.

mod dlq;
mod functions;
mod kafka;
mod lag;
mod monitoring;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use servicehub_events::topic::all_topic_specs;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "servicehub operator commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Kafka topics.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// The database.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// The ClickHouse audit store.
    Clickhouse {
        #[command(subcommand)]
        action: ClickhouseAction,
    },
    /// Consumer lag of every Kafka event source mapping of a template: per partition the
    /// committed offset, the end, the lag and the age of the oldest record not yet consumed.
    Lag {
        #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap_servers: String,
        #[arg(long, default_value = "template.yaml")]
        template: std::path::PathBuf,
        /// JSON object of parameter values (the consumer group names may depend on them).
        #[arg(long, default_value = "tools/local-parameters.json")]
        parameters_file: std::path::PathBuf,
        /// A parameter value, NAME=VALUE (repeatable).
        #[arg(long = "parameter", value_parser = local_runner::template::parse_key_value)]
        parameters: Vec<(String, String)>,
    },
    /// Regenerates template.yaml from the declarations: every function, its log group and its
    /// Kafka triggers from `functions/<name>/function.yaml`, then the alarms and the operations
    /// dashboard from those (an error alarm per function, an OffsetLag alarm per mapping, a
    /// dead-letter alarm per consumer, the API's 5xx); and the README's function tables (the
    /// README.md beside the template).
    #[command(alias = "monitoring")]
    Template {
        #[arg(long, default_value = "template.yaml")]
        template: std::path::PathBuf,
        /// Only check: exit 1 when the committed template is stale.
        #[arg(long)]
        check: bool,
    },
    /// Connects to Kafka exactly as a function does (`KAFKA_BOOTSTRAP_SERVERS` or
    /// `MSK_CLUSTER_ARN` discovery, `KAFKA_AUTH` and its secrets, `KAFKA_PROPERTY_*`) and says
    /// where it connected and what it found; fails with the setting to fix when the cluster
    /// refuses the credentials. Run it with a function's environment before a deploy.
    KafkaCheck,
    /// Dead letters: the records consumers gave up on, in the `<topic>.dlq` topics.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// One line per dead letter: where it sits, where it came from, who gave up on it and why.
    List {
        #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap_servers: String,
        /// Only this dead-letter topic (repeatable); default every `<topic>.dlq`.
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// The newest this many records of each partition.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One dead letter in full: headers, key and value.
    Show {
        #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap_servers: String,
        /// The dead-letter topic, e.g. request-events.dlq.
        topic: String,
        /// `<partition>:<offset>`, as `list` prints them.
        #[arg(value_parser = dlq::parse_position)]
        position: (i32, i64),
    },
    /// Replays dead letters to their source topic with their original key, value and headers
    /// (plus `dlq_replayed_from`), each at most once: replays are recorded in the database.
    Replay {
        #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap_servers: String,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
        /// The dead-letter topic, e.g. request-events.dlq.
        topic: String,
        /// `<partition>:<offset>` of each record to replay.
        #[arg(value_parser = dlq::parse_position, required_unless_present = "all")]
        positions: Vec<(i32, i64)>,
        /// Every record of the topic (those replayed before are skipped).
        #[arg(long, conflicts_with = "positions")]
        all: bool,
    },
}

#[derive(Subcommand)]
enum ClickhouseAction {
    /// Creates the audit database, its events table and lookup views if they are missing.
    Migrate {
        /// The HTTP interface, e.g. http://127.0.0.1:58123.
        #[arg(long, env = "CLICKHOUSE_URL")]
        url: String,
        #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = "servicehub")]
        database: String,
        #[arg(long, env = "CLICKHOUSE_USER", default_value = "default")]
        user: String,
        #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Creates every topic of the topic table and its .dlq twin; existing topics are left as they are.
    Create {
        #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
        bootstrap_servers: String,
        /// Replication is capped at the cluster's broker count (1 locally, 3 in production).
        #[arg(long)]
        max_replication: Option<i32>,
    },
    /// Prints the topic table.
    List,
}

#[derive(Subcommand)]
enum DbAction {
    /// Applies the migrations not yet applied.
    Migrate {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Topics {
            action: TopicsAction::List,
        } => {
            for spec in all_topic_specs() {
                println!(
                    "{:<24} partitions={:<2} retention_ms={:<12} replication={} min.insync.replicas={}",
                    spec.name,
                    spec.partitions,
                    spec.retention_ms,
                    spec.replication_factor,
                    spec.min_insync_replicas
                );
            }
            Ok(())
        }
        Command::Topics {
            action:
                TopicsAction::Create {
                    bootstrap_servers,
                    max_replication,
                },
        } => create_topics(&bootstrap_servers, max_replication).await,
        Command::Dlq { action } => run_dlq(action).await,
        Command::KafkaCheck => kafka_check().await,
        Command::Template { template, check } => {
            let text = std::fs::read_to_string(&template)
                .with_context(|| format!("reading {}", template.display()))?;
            let root = template
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let declared = functions::load(root)?;
            let readme = root.join("README.md");
            let readme_text = std::fs::read_to_string(&readme)
                .with_context(|| format!("reading {}", readme.display()))?;
            for (path, text, current) in [
                (&template, &text, functions::regenerate(&text, &declared)?),
                (
                    &readme,
                    &readme_text,
                    functions::regenerate_readme(&readme_text, &declared)?,
                ),
            ] {
                if current == *text {
                    println!("{}: current", path.display());
                } else if check {
                    bail!("{}: stale; run `servicehub-admin template`", path.display());
                } else {
                    std::fs::write(path, current)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("{}: regenerated", path.display());
                }
            }
            Ok(())
        }
        Command::Lag {
            bootstrap_servers,
            template,
            parameters_file,
            parameters,
        } => {
            let file = parameters_file
                .exists()
                .then_some(parameters_file.as_path());
            let model = lag::load_template(&template, file, &parameters, &bootstrap_servers)?;
            kafka::connect_to(&bootstrap_servers).await?;
            let rows = tokio::task::spawn_blocking(move || {
                lag::measure(&bootstrap_servers, &model.kafka_mappings)
            })
            .await??;
            print!("{}", lag::render(&rows));
            Ok(())
        }
        Command::Db {
            action: DbAction::Migrate { database_url },
        } => {
            let pool = sqlx::PgPool::connect(&database_url)
                .await
                .context("connecting to the database")?;
            servicehub_platform::db::migrate(&pool)
                .await
                .context("applying migrations")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Clickhouse {
            action:
                ClickhouseAction::Migrate {
                    url,
                    database,
                    user,
                    password,
                },
        } => {
            let mut vars = vec![
                ("CLICKHOUSE_URL".to_owned(), url),
                ("CLICKHOUSE_DATABASE".to_owned(), database),
                ("CLICKHOUSE_USER".to_owned(), user),
            ];
            vars.extend(password.map(|p| ("CLICKHOUSE_PASSWORD".to_owned(), p)));
            let config = servicehub_audit::ClickHouseConfig::from_vars(vars)?;
            let database = config.database.clone();
            let clickhouse = servicehub_audit::ClickHouse::new(config)?;
            servicehub_audit::schema::migrate(&clickhouse)
                .await
                .context("creating the ClickHouse tables")?;
            println!("clickhouse database {database} ready");
            Ok(())
        }
    }
}

async fn create_topics(bootstrap_servers: &str, max_replication: Option<i32>) -> Result<()> {
    kafka::connect_to(bootstrap_servers).await?;
    let admin: AdminClient<_> = kafka::client_config()
        .set("bootstrap.servers", bootstrap_servers)
        .create_with_context(kafka::context())
        .context("creating the Kafka admin client")?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .context("reading cluster metadata")?;
    let brokers = max_replication.unwrap_or(metadata.brokers().len() as i32);
    let specs: Vec<_> = all_topic_specs()
        .into_iter()
        .map(|s| s.for_cluster(brokers))
        .collect();
    let retention: Vec<String> = specs.iter().map(|s| s.retention_ms.to_string()).collect();
    let min_isr: Vec<String> = specs
        .iter()
        .map(|s| s.min_insync_replicas.to_string())
        .collect();
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(retention.iter().zip(&min_isr))
        .map(|(spec, (retention, min_isr))| {
            NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(spec.replication_factor),
            )
            .set("retention.ms", retention)
            .set("min.insync.replicas", min_isr)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&topics, &options)
        .await
        .context("creating topics")?;
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(name) => println!("created {name}"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => println!("exists  {name}"),
            Err((name, code)) => failed.push(format!("{name}: {code}")),
        }
    }
    if !failed.is_empty() {
        bail!("could not create topics: {}", failed.join(", "));
    }
    Ok(())
}

async fn run_dlq(action: DlqAction) -> Result<()> {
    let (DlqAction::List {
        bootstrap_servers, ..
    }
    | DlqAction::Show {
        bootstrap_servers, ..
    }
    | DlqAction::Replay {
        bootstrap_servers, ..
    }) = &action;
    kafka::connect_to(bootstrap_servers).await?;
    match action {
        DlqAction::List {
            bootstrap_servers,
            topics,
            limit,
        } => {
            let records =
                tokio::task::spawn_blocking(move || dlq::list(&bootstrap_servers, topics, limit))
                    .await??;
            for record in &records {
                println!("{}", dlq::summary(record));
            }
            eprintln!("{} dead letters", records.len());
        }
        DlqAction::Show {
            bootstrap_servers,
            topic,
            position,
        } => {
            let records = tokio::task::spawn_blocking(move || {
                dlq::fetch(&bootstrap_servers, &topic, &[position])
            })
            .await??;
            print!("{}", dlq::details(&records[0]));
        }
        DlqAction::Replay {
            bootstrap_servers,
            database_url,
            topic,
            positions,
            all,
        } => {
            let producer = dlq::producer(&bootstrap_servers, &database_url).await?;
            let pool = sqlx::PgPool::connect(&database_url)
                .await
                .context("connecting to the database")?;
            let records = tokio::task::spawn_blocking(move || {
                if all {
                    dlq::fetch_all(&bootstrap_servers, &topic)
                } else {
                    dlq::fetch(&bootstrap_servers, &topic, &positions)
                }
            })
            .await??;
            for record in &records {
                let at = format!("{}/{}/{}", record.topic, record.partition, record.offset);
                match dlq::replay(&pool, &producer, record).await? {
                    dlq::Replayed::Done { source_topic } => {
                        println!("replayed {at} to {source_topic}")
                    }
                    dlq::Replayed::AlreadyDone => println!("skipped  {at}: replayed before"),
                    dlq::Replayed::NotADeadLetter => println!("skipped  {at}: not a dead letter"),
                }
            }
        }
    }
    Ok(())
}

async fn kafka_check() -> Result<()> {
    let config = servicehub_platform::Config::without_database_from_env("servicehub-admin")?;
    let producer = servicehub_platform::kafka::EventProducer::connect(&config).await?;
    let (brokers, topics) = producer
        .describe_cluster()
        .await
        .context("no broker answered")?;
    println!(
        "connected to {} with KAFKA_AUTH={}{}: {brokers} brokers, {topics} topics",
        producer.bootstrap_servers(),
        config.kafka.auth,
        match (
            &config.kafka.bootstrap_servers,
            &config.kafka.msk_cluster_arn
        ) {
            (None, Some(cluster)) => format!(" (bootstrap string of {cluster})"),
            _ => String::new(),
        }
    );
    Ok(())
}
