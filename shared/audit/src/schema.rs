//! The audit store's schema, created idempotently (`CREATE ... IF NOT EXISTS`) by
//! `servicehub-admin clickhouse migrate` (and `tools/dev-services up`, and each test for its own
//! database).
//!
//! `events` holds one row per event (the full CloudEvents JSON in `payload` plus the columns
//! queries filter on). ClickHouse 18.16 has no data-skipping indexes or projections, so:
//!
//! - `events` is `PARTITION BY toYYYYMM(time)` (a time range prunes whole months; retention can
//!   drop a month at once) and `ORDER BY (event_type, time_us, event_id)`: "events of type T
//!   between A and B, newest first" is a range scan of the primary key, and a time range without
//!   a type still prunes by partition.
//! - `events_by_actor` and `events_by_request` are materialized views (written by ClickHouse on
//!   every INSERT into `events`) holding only `(key, time, time_us, event_id)`, ordered by the key:
//!   an actor's or a request's events are a primary-key range there, and `GET /audit` selects the
//!   rows of `events` whose `event_id` is in that set.
//!
//! Idempotency by event id: every table is a `ReplacingMergeTree` whose sorting key ends with
//! `event_id` and otherwise holds only columns derived from the event itself, so a redelivered
//! event has exactly the same key as its first copy and background merges keep one of them;
//! readers use `FINAL` (exact, merges at read time) so that duplicates not merged yet never show.
//! The sink also drops duplicates within one batch. (ClickHouse's own insert deduplication works
//! only for Replicated tables, and keys on whole blocks, which a retried batch need not repeat.)

use crate::clickhouse::{ClickHouse, ClickHouseError};

pub const EVENTS: &str = "events";
pub const EVENTS_BY_ACTOR: &str = "events_by_actor";
pub const EVENTS_BY_REQUEST: &str = "events_by_request";

/// Columns of `events` that ClickHouse computes from `payload` when a row is inserted, for
/// `GET /analytics/requests`: reading the payloads (about 750 bytes each) to pull these out was
/// most of its time. `SELECT *` leaves them out, so readers of whole rows see no change. Tables
/// made before a column existed get it from [`migrate`]; their old parts compute it on read until
/// merged, so answers are the same, only slower for that data.
pub const DERIVED_COLUMNS: &[(&str, &str)] = &[
    (
        "region",
        "String MATERIALIZED if(event_type = 'request.created', visitParamExtractString(payload, 'region'), '')",
    ),
    (
        "category",
        "String MATERIALIZED if(event_type = 'request.created', visitParamExtractString(payload, 'category'), '')",
    ),
    (
        "status_to",
        "String MATERIALIZED if(event_type = 'workflow.status_changed', visitParamExtractString(payload, 'to'), '')",
    ),
    (
        "channel",
        "String MATERIALIZED multiIf(event_type = 'notification.email.sent', 'email', \
         event_type = 'notification.telegram.sent', 'telegram', \
         event_type = 'notification.sms.sent', 'sms', \
         event_type = 'notification.failed', visitParamExtractString(payload, 'channel'), '')",
    ),
];

#[derive(serde::Deserialize)]
struct ColumnName {
    name: String,
}

/// The DDL, in order, for `database`.
pub fn statements(database: &str) -> Vec<String> {
    vec![
        format!("CREATE DATABASE IF NOT EXISTS {database}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.{EVENTS} (
                event_id UUID,
                event_type String,
                event_version UInt16,
                source String,
                subject String,
                request_id String,
                actor_user_id String,
                actor_role String,
                actor_service String,
                correlation_id String,
                causation_id String,
                time DateTime,
                time_us Int64,
                topic String,
                partition Int32,
                offset Int64,
                ingested_at DateTime,
                payload String,
                {derived}
            ) ENGINE = ReplacingMergeTree(ingested_at)
            PARTITION BY toYYYYMM(time)
            ORDER BY (event_type, time_us, event_id)",
            derived = DERIVED_COLUMNS
                .iter()
                .map(|(name, definition)| format!("{name} {definition}"))
                .collect::<Vec<_>>()
                .join(",\n                ")
        ),
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{EVENTS_BY_ACTOR}
            ENGINE = ReplacingMergeTree()
            PARTITION BY toYYYYMM(time)
            ORDER BY (actor_user_id, time_us, event_id)
            AS SELECT actor_user_id, time, time_us, event_id
            FROM {database}.{EVENTS} WHERE actor_user_id != ''"
        ),
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{EVENTS_BY_REQUEST}
            ENGINE = ReplacingMergeTree()
            PARTITION BY toYYYYMM(time)
            ORDER BY (request_id, time_us, event_id)
            AS SELECT request_id, time, time_us, event_id
            FROM {database}.{EVENTS} WHERE request_id != ''"
        ),
    ]
}

/// Creates the database and tables of `clickhouse`'s configured database if they are missing,
/// and adds the [`DERIVED_COLUMNS`] a table made before them lacks (ClickHouse 18.16 has no
/// `ADD COLUMN IF NOT EXISTS`).
pub async fn migrate(clickhouse: &ClickHouse) -> Result<(), ClickHouseError> {
    let database = clickhouse.database();
    for statement in statements(database) {
        clickhouse.execute(&statement, false).await?;
    }
    let present: Vec<ColumnName> = clickhouse
        .select(&format!(
            "SELECT name FROM system.columns WHERE database = {} AND table = '{EVENTS}' \
             FORMAT JSONEachRow",
            crate::clickhouse::quote(database)
        ))
        .await?;
    for (name, definition) in DERIVED_COLUMNS {
        if !present.iter().any(|c| c.name == *name) {
            clickhouse
                .execute(
                    &format!("ALTER TABLE {database}.{EVENTS} ADD COLUMN {name} {definition}"),
                    false,
                )
                .await?;
        }
    }
    Ok(())
}
