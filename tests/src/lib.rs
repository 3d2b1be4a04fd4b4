//! Helpers for the workspace integration tests: a fresh database per test, the real function
//! binaries behind an emulated Lambda Runtime API, Kafka probes, and API Gateway / MSK payloads.
//!
//! The services come from `tools/dev-services up` (the README's test command starts them); the
//! tests read DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS and fail loudly when they are missing.

pub mod apigw;
pub mod kafka;
pub mod moto;
pub mod outage;
pub mod procstat;
pub mod runner;
pub mod stack;
pub mod telegram;

use local_lambda::{FunctionSpec, LambdaEnvironment};
use sqlx::{Connection, PgPool};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the dev services (tools/dev-services up) and eval \"$(tools/dev-services env)\", or run tools/test")
    })
}

/// A database of its own for one test, migrated, kept when the test ends (a failed test's data
/// stays there to look at); the next `tools/test` drops it (`prune-test-data`).
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
}

impl TestDatabase {
    pub async fn new() -> TestDatabase {
        let admin_url = required_env("DATABASE_URL");
        let name = format!("sh_test_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connecting to the dev database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        admin.close().await.ok();
        let url = replace_database(&admin_url, &name);
        let pool = PgPool::connect(&url)
            .await
            .expect("connecting to the test database");
        servicehub_platform::db::migrate(&pool)
            .await
            .expect("migrating the test database");
        TestDatabase { url, pool }
    }

    /// A function's clients on this database and the dev Kafka, for calling its use cases as a
    /// library, with no Lambda event or HTTP request.
    pub async fn services(&self, service_name: &str) -> servicehub_platform::Services {
        let config = servicehub_platform::Config::from_vars(
            [
                ("DATABASE_URL".to_owned(), self.url.clone()),
                (
                    "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
                    required_env("KAFKA_BOOTSTRAP_SERVERS"),
                ),
            ],
            service_name,
        )
        .expect("a valid configuration");
        servicehub_platform::Services::from_config(config)
            .await
            .expect("the function's clients")
    }

    /// A caller the authorizer would have vouched for.
    pub fn caller(
        user_id: Uuid,
        role: servicehub_events::values::Role,
        regions: &[&str],
    ) -> servicehub_platform::http::Caller {
        servicehub_platform::http::Caller {
            identity: servicehub_platform::http::Identity {
                user_id,
                role,
                regions: regions.iter().map(|r| r.to_string()).collect(),
            },
            trace: servicehub_platform::http::Trace {
                correlation_id: Uuid::now_v7(),
                traceparent: None,
            },
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = base
        .rsplit_once('/')
        .map(|(prefix, _)| prefix)
        .unwrap_or(base);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// The cargo profile the running binary (and so the functions beside it) was built in, for the
/// benchmarks' headings: `dev` for `target/debug`, else the folder's name (`local`, `release`).
pub fn build_profile() -> String {
    let exe = std::env::current_exe().expect("the executable's path");
    let mut dir = exe.parent().expect("the executable's folder");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".into(),
        Some(name) => name.into(),
    }
}

/// Where cargo put the function binaries: beside this test executable's `deps/` folder, or beside
/// this binary (the benchmarks).
/// Runs `servicehub-admin` with `args` in the repository root, the test's environment minus
/// `unset` plus `env`: whether it succeeded, and its stdout followed by its stderr.
pub fn run_admin(args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(binary_path("servicehub-admin"));
    command.current_dir(repo_root()).args(args);
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("running servicehub-admin");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let parent = exe.parent().expect("the executable's folder");
    let dir = if parent.ends_with("deps") {
        parent.parent().expect("target/<profile>")
    } else {
        parent
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (tools/test does)",
        path.display()
    );
    path
}

/// Starts the real binary of function `name` against `database_url` and the dev Kafka.
pub async fn start_function(
    name: &str,
    database_url: &str,
    extra_env: &[(&str, &str)],
) -> LambdaEnvironment {
    LambdaEnvironment::start(function_spec(name, database_url, extra_env))
        .await
        .expect("starting the function")
}

/// How [`start_function`] starts function `name`: for a pool of its environments.
pub fn function_spec(name: &str, database_url: &str, extra_env: &[(&str, &str)]) -> FunctionSpec {
    let mut env = vec![
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        (
            "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
            required_env("KAFKA_BOOTSTRAP_SERVERS"),
        ),
        ("SERVICE_NAME".to_owned(), name.to_owned()),
        (
            "RUST_LOG".to_owned(),
            std::env::var("FUNCTION_RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ),
        // No relay runs beside a lone function: a first publish slower than the deployed 200 ms
        // (a cold producer on a busy machine) would leave its events in the outbox for good.
        ("OUTBOX_PUBLISH_BUDGET_MS".to_owned(), "10000".to_owned()),
    ];
    env.extend(
        extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    FunctionSpec {
        name: name.to_owned(),
        binary: binary_path(name),
        env,
        timeout: Duration::from_secs(30),
        memory_mb: 256,
    }
}

/// The AWS settings of the dev services (moto), for functions that use AWS: endpoint, region,
/// credentials, the documents bucket.
pub fn aws_env() -> Vec<(&'static str, String)> {
    [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DOCUMENTS_BUCKET",
    ]
    .into_iter()
    .map(|name| (name, required_env(name)))
    .collect()
}

/// Inserts a user with a role and regions (the auth issue will create users through the API).
pub async fn insert_user(pool: &PgPool, role: &str, regions: &[&str]) -> Uuid {
    let id = Uuid::now_v7();
    let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
    sqlx::query(
        "INSERT INTO users (id, role, display_name, email, regions) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(role)
    .bind(format!("{role} {id}"))
    .bind(format!("{id}@example.test"))
    .bind(&regions)
    .execute(pool)
    .await
    .expect("inserting a user");
    id
}

/// Marks the user's current e-mail, phone and Telegram chat as proved, as an admin entering them
/// would (migration 0010): for users a test inserts directly, whom notify is to reach.
pub async fn vouch_contacts(pool: &PgPool, user_id: Uuid) {
    sqlx::query(
        "INSERT INTO contact_verifications (user_id, channel, address, verified_at, verified_by,
                                            created_at, updated_at)
         SELECT id, c.channel, c.address, now(), 'admin', now(), now()
         FROM users, LATERAL (VALUES ('email', email), ('sms', phone), ('telegram', telegram_chat_id::text))
                     AS c (channel, address)
         WHERE id = $1 AND coalesce(c.address, '') <> ''
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .execute(pool)
    .await
    .expect("vouching for a user's contacts");
}

/// The repository root, for the sample payloads under `events/`. Cargo's run-time
/// `CARGO_MANIFEST_DIR` first: a test binary reused from a build in another checkout (the target
/// dir is shared) would otherwise read that checkout's files. Binaries run by hand fall back to
/// where they were built.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("..")
}

/// The text poppler's `pdftotext` reads from a PDF (what a viewer would copy).
pub fn pdf_text(pdf: &[u8]) -> String {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (Debian's poppler-utils; tools/dev-services deps installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pdf)
        .expect("writing the PDF to pdftotext");
    let output = child.wait_with_output().expect("pdftotext");
    assert!(output.status.success(), "pdftotext failed");
    String::from_utf8(output.stdout).expect("UTF-8 text")
}

/// A ClickHouse database of its own for one test (`sh_audit_<uuid>`), migrated like production.
pub async fn audit_database() -> servicehub_audit::ClickHouse {
    let config = servicehub_audit::ClickHouseConfig::from_vars([
        ("CLICKHOUSE_URL".to_owned(), required_env("CLICKHOUSE_URL")),
        (
            "CLICKHOUSE_DATABASE".to_owned(),
            format!("sh_audit_{}", Uuid::new_v4().simple()),
        ),
    ])
    .expect("a ClickHouse configuration");
    let clickhouse = servicehub_audit::ClickHouse::new(config).expect("a ClickHouse HTTP client");
    servicehub_audit::schema::migrate(&clickhouse)
        .await
        .expect("creating the test's ClickHouse database");
    clickhouse
}

/// Polls `probe` every 200 ms until it yields a value, for at most `wait`; then panics with
/// `what` and the last thing `probe` reported (`Err`), for asynchronous effects (a Kafka
/// trigger's work, a mail, a file).
pub async fn eventually<T, F, Fut>(what: &str, wait: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + wait;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not after {wait:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The body of `POST /requests` for a broken fridge in `region`, wanted a week from now (computed
/// from the clock: create-request refuses a window that is already over).
pub fn new_request(region: &str) -> serde_json::Value {
    let day = (chrono::Utc::now() + chrono::Duration::days(7)).format("%Y-%m-%d");
    serde_json::json!({
        "title": "Не работает холодильник",
        "description": "Холодильник Bosch перестал морозить, горит индикатор ошибки",
        "category": "appliance-repair",
        "urgency": "urgent",
        "region": region,
        "city": region,
        "address": "ул. Ленина, 1",
        "preferred_time_window": {"from": format!("{day}T09:00:00Z"), "to": format!("{day}T13:00:00Z")},
        "budget": {"amount_minor": 500000, "currency": "RUB"}
    })
}
