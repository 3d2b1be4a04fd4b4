//! Emulates a Kafka event source mapping (an Amazon MSK or self-managed Kafka trigger): one
//! consumer per mapping in the mapping's consumer group, batches of up to `BatchSize` records
//! gathered for at most `MaximumBatchingWindowInSeconds`, sent to the function as the exact
//! payload AWS builds, offsets committed only after the batch succeeded.
//!
//! What AWS does, and so what this does:
//! - **Order**: one batch at a time per mapping, so a partition never has two batches in flight and
//!   its records reach the function in offset order.
//! - **Batching**: the window starts with the first record of a batch; the batch goes out when it is
//!   full or the window has passed, whichever comes first, with every record the poller already
//!   holds at that moment (so a 0 s window sends a backlog in full batches, one record only when
//!   one is all there is).
//! - **Commits**: after a batch succeeded, the next offset of each of its partitions is stored,
//!   and librdkafka commits what is stored every [`COMMIT_INTERVAL_MS`] in the background (and on
//!   a rebalance or at shutdown). Nothing is stored for a batch that has not succeeded yet, so a
//!   restarted runner in the same consumer group resumes after the last success at the latest,
//!   or re-delivers at most that interval's records, which the functions' idempotency marks skip.
//!   A commit round trip per batch cost the broker more than the records themselves at a 0 s
//!   window, and held the next batch back until it returned.
//! - **Retries**: a failed invocation (a function error, a timeout, a crash, an init error, a
//!   response that is not JSON) retries the same records after a backoff (100 ms doubling up to
//!   5 s) up to `MaximumRetryAttempts` times. `-1` (the AWS default) means unbounded, except that
//!   AWS applies at most 10 retries when an on-failure destination is set, and so does this.
//!   Without a destination, unbounded retries are capped locally at [`LOCAL_RETRY_CAP`] so that a
//!   poison batch cannot block its partitions forever (AWS would retry until the records expire).
//! - **On failure**: once the retries are exhausted, every record still failing is written, with
//!   its original key, value and headers plus the `dlq_*` headers of [`lambda_kafka_event::on_failure`],
//!   to the Kafka on-failure destination `kafka://<topic>` as AWS does (the template names
//!   `<record topic>.dlq`; the dev services create these twins); then the batch is committed and
//!   the mapping moves on. For any other destination (an SQS queue, an SNS topic, S3: AWS sends
//!   those the batch's metadata only) or none (AWS drops the records), the records go to
//!   `<record topic>.dlq` locally, so that nothing disappears silently.
//! - **Partial batch responses** (`FunctionResponseTypes: [ReportBatchItemFailures]`): a successful
//!   response `{"batchItemFailures": [{"itemIdentifier": {"partition": "<topic>-<partition>",
//!   "offset": <offset>}}]}` commits, per reported topic-partition, the records before the lowest
//!   reported offset and retries that record and the ones after it; the batch's other partitions
//!   are committed. `partition` is the key of the payload's `records` map (the topic name, a dash,
//!   the partition number) and `offset` a JSON integer. A null or empty list (or a response that
//!   is not an object, or has no such field) is a full success; an entry that does not name a
//!   record of the batch fails the whole batch, which is then retried. A partial failure counts as
//!   one failed attempt of the records it retries. Without `ReportBatchItemFailures` the response
//!   is ignored.
//! - **Rebalances**: the consumer is only polled while a batch is being gathered, so partitions
//!   can only be revoked then: records of a revoked partition are dropped from the batch being
//!   gathered (whoever owns the partition next reads them again from the committed offset). While
//!   a batch is processed the group waits for this consumer (up to `max.poll.interval.ms`); before
//!   committing, partitions that are no longer assigned (or an assignment that was lost) are left
//!   alone, and a failed commit is only logged: the records are then delivered again, never lost.
//!
//! Every invocation is logged as one `tracing` line (target `local_runner::kafka_trigger`) with the
//! function, the mapping id, `trigger = "kafka"`, the topic-partitions and offset ranges, the
//! record count, the duration and the outcome (`ok`, `retrying`, `dead_lettered`, with the kind of
//! failure: `function_error`, `timeout`, `crashed`, `init_error`, `not_json`,
//! `batch_item_failures`, `invalid_batch_item_failures`).

use crate::Invoke;
use crate::kafka_access::AccessProperties;
use crate::template::{KafkaMappingDef, KafkaSourceDef, StartingPosition};
use chrono::{DateTime, TimeZone, Utc};
use futures::FutureExt;
use futures::future::{FusedFuture, join_all};
use lambda_kafka_event::on_failure;
use lambda_kafka_event::{ConsumedRecord, KafkaMessage, KafkaSource, build_trigger};
use local_lambda::InvokeError;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// What the log line says about one invocation.
struct Call {
    request_id: String,
    duration: Duration,
    cold_start: Option<Duration>,
}

/// Retries AWS applies when `MaximumRetryAttempts` is -1 and an on-failure destination is set.
pub const AWS_RETRY_CAP_WITH_DESTINATION: u32 = 10;
/// Retries applied locally when `MaximumRetryAttempts` is -1 and no destination is set (AWS would
/// retry until the records expire). With the backoff capped at 5 s, about two and a half minutes.
pub const LOCAL_RETRY_CAP: u32 = 30;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const DLQ_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a batch whose window is over waits for one more already-fetched record.
const READY_GAP: Duration = Duration::from_millis(1);

#[derive(Debug, Error)]
pub enum TriggerError {
    #[error("kafka mapping {mapping}: {reason}")]
    Invalid { mapping: String, reason: String },
    #[error("kafka mapping {mapping}: {action}: {source}")]
    Kafka {
        mapping: String,
        action: &'static str,
        #[source]
        source: KafkaError,
    },
}

/// One Kafka event source mapping, ready to run.
pub struct MappingRunner {
    mapping: KafkaMappingDef,
    source: KafkaSource,
    /// What the payload's `bootstrapServers` says: the template's servers for a self-managed
    /// source, the servers actually used for MSK.
    payload_servers: String,
    consumer: Arc<StreamConsumer<MappingContext>>,
    producer: FutureProducer,
}

impl MappingRunner {
    /// Creates the mapping's consumer (not yet subscribed) and its dead-letter producer, both
    /// connected to `bootstrap_servers` (where Kafka actually is locally, whatever the template
    /// says). Must be called inside a Tokio runtime.
    pub fn new(
        mapping: KafkaMappingDef,
        bootstrap_servers: String,
    ) -> Result<MappingRunner, TriggerError> {
        MappingRunner::with_access(mapping, bootstrap_servers, &AccessProperties::new())
    }

    /// As [`MappingRunner::new`], the poller authenticating with `access` (the mapping's
    /// `SourceAccessConfigurations`, resolved by [`crate::kafka_access::resolve`]).
    pub fn with_access(
        mapping: KafkaMappingDef,
        bootstrap_servers: String,
        access: &AccessProperties,
    ) -> Result<MappingRunner, TriggerError> {
        let invalid = |reason: &str| TriggerError::Invalid {
            mapping: mapping.id.clone(),
            reason: reason.to_owned(),
        };
        if mapping.topics.is_empty() {
            return Err(invalid("no topics"));
        }
        if mapping.batch_size == 0 {
            return Err(invalid("BatchSize must be at least 1"));
        }
        if mapping.consumer_group_id.is_empty() {
            return Err(invalid("empty consumer group id"));
        }
        let kafka = |action, source| TriggerError::Kafka {
            mapping: mapping.id.clone(),
            action,
            source,
        };
        let client_id = format!("local-runner-{}", mapping.id);
        let mut config = ClientConfig::new();
        for (name, value) in access {
            config.set(name, value);
        }
        let consumer: StreamConsumer<MappingContext> = config
            .set("bootstrap.servers", &bootstrap_servers)
            .set("client.id", &client_id)
            .set("group.id", &mapping.consumer_group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", COMMIT_INTERVAL_MS.to_string())
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            // AWS's pollers reconnect within seconds of a broker's return; librdkafka's default
            // backoff grows to 10 s.
            .set("reconnect.backoff.max.ms", "1000")
            .set(
                "auto.offset.reset",
                match mapping.starting_position {
                    StartingPosition::TrimHorizon => "earliest",
                    StartingPosition::Latest => "latest",
                },
            )
            .create_with_context(MappingContext {
                mapping: mapping.id.clone(),
                revoked: Mutex::new(Vec::new()),
            })
            .map_err(|e| kafka("creating the consumer", e))?;
        let producer = dead_letter_producer(&bootstrap_servers, access)
            .map_err(|e| kafka("creating the dead-letter producer", e))?;
        let (source, payload_servers) = match &mapping.source {
            KafkaSourceDef::Msk { cluster_arn } => (
                KafkaSource::Msk {
                    cluster_arn: cluster_arn.clone(),
                },
                bootstrap_servers,
            ),
            KafkaSourceDef::SelfManaged { bootstrap_servers } => {
                (KafkaSource::SelfManaged, bootstrap_servers.clone())
            }
        };
        Ok(MappingRunner {
            mapping,
            source,
            payload_servers,
            consumer: Arc::new(consumer),
            producer,
        })
    }

    pub fn mapping(&self) -> &KafkaMappingDef {
        &self.mapping
    }

    /// Makes `StartingPosition: LATEST` mean what it means on AWS: the end of each partition when
    /// the mapping is created, not whenever the group rebalance happens to finish. For every
    /// partition the group has no committed offset for, commits the current high watermark, so
    /// that a record produced after this returns is delivered even if it arrives before the
    /// consumer has its partitions. Partitions with a committed offset (a restarted runner) are
    /// left alone. Needs the group to be empty (as it is when a fresh mapping starts); when the
    /// commit is refused it logs and the consumer falls back to `auto.offset.reset=latest`.
    /// Does nothing for TRIM_HORIZON (an uncommitted partition starts at its beginning anyway).
    pub async fn pin_starting_position(&self) -> Result<(), TriggerError> {
        if !self.mapping.enabled || self.mapping.starting_position != StartingPosition::Latest {
            return Ok(());
        }
        self.commit_partition_ends(false).await
    }

    /// `--skip-backlog`: commits the current end of every partition, committed before or not, so
    /// the mapping delivers only what is produced from now on. Local only (AWS resumes from the
    /// committed offsets): the dev topics are shared with the tests, whose records a local
    /// system would otherwise replay on its next start.
    pub async fn skip_backlog(&self) -> Result<(), TriggerError> {
        if !self.mapping.enabled {
            return Ok(());
        }
        self.commit_partition_ends(true).await
    }

    /// Commits the high watermark of the mapping's partitions: of every one, or (with
    /// `every_partition` false) of those the group has no committed offset for.
    async fn commit_partition_ends(&self, every_partition: bool) -> Result<(), TriggerError> {
        let consumer = self.consumer.clone();
        let topics = self.mapping.topics.clone();
        let mapping = self.mapping.id.clone();
        let kafka = |action, source| TriggerError::Kafka {
            mapping: mapping.clone(),
            action,
            source,
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(10);
            let mut all = TopicPartitionList::new();
            for topic in &topics {
                let metadata = consumer
                    .fetch_metadata(Some(topic), timeout)
                    .map_err(|e| ("reading topic metadata", e))?;
                for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                    all.add_partition(topic, partition.id());
                }
            }
            let committed = consumer
                .committed_offsets(all, timeout)
                .map_err(|e| ("reading committed offsets", e))?;
            let mut pinned = TopicPartitionList::new();
            for element in committed.elements() {
                if !every_partition && element.offset() != Offset::Invalid {
                    continue;
                }
                let (_, high) = consumer
                    .fetch_watermarks(element.topic(), element.partition(), timeout)
                    .map_err(|e| ("reading high watermarks", e))?;
                pinned
                    .add_partition_offset(
                        element.topic(),
                        element.partition(),
                        Offset::Offset(high),
                    )
                    .map_err(|e| ("listing offsets", e))?;
            }
            if pinned.count() > 0 {
                consumer
                    .commit(&pinned, CommitMode::Sync)
                    .map_err(|e| ("committing the starting offsets", e))?;
            }
            Ok::<usize, (&'static str, KafkaError)>(pinned.count())
        })
        .await
        .expect("the offset pinning task panicked");
        match outcome {
            Ok(pinned) => {
                tracing::debug!(mapping = %self.mapping.id, pinned, every_partition, "starting offsets committed");
                Ok(())
            }
            // A group with live members refuses commits from a non-member: they own the offsets.
            Err((action, error))
                if matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::UnknownMemberId
                            | RDKafkaErrorCode::IllegalGeneration
                            | RDKafkaErrorCode::RebalanceInProgress
                    )
                ) =>
            {
                tracing::warn!(mapping = %self.mapping.id, %error, action, "starting offsets not committed; starting from the group's position");
                Ok(())
            }
            Err((action, source)) => Err(kafka(action, source)),
        }
    }

    /// Subscribes and delivers batches through `invoker` until `shutdown` resolves. A batch being
    /// invoked when it does finishes first (and is committed if it succeeded); records gathered
    /// but not yet sent, or waiting for a retry, are left uncommitted for the next run. A
    /// disabled mapping returns at once.
    pub async fn run<I: Invoke>(
        self,
        invoker: Arc<I>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), TriggerError> {
        if !self.mapping.enabled {
            tracing::info!(mapping = %self.mapping.id, function = %self.mapping.function, "kafka mapping disabled");
            return Ok(());
        }
        let topics: Vec<&str> = self.mapping.topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|source| TriggerError::Kafka {
                mapping: self.mapping.id.clone(),
                action: "subscribing",
                source,
            })?;
        tracing::info!(
            mapping = %self.mapping.id,
            function = %self.mapping.function,
            topics = ?self.mapping.topics,
            group = %self.mapping.consumer_group_id,
            batch_size = self.mapping.batch_size,
            window_ms = self.mapping.maximum_batching_window.as_millis() as u64,
            max_retries = retry_limit(&self.mapping),
            "kafka mapping started"
        );
        let mut shutdown = std::pin::pin!(shutdown.fuse());
        let result = async {
            'batches: while let Some(batch) = self.next_batch(&mut shutdown).await? {
                // One after another, so partition order holds across the parts.
                for part in split_by_payload(batch, PAYLOAD_BUDGET) {
                    if !self.deliver(&*invoker, part, &mut shutdown).await {
                        break 'batches;
                    }
                }
            }
            Ok(())
        }
        .await;
        // Dropping the consumer leaves the group, waiting for the broker: off the async threads.
        let consumer = self.consumer;
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        tracing::info!(mapping = %self.mapping.id, "kafka mapping stopped");
        result
    }

    /// Gathers the next batch; `None` when `shutdown` resolved first.
    async fn next_batch<S>(
        &self,
        shutdown: &mut S,
    ) -> Result<Option<Vec<ConsumedRecord>>, TriggerError>
    where
        S: FusedFuture<Output = ()> + Unpin,
    {
        let mut batch: Vec<ConsumedRecord> = Vec::new();
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let received = tokio::select! {
                biased;
                _ = &mut *shutdown => return Ok(None),
                received = async {
                    match deadline {
                        Some(deadline) => tokio::time::timeout_at(deadline, self.consumer.recv())
                            .await
                            .ok()
                            .map(|r| r.map(|m| to_record(&m))),
                        None => Some(self.consumer.recv().await.map(|m| to_record(&m))),
                    }
                } => received,
            };
            // Rebalance callbacks run inside recv: forget what was read from revoked partitions.
            self.drop_revoked(&mut batch);
            match received {
                Some(Ok(record)) => batch.push(record),
                Some(Err(error)) => {
                    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
                        return Err(TriggerError::Kafka {
                            mapping: self.mapping.id.clone(),
                            action: "consuming",
                            source: error,
                        });
                    }
                    tracing::warn!(mapping = %self.mapping.id, %error, "kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => {}
            }
            if batch.is_empty() {
                deadline = None;
                continue;
            }
            let deadline = *deadline.get_or_insert_with(|| {
                tokio::time::Instant::now() + self.mapping.maximum_batching_window
            });
            if batch.len() >= self.mapping.batch_size {
                return Ok(Some(batch));
            }
            if tokio::time::Instant::now() >= deadline {
                // The window is over, but what the poller already holds still goes out with the
                // batch: with a 0 s window a backlog is sent in full batches, not record by record.
                self.take_ready(&mut batch).await;
                return Ok(Some(batch));
            }
        }
    }

    /// Adds to `batch` the records the consumer already holds, up to `BatchSize`: it stops at the
    /// first gap of [`READY_GAP`] (a poll can also consume a non-message event and come back
    /// empty-handed while records are queued, so "no record on the first try" is not enough).
    async fn take_ready(&self, batch: &mut Vec<ConsumedRecord>) {
        while batch.len() < self.mapping.batch_size {
            match tokio::time::timeout(READY_GAP, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(to_record(&message)),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        self.drop_revoked(batch);
    }

    fn drop_revoked(&self, batch: &mut Vec<ConsumedRecord>) {
        let revoked = std::mem::take(&mut *lock(&self.consumer.context().revoked));
        if revoked.is_empty() {
            return;
        }
        let before = batch.len();
        batch.retain(|r| {
            !revoked
                .iter()
                .any(|(t, p)| *t == r.message.topic && *p == r.partition)
        });
        if batch.len() != before {
            tracing::info!(
                mapping = %self.mapping.id,
                dropped = before - batch.len(),
                "records of revoked partitions dropped from the batch being gathered"
            );
        }
    }

    /// Invokes the function with `records` until they are all committed (after success, or after
    /// dead-lettering). Returns false when `shutdown` resolved while waiting to retry.
    async fn deliver<I, S>(
        &self,
        invoker: &I,
        mut records: Vec<ConsumedRecord>,
        shutdown: &mut S,
    ) -> bool
    where
        I: Invoke,
        S: FusedFuture<Output = ()> + Unpin,
    {
        let max_retries = retry_limit(&self.mapping);
        let mut failures: u32 = 0;
        loop {
            let event = build_trigger(&self.source, &self.payload_servers, &records);
            let payload = serde_json::to_value(&event).unwrap_or(Value::Null);
            let invoked = invoker.invoke(payload).await;
            let call = Call {
                request_id: invoked.request_id,
                duration: invoked.duration,
                cold_start: invoked.cold_start,
            };
            let verdict = judge(
                invoked.result,
                &records,
                self.mapping.report_batch_item_failures,
            );
            let failure = match verdict {
                Verdict::Success => {
                    self.log(&records, &call, "ok", None);
                    self.commit(&records);
                    return true;
                }
                Verdict::Partial(retry_from) => {
                    let (retry, done): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| {
                        retry_from
                            .get(&(r.message.topic.clone(), r.partition))
                            .is_some_and(|from| r.offset >= *from)
                    });
                    let reported = retry_from
                        .iter()
                        .map(|((t, p), o)| format!("{t}-{p}@{o}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    self.commit(&done);
                    records = retry;
                    Failure {
                        kind: "batch_item_failures",
                        error: format!("the function reported batch item failures at {reported}"),
                        done,
                    }
                }
                Verdict::Failed { kind, error } => Failure {
                    kind,
                    error,
                    done: Vec::new(),
                },
            };
            failures += 1;
            let logged: Vec<ConsumedRecord> =
                failure.done.iter().chain(&records).cloned().collect();
            if failures > max_retries {
                self.log(
                    &logged,
                    &call,
                    "dead_lettered",
                    Some((failure.kind, &failure.error, failures)),
                );
                let reason = format!("{} (after {failures} attempts)", failure.error);
                if !self.dead_letter(&records, &reason, shutdown).await {
                    return false;
                }
                self.commit(&records);
                return true;
            }
            self.log(
                &logged,
                &call,
                "retrying",
                Some((failure.kind, &failure.error, failures)),
            );
            tokio::select! {
                biased;
                _ = &mut *shutdown => return false,
                _ = tokio::time::sleep(backoff(failures)) => {}
            }
        }
    }

    fn log(
        &self,
        records: &[ConsumedRecord],
        call: &Call,
        outcome: &str,
        failure: Option<(&str, &str, u32)>,
    ) {
        let partitions = describe(records);
        let duration_ms = call.duration.as_secs_f64() * 1000.0;
        let cold_start_ms = call.cold_start.map(|d| d.as_secs_f64() * 1000.0);
        let request_id = &call.request_id;
        let mapping = &self.mapping.id;
        let function = &self.mapping.function;
        match failure {
            None => tracing::info!(
                trigger = "kafka",
                function = %function,
                mapping = %mapping,
                partitions = %partitions,
                records = records.len(),
                lambda_request_id = %request_id,
                duration_ms,
                cold_start_ms,
                outcome,
                "invocation"
            ),
            Some((kind, error, failures)) => {
                let max_retries = retry_limit(&self.mapping);
                if outcome == "dead_lettered" {
                    tracing::error!(
                        trigger = "kafka",
                        function = %function,
                        mapping = %mapping,
                        partitions = %partitions,
                        records = records.len(),
                        lambda_request_id = %request_id,
                        duration_ms,
                        cold_start_ms,
                        outcome,
                        failure = kind,
                        error,
                        attempts = failures,
                        "invocation"
                    )
                } else {
                    tracing::warn!(
                        trigger = "kafka",
                        function = %function,
                        mapping = %mapping,
                        partitions = %partitions,
                        records = records.len(),
                        lambda_request_id = %request_id,
                        duration_ms,
                        cold_start_ms,
                        outcome,
                        failure = kind,
                        error,
                        retry = failures,
                        max_retries,
                        "invocation"
                    )
                }
            }
        }
    }

    /// Stores the next offset of every partition of `records` this consumer still owns, for the
    /// next background commit (a local call: nothing waits for the broker).
    fn commit(&self, records: &[ConsumedRecord]) {
        if let Err(error) = self.store_offsets(&next_offsets(records)) {
            tracing::warn!(
                mapping = %self.mapping.id,
                partitions = %describe(records),
                %error,
                "offsets not committed: the records will be delivered again"
            );
        }
    }

    fn store_offsets(&self, next: &BTreeMap<(String, i32), i64>) -> Result<(), String> {
        if next.is_empty() {
            return Ok(());
        }
        if self.consumer.assignment_lost() {
            return Err("the group assignment was lost".to_owned());
        }
        let assigned = self.consumer.assignment().map_err(|e| e.to_string())?;
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            if assigned.find_partition(topic, *partition).is_none() {
                tracing::warn!(mapping = %self.mapping.id, %topic, partition, offset, "not committing a partition this consumer no longer owns");
                continue;
            }
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| e.to_string())?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        self.consumer
            .store_offsets(&list)
            .map_err(|e| e.to_string())
    }

    /// Writes every record to the mapping's `kafka://` destination (or `<topic>.dlq`); retries what
    /// the broker refused until it took it.
    /// Returns false when `shutdown` resolved first (nothing is committed then).
    async fn dead_letter<S>(
        &self,
        records: &[ConsumedRecord],
        reason: &str,
        shutdown: &mut S,
    ) -> bool
    where
        S: FusedFuture<Output = ()> + Unpin,
    {
        let at = Utc::now();
        let destination = kafka_destination(&self.mapping);
        let mut pending: Vec<KafkaMessage> = records
            .iter()
            .map(|r| {
                let mut letter = dead_letter_message(r, &self.mapping.function, reason, at);
                if let Some(topic) = destination {
                    letter.topic = topic.to_owned();
                }
                letter
            })
            .collect();
        let mut attempt = 0;
        loop {
            let results = join_all(pending.iter().map(|m| self.produce(m))).await;
            let mut failed = Vec::new();
            for (message, result) in pending.into_iter().zip(results) {
                if let Err(error) = result {
                    tracing::warn!(mapping = %self.mapping.id, topic = %message.topic, %error, "dead-letter delivery failed; retrying");
                    failed.push(message);
                }
            }
            if failed.is_empty() {
                return true;
            }
            pending = failed;
            attempt += 1;
            tokio::select! {
                biased;
                _ = &mut *shutdown => return false,
                _ = tokio::time::sleep(backoff(attempt)) => {}
            }
        }
    }

    async fn produce(&self, message: &KafkaMessage) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(message.headers.len());
        for (key, value) in &message.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&message.topic).headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &message.value {
            record = record.payload(value.as_slice());
        }
        self.producer
            .send(record, DLQ_DELIVERY_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}

/// The dead-letter producer of every mapping on `bootstrap_servers`: one per cluster, not one per
/// mapping. Each rdkafka `FutureProducer` keeps a polling thread that spins briefly every 100 ms
/// (about 1 % of a core when idle); thirty mappings made that a third of a core.
fn dead_letter_producer(
    bootstrap_servers: &str,
    access: &AccessProperties,
) -> Result<FutureProducer, KafkaError> {
    type Key = (String, AccessProperties);
    static PRODUCERS: std::sync::OnceLock<Mutex<HashMap<Key, FutureProducer>>> =
        std::sync::OnceLock::new();
    let key = (bootstrap_servers.to_owned(), access.clone());
    let mut producers = PRODUCERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(producer) = producers.get(&key) {
        return Ok(producer.clone());
    }
    let mut config = ClientConfig::new();
    for (name, value) in access {
        config.set(name, value);
    }
    let producer: FutureProducer = config
        .set("bootstrap.servers", bootstrap_servers)
        .set("client.id", "local-runner-dead-letters")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "10000")
        .set("reconnect.backoff.max.ms", "1000")
        .create()?;
    producers.insert(key, producer.clone());
    Ok(producer)
}

/// How many times a failing batch is retried (not counting the first invocation).
pub fn retry_limit(mapping: &KafkaMappingDef) -> u32 {
    match mapping.maximum_retry_attempts {
        n if n >= 0 => u32::try_from(n).unwrap_or(u32::MAX),
        _ if mapping.on_failure_destination.is_some() => AWS_RETRY_CAP_WITH_DESTINATION,
        _ => LOCAL_RETRY_CAP,
    }
}

/// The topic of a Kafka on-failure destination (`kafka://<topic>`), if the mapping has one.
pub fn kafka_destination(mapping: &KafkaMappingDef) -> Option<&str> {
    mapping
        .on_failure_destination
        .as_deref()
        .and_then(crate::template::kafka_topic_of)
}

/// The wait before retry `n` (1-based): 100 ms doubling, at most 5 s.
pub fn backoff(retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1).min(16);
    (BACKOFF_FIRST * 2u32.pow(doublings)).min(BACKOFF_MAX)
}

/// Where a mapping without a `kafka://` destination puts the records it gives up on: `<topic>.dlq`.
pub const DEFAULT_DESTINATION_SUFFIX: &str = ".dlq";

/// The dead-letter record for `record`: to `<topic>.dlq`, its key, value and headers, plus the
/// `dlq_*` headers naming the reason, the consumer (the mapping's function), the source position
/// and the time.
pub fn dead_letter_message(
    record: &ConsumedRecord,
    function: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> KafkaMessage {
    let failure = on_failure::Failure {
        topic: &record.message.topic,
        partition: i64::from(record.partition),
        offset: Some(record.offset),
        consumer: function,
        reason,
        at,
    };
    on_failure::failed_record(
        &record.message,
        failure,
        &format!("{}{DEFAULT_DESTINATION_SUFFIX}", record.message.topic),
    )
}

/// Per topic-partition, the first offset to deliver again.
pub type RetryFrom = BTreeMap<(String, i32), i64>;

/// Reads a `ReportBatchItemFailures` response for the batch `records`: `Ok(None)` when it reports
/// no failure, `Ok(Some(retry_from))` with the lowest reported offset per topic-partition, `Err`
/// when an entry does not identify a record of the batch (the whole batch then fails).
pub fn batch_item_failures(
    response: &Value,
    records: &[ConsumedRecord],
) -> Result<Option<RetryFrom>, String> {
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(failures)) => failures,
        Some(other) => return Err(format!("batchItemFailures is not a list: {other}")),
    };
    let mut retry_from = RetryFrom::new();
    for failure in failures {
        let identifier = failure
            .get("itemIdentifier")
            .ok_or_else(|| format!("a batch item failure without itemIdentifier: {failure}"))?;
        let group = identifier.get("partition").and_then(Value::as_str);
        let offset = identifier.get("offset").and_then(Value::as_i64);
        let (Some(group), Some(offset)) = (group, offset) else {
            return Err(format!(
                "itemIdentifier must be {{\"partition\": \"<topic>-<partition>\", \"offset\": <offset>}}, got {identifier}"
            ));
        };
        let record = records
            .iter()
            .find(|r| r.offset == offset && format!("{}-{}", r.message.topic, r.partition) == group)
            .ok_or_else(|| format!("itemIdentifier {identifier} is not a record of the batch"))?;
        let from = retry_from
            .entry((record.message.topic.clone(), record.partition))
            .or_insert(offset);
        *from = (*from).min(offset);
    }
    Ok((!retry_from.is_empty()).then_some(retry_from))
}

enum Verdict {
    Success,
    Partial(RetryFrom),
    Failed { kind: &'static str, error: String },
}

struct Failure {
    kind: &'static str,
    error: String,
    /// Records of the invocation that were committed despite the failure (partial responses).
    done: Vec<ConsumedRecord>,
}

/// How often librdkafka commits the offsets stored after successful batches.
pub const COMMIT_INTERVAL_MS: u64 = 1000;

/// What a batch's records may add up to in the trigger payload: Lambda's 6 MB for a synchronous
/// invocation, less room for the payload's own fields. AWS's poller cuts batches there too.
const PAYLOAD_BUDGET: usize = local_lambda::SYNC_PAYLOAD_LIMIT - 16 * 1024;

/// About what `record` adds to the trigger payload: key and value in base64, each header byte as
/// a JSON number (up to four characters), and the record's other fields.
fn payload_size(record: &ConsumedRecord) -> usize {
    let message = &record.message;
    let base64 = |bytes: Option<&Vec<u8>>| bytes.map_or(0, |b| b.len().div_ceil(3) * 4);
    let headers: usize = message
        .headers
        .iter()
        .map(|(name, value)| name.len() + 4 * value.len() + 16)
        .sum();
    base64(message.key.as_ref())
        + base64(message.value.as_ref())
        + headers
        + message.topic.len()
        + 200
}

/// `records` in consecutive parts whose payloads stay within `budget` (a record bigger than the
/// budget on its own is a part of its own, which Lambda then refuses).
fn split_by_payload(records: Vec<ConsumedRecord>, budget: usize) -> Vec<Vec<ConsumedRecord>> {
    let mut parts: Vec<Vec<ConsumedRecord>> = Vec::new();
    let mut size = 0;
    for record in records {
        let record_size = payload_size(&record);
        match parts.last_mut() {
            Some(part) if size + record_size <= budget => part.push(record),
            _ => {
                parts.push(vec![record]);
                size = 0;
            }
        }
        size += record_size;
    }
    parts
}

fn judge(
    result: Result<Value, InvokeError>,
    records: &[ConsumedRecord],
    report_batch_item_failures: bool,
) -> Verdict {
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            let kind = match &error {
                InvokeError::Function { .. } => "function_error",
                InvokeError::Init(_) => "init_error",
                InvokeError::Timeout(_) => "timeout",
                InvokeError::Crashed(_) => "crashed",
                InvokeError::NotJson(_) => "not_json",
                InvokeError::RequestTooLarge { .. } => "request_too_large",
                InvokeError::Throttled { .. } => "throttled",
            };
            return Verdict::Failed {
                kind,
                error: error.to_string(),
            };
        }
    };
    if !report_batch_item_failures {
        return Verdict::Success;
    }
    match batch_item_failures(&response, records) {
        Ok(None) => Verdict::Success,
        Ok(Some(retry_from)) => Verdict::Partial(retry_from),
        Err(error) => Verdict::Failed {
            kind: "invalid_batch_item_failures",
            error,
        },
    }
}

/// The offset to commit per topic-partition: one past the highest of `records`.
fn next_offsets(records: &[ConsumedRecord]) -> BTreeMap<(String, i32), i64> {
    let mut next = BTreeMap::new();
    for r in records {
        let entry = next
            .entry((r.message.topic.clone(), r.partition))
            .or_insert(r.offset + 1);
        *entry = (*entry).max(r.offset + 1);
    }
    next
}

/// `topic-0:5-9,topic-1:3-3`: each topic-partition with its lowest and highest offset.
fn describe(records: &[ConsumedRecord]) -> String {
    let mut ranges: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for r in records {
        let range = ranges
            .entry((r.message.topic.clone(), r.partition))
            .or_insert((r.offset, r.offset));
        range.0 = range.0.min(r.offset);
        range.1 = range.1.max(r.offset);
    }
    ranges
        .iter()
        .map(|((topic, partition), (low, high))| format!("{topic}-{partition}:{low}-{high}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A consumed rdkafka message as the event source mapping hands it on.
pub fn to_record(message: &BorrowedMessage<'_>) -> ConsumedRecord {
    let (millis, timestamp_type) = match message.timestamp() {
        Timestamp::LogAppendTime(ms) => (Some(ms), "LOG_APPEND_TIME"),
        Timestamp::CreateTime(ms) => (Some(ms), "CREATE_TIME"),
        Timestamp::NotAvailable => (None, "CREATE_TIME"),
    };
    ConsumedRecord {
        message: KafkaMessage::from_rdkafka(message),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: millis
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .unwrap_or_else(Utc::now),
        timestamp_type: timestamp_type.to_owned(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers revoked partitions (read by the batch being gathered) and sends librdkafka's logs to
/// `tracing`.
struct MappingContext {
    mapping: String,
    revoked: Mutex<Vec<(String, i32)>>,
}

impl ClientContext for MappingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(mapping = %self.mapping, facility = fac, "librdkafka: {log_message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(mapping = %self.mapping, facility = fac, "librdkafka: {log_message}")
            }
            _ => {
                tracing::debug!(mapping = %self.mapping, facility = fac, "librdkafka: {log_message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(mapping = %self.mapping, %error, reason, "librdkafka error");
    }
}

impl ConsumerContext for MappingContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(list) => {
                let partitions: Vec<(String, i32)> = list
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                tracing::info!(mapping = %self.mapping, partitions = ?partitions, "partitions revoked");
                lock(&self.revoked).extend(partitions);
            }
            Rebalance::Assign(list) => {
                let partitions: BTreeSet<(String, i32)> = list
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                tracing::info!(mapping = %self.mapping, partitions = ?partitions, "partitions assigned");
            }
            Rebalance::Error(error) => {
                tracing::warn!(mapping = %self.mapping, %error, "rebalance error");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::KafkaSourceDef;
    use serde_json::json;

    fn record(topic: &str, partition: i32, offset: i64) -> ConsumedRecord {
        ConsumedRecord {
            message: KafkaMessage {
                topic: topic.into(),
                key: Some(b"k".to_vec()),
                headers: vec![("h".into(), b"v".to_vec())],
                value: Some(b"value".to_vec()),
            },
            partition,
            offset,
            timestamp: Utc::now(),
            timestamp_type: "CREATE_TIME".into(),
        }
    }

    fn mapping(retries: i64, destination: Option<&str>) -> KafkaMappingDef {
        KafkaMappingDef {
            id: "M".into(),
            function: "f".into(),
            source: KafkaSourceDef::SelfManaged {
                bootstrap_servers: "b:9092".into(),
            },
            topics: vec!["t".into()],
            consumer_group_id: "g".into(),
            batch_size: 10,
            maximum_batching_window: Duration::from_millis(200),
            starting_position: StartingPosition::TrimHorizon,
            on_failure_destination: destination.map(str::to_owned),
            report_batch_item_failures: false,
            maximum_retry_attempts: retries,
            source_access: Vec::new(),
            enabled: true,
        }
    }

    #[test]
    fn a_kafka_destination_names_the_dead_letter_topic() {
        assert_eq!(
            kafka_destination(&mapping(10, Some("kafka://my-topic.failed"))),
            Some("my-topic.failed")
        );
        assert_eq!(kafka_destination(&mapping(10, Some("arn:aws:sqs:x"))), None);
        assert_eq!(kafka_destination(&mapping(10, None)), None);
    }

    #[test]
    fn retry_limits_follow_aws_with_a_local_cap() {
        assert_eq!(retry_limit(&mapping(2, None)), 2);
        assert_eq!(retry_limit(&mapping(0, Some("arn"))), 0);
        assert_eq!(retry_limit(&mapping(-1, Some("arn"))), 10);
        assert_eq!(retry_limit(&mapping(-1, None)), LOCAL_RETRY_CAP);
        assert_eq!(retry_limit(&mapping(50, Some("arn"))), 50);
    }

    #[test]
    fn batches_are_cut_where_the_payload_would_pass_lambdas_limit() {
        let sized = |offset: i64, bytes: usize| {
            let mut r = record("t", 0, offset);
            r.message.value = Some(vec![b'x'; bytes]);
            r
        };
        let records: Vec<ConsumedRecord> = (0..10).map(|o| sized(o, 900_000)).collect();
        let parts = split_by_payload(records, PAYLOAD_BUDGET);
        // 900,000 bytes are 1.2 MB in base64: five such records to a 6 MB payload.
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5]);
        let offsets: Vec<i64> = parts.iter().flatten().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "order kept");
        for part in &parts {
            let payload = serde_json::to_vec(&build_trigger(
                &KafkaSource::SelfManaged,
                "127.0.0.1:9092",
                part,
            ))
            .unwrap();
            assert!(
                payload.len() <= local_lambda::SYNC_PAYLOAD_LIMIT,
                "{}",
                payload.len()
            );
        }
        let alone = split_by_payload(
            vec![sized(0, 10), sized(1, 7_000_000), sized(2, 10)],
            PAYLOAD_BUDGET,
        );
        assert_eq!(alone.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(split_by_payload(Vec::new(), PAYLOAD_BUDGET).len(), 0);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(6), Duration::from_millis(3200));
        assert_eq!(backoff(7), Duration::from_secs(5));
        assert_eq!(backoff(1000), Duration::from_secs(5));
    }

    #[test]
    fn batch_item_failures_take_the_lowest_offset_per_partition() {
        let batch = [
            record("my-topic", 0, 5),
            record("my-topic", 0, 6),
            record("my-topic", 0, 7),
            record("my-topic", 1, 3),
        ];
        let response = json!({"batchItemFailures": [
            {"itemIdentifier": {"partition": "my-topic-0", "offset": 7}},
            {"itemIdentifier": {"partition": "my-topic-0", "offset": 6}},
        ]});
        let retry = batch_item_failures(&response, &batch).unwrap().unwrap();
        assert_eq!(retry, RetryFrom::from([(("my-topic".into(), 0), 6)]));
    }

    #[test]
    fn empty_or_absent_failures_are_a_success() {
        let batch = [record("t", 0, 1)];
        for response in [
            json!({}),
            json!({"batchItemFailures": []}),
            json!({"batchItemFailures": null}),
            json!("done"),
            Value::Null,
        ] {
            assert_eq!(
                batch_item_failures(&response, &batch),
                Ok(None),
                "{response}"
            );
        }
    }

    #[test]
    fn malformed_or_foreign_identifiers_fail_the_batch() {
        let batch = [record("t", 0, 1)];
        for response in [
            json!({"batchItemFailures": [{"itemIdentifier": "1"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"itemidentifier": {"partition": "t-0", "offset": 1}}]}),
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 2}}]}),
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-1", "offset": 1}}]}),
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": 0, "offset": 1}}]}),
            json!({"batchItemFailures": {"itemIdentifier": {"partition": "t-0", "offset": 1}}}),
        ] {
            assert!(
                batch_item_failures(&response, &batch).is_err(),
                "{response}"
            );
        }
    }

    #[test]
    fn errors_fail_and_responses_are_ignored_without_report_batch_item_failures() {
        let batch = [record("t", 0, 1)];
        let partial =
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 1}}]});
        assert!(matches!(
            judge(Ok(partial.clone()), &batch, false),
            Verdict::Success
        ));
        assert!(matches!(
            judge(Ok(partial), &batch, true),
            Verdict::Partial(_)
        ));
        assert!(matches!(
            judge(
                Err(InvokeError::Timeout(Duration::from_secs(1))),
                &batch,
                true
            ),
            Verdict::Failed {
                kind: "timeout",
                ..
            }
        ));
    }

    #[test]
    fn dead_letters_keep_the_record_and_say_where_it_came_from() {
        let at = Utc::now();
        let message = dead_letter_message(&record("orders", 2, 41), "fn", "boom", at);
        assert_eq!(message.topic, "orders.dlq");
        assert_eq!(message.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(message.value.as_deref(), Some(&b"value"[..]));
        let header = |name: &str| {
            message
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        };
        assert_eq!(header("h").as_deref(), Some("v"));
        assert_eq!(header(on_failure::HEADER_REASON).as_deref(), Some("boom"));
        assert_eq!(header(on_failure::HEADER_CONSUMER).as_deref(), Some("fn"));
        assert_eq!(
            header(on_failure::HEADER_SOURCE_TOPIC).as_deref(),
            Some("orders")
        );
        assert_eq!(
            header(on_failure::HEADER_SOURCE_PARTITION).as_deref(),
            Some("2")
        );
        assert_eq!(
            header(on_failure::HEADER_SOURCE_OFFSET).as_deref(),
            Some("41")
        );
        assert_eq!(header(on_failure::HEADER_FAILED_AT), Some(at.to_rfc3339()));
    }

    #[test]
    fn commits_and_logs_cover_each_partition() {
        let batch = [record("a", 0, 5), record("a", 0, 6), record("a-b", 1, 3)];
        assert_eq!(
            next_offsets(&batch),
            BTreeMap::from([(("a".into(), 0), 7), (("a-b".into(), 1), 4)])
        );
        assert_eq!(describe(&batch), "a-0:5-6,a-b-1:3-3");
    }
}
