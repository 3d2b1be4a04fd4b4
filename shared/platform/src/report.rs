//! What a function tells audit-events about itself: `audit.performance_metric` with its own
//! timings, and `audit.error_occurred` when it handles a failure.
//!
//! Metrics are buffered and handed to the producer together once `PERFORMANCE_METRICS_FLUSH_SECONDS`
//! have passed (checked at the end of each invocation) or the buffer is full. Neither metrics nor
//! error reports are ever waited for: the producer delivers them in the background, so a slow or
//! absent broker never holds up an answer (the authorizer's included). Lambda may shut an idle
//! environment down with metrics still buffered or queued: at most one interval of them is lost,
//! and the EMF lines in the logs stay complete.

use crate::kafka::EventProducer;
use chrono::Utc;
use servicehub_events::Envelope;
use servicehub_events::catalog::{ErrorOccurred, PerformanceMetric};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Publishing earlier than the interval once this many metrics wait keeps a busy environment's
/// buffer (and the one batch that publishes it) small.
const MAX_BUFFERED: usize = 500;

pub struct Reporter {
    component: String,
    producer: EventProducer,
    flush_every: Duration,
    buffer: Mutex<Buffer>,
}

struct Buffer {
    metrics: Vec<Envelope>,
    last_flush: Instant,
}

impl Reporter {
    pub fn new(component: &str, producer: EventProducer, flush_every: Duration) -> Reporter {
        Reporter {
            component: component.to_owned(),
            producer,
            flush_every,
            buffer: Mutex::new(Buffer {
                metrics: Vec::new(),
                last_flush: Instant::now(),
            }),
        }
    }

    pub fn from_config(config: &crate::Config, producer: &EventProducer) -> Reporter {
        Reporter::new(
            &config.service_name,
            producer.clone(),
            config.performance_metrics_flush,
        )
    }

    /// For a function without [`crate::Services`] (no database): reads the Kafka settings and
    /// builds its own producer.
    pub async fn from_env(default_service_name: &str) -> Result<Reporter, crate::BoxError> {
        let config = crate::Config::without_database_from_env(default_service_name)?;
        let producer = EventProducer::connect(&config).await?;
        Ok(Reporter::from_config(&config, &producer))
    }

    pub fn component(&self) -> &str {
        &self.component
    }

    /// Buffers one `audit.performance_metric`: `operation` took `duration` for `items` items.
    pub fn record(&self, operation: &str, duration: Duration, items: u64) {
        let metric = PerformanceMetric {
            component: self.component.clone(),
            operation: operation.to_owned(),
            duration_ms: duration.as_secs_f64() * 1000.0,
            items,
            at: Utc::now(),
        };
        self.lock()
            .metrics
            .push(Envelope::new(&self.component, metric));
    }

    /// The buffered metrics when it is time to publish them (the interval has passed or the
    /// buffer is full), else nothing. For a sink that stores them itself instead of publishing.
    pub fn take_due(&self) -> Vec<Envelope> {
        let mut buffer = self.lock();
        let due =
            buffer.last_flush.elapsed() >= self.flush_every || buffer.metrics.len() >= MAX_BUFFERED;
        if !due || buffer.metrics.is_empty() {
            return Vec::new();
        }
        buffer.last_flush = Instant::now();
        std::mem::take(&mut buffer.metrics)
    }

    /// Hands the buffered metrics to the producer if they are due, without waiting for the
    /// broker. Best effort: a failure is logged and the metrics are dropped, never the invocation
    /// failed.
    pub fn flush_if_due(&self) {
        for metric in self.take_due() {
            self.producer.send_detached(&metric.to_kafka());
        }
    }

    /// Times `work` as `operation` over `items` items, then publishes the buffer if it is due.
    pub async fn observe<T>(
        &self,
        operation: &str,
        items: u64,
        work: impl Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let output = work.await;
        self.record(operation, started.elapsed(), items);
        self.flush_if_due();
        output
    }

    /// The `audit.error_occurred` event for a failure this function handled; give it its
    /// context (`Envelope::caused_by`, `with_context`) and [`Self::publish_error`] it.
    pub fn error(&self, kind: &str, message: &str, retryable: bool) -> ErrorOccurred {
        ErrorOccurred {
            component: self.component.clone(),
            error_kind: kind.to_owned(),
            message: message.to_owned(),
            retryable,
            cause_event_id: None,
            subject_id: None,
            at: Utc::now(),
        }
    }

    /// Hands an `audit.error_occurred` envelope to the producer now, without waiting for the
    /// broker. Best effort: the failure it reports is already handled, and Kafka may be what failed.
    pub fn publish_error(&self, envelope: Envelope) {
        self.producer.send_detached(&envelope.to_kafka());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A panic while holding the lock leaves only a metrics buffer behind: keep using it.
        self.buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter(flush_every: Duration) -> Reporter {
        let config = crate::Config::from_vars(
            [
                ("DATABASE_URL".to_owned(), "postgres://unused".to_owned()),
                // Never contacted: the tests only buffer.
                (
                    "KAFKA_BOOTSTRAP_SERVERS".to_owned(),
                    "127.0.0.1:1".to_owned(),
                ),
            ],
            "report-tests",
        )
        .unwrap();
        Reporter::new("probe", EventProducer::new(&config).unwrap(), flush_every)
    }

    #[test]
    fn metrics_wait_for_the_interval() {
        let reporter = reporter(Duration::from_secs(3600));
        reporter.record("GET /me", Duration::from_millis(3), 1);
        assert!(reporter.take_due().is_empty());
    }

    #[test]
    fn a_zero_interval_hands_over_every_metric_with_its_figures() {
        let reporter = reporter(Duration::ZERO);
        assert!(reporter.take_due().is_empty(), "nothing buffered");
        reporter.record("handle_batch", Duration::from_micros(2500), 7);
        let due = reporter.take_due();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].meta.source, "probe");
        match &due[0].data {
            servicehub_events::catalog::DomainEvent::PerformanceMetric(metric) => {
                assert_eq!(metric.component, "probe");
                assert_eq!(metric.operation, "handle_batch");
                assert_eq!(metric.duration_ms, 2.5);
                assert_eq!(metric.items, 7);
            }
            other => panic!("not a metric: {other:?}"),
        }
        assert!(reporter.take_due().is_empty(), "handed over once");
    }

    #[test]
    fn a_full_buffer_is_due_before_the_interval() {
        let reporter = reporter(Duration::from_secs(3600));
        for _ in 0..MAX_BUFFERED {
            reporter.record("GET /me", Duration::from_millis(1), 1);
        }
        assert_eq!(reporter.take_due().len(), MAX_BUFFERED);
    }
}
