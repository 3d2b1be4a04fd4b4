//! Platform adapters shared by servicehub functions. Everything that touches the outside world
//! (environment, Postgres, Kafka, HTTP shapes, logs) lives here, behind small APIs.

pub mod config;
pub mod consumer;
pub mod db;
pub mod function;
pub mod http;
pub mod idempotency;
pub mod idempotency_key;
pub mod kafka;
pub mod kafka_connection;
pub mod outbox;
pub mod relay;
pub mod report;
pub mod standing;
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
    /// Shared by clones: one failed publish pauses publishing after commit for all handlers.
    pub publish_gate: std::sync::Arc<outbox::PublishGate>,
}

impl Services {
    /// Reads the configuration and builds the pool and the producer. An error here is an init
    /// error: Lambda reports it and retries the environment.
    pub async fn from_env(default_service_name: &str) -> Result<Services, BoxError> {
        Self::from_config(Config::from_env(default_service_name)?).await
    }

    /// [`Self::from_env`] for a configuration read elsewhere (a test's, say).
    pub async fn from_config(config: Config) -> Result<Services, BoxError> {
        let pool = db::pool(&config)?;
        let producer = kafka::EventProducer::connect(&config).await?;
        let reporter = std::sync::Arc::new(report::Reporter::from_config(&config, &producer));
        tracing::info!(?config, "services ready");
        Ok(Services {
            config,
            pool,
            producer,
            reporter,
            publish_gate: Default::default(),
        })
    }

    /// The one way a handler commits a change with its events: writes `events` to the outbox in
    /// `tx`, commits, then publishes them within the budget ([`Self::publish_after_commit`]).
    /// Nothing is published unless the transaction committed, and nothing waits on Kafka longer
    /// than the budget after it did.
    pub async fn commit_with_events(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        events: &[servicehub_events::Envelope],
    ) -> Result<(), sqlx::Error> {
        outbox::enqueue(&mut tx, events).await?;
        tx.commit().await?;
        self.publish_after_commit(&outbox::keys_of(events)).await;
        Ok(())
    }

    /// Publishes the outbox rows of `keys` right after their transaction committed, waiting at
    /// most `OUTBOX_PUBLISH_BUDGET_MS`. Nothing is returned: the write is committed whatever
    /// Kafka does, and what is not published in time stays in the outbox for the relay. After a
    /// failure or a budget run out, publishing pauses briefly ([`outbox::PublishGate`]) so that a
    /// broker outage does not slow every request down by the budget.
    ///
    /// A record abandoned at the budget may still reach the broker later, and the relay publishes
    /// its row again: consumers are idempotent by event id, so this costs a duplicate record,
    /// never a duplicate effect.
    ///
    /// Inside a Kafka batch ([`consumer::process_batch`]) the keys are collected instead and
    /// published once when the batch's records are handled: one Kafka round trip per batch, not
    /// per record.
    pub async fn publish_after_commit(&self, keys: &[String]) {
        if consumer::defer_publishing(keys) {
            return;
        }
        self.publish_now(keys).await
    }

    async fn publish_now(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        if !self.publish_gate.is_open() {
            tracing::debug!("publishing paused after a failure; the relay publishes these rows");
            return;
        }
        let budget = self.config.outbox_publish_budget;
        let publish = outbox::publish_keys(&self.pool, &self.producer, keys);
        let failure = match tokio::time::timeout(budget, publish).await {
            Ok(Ok(_)) => return,
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("not delivered within {budget:?}"),
        };
        self.publish_gate.close();
        tracing::warn!(error = %failure, "outbox publish after commit failed; the relay will publish");
    }
}
