//! Platform adapters shared by servicehub functions. Everything that touches the outside world
//! (environment, Postgres, Kafka, HTTP shapes, logs) lives here, behind small APIs.

pub mod config;
pub mod consumer;
pub mod db;
pub mod http;
pub mod idempotency;
pub mod idempotency_key;
pub mod kafka;
pub mod outbox;
pub mod report;
pub mod telemetry;

pub use config::Config;

/// What `main` returns on an init error (Lambda reports it and retries the environment).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The clients a function builds once per execution environment (in `main`, before the runtime
/// loop) and shares across invocations.
#[derive(Clone)]
pub struct Services {
    pub config: Config,
    pub pool: sqlx::PgPool,
    pub producer: kafka::EventProducer,
    /// Shared by clones, so every handler's metrics land in the one buffer.
    pub reporter: std::sync::Arc<report::Reporter>,
}

impl Services {
    /// Reads the configuration and builds the pool and the producer. An error here is an init
    /// error: Lambda reports it and retries the environment.
    pub fn from_env(default_service_name: &str) -> Result<Services, BoxError> {
        let config = Config::from_env(default_service_name)?;
        let pool = db::pool(&config)?;
        let producer = kafka::EventProducer::new(&config)?;
        let reporter = std::sync::Arc::new(report::Reporter::from_config(&config, &producer));
        tracing::info!(?config, "services ready");
        Ok(Services {
            config,
            pool,
            producer,
            reporter,
        })
    }

    /// Publishes the outbox rows of `keys` right after their transaction committed. A failure is
    /// logged, not returned: the rows stay in the outbox and the scheduled relay publishes them.
    pub async fn publish_after_commit(&self, keys: &[String]) {
        if let Err(error) = outbox::publish_keys(&self.pool, &self.producer, keys).await {
            tracing::warn!(%error, "outbox publish after commit failed; the relay will retry");
        }
    }
}
