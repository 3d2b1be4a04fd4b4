//! The audit and analytics sink (issue 5 §4) and its reading side, `GET /audit` (issue 4).
//!
//! - [`clickhouse`]: a small client for ClickHouse's HTTP interface (no driver: plain `reqwest`).
//! - [`schema`]: the database, the `events` table and its two lookup views, created idempotently.
//! - [`row`]: one event as one row: who acted, which request it concerns, where it was read.
//! - [`sink`]: the Kafka batch: decode, dead-letter what does not decode, one INSERT per batch.
//! - [`query`]: `GET /audit`: filters, keyset pagination, the page.
//! - [`analytics`]: `GET /analytics/requests`: the business at a glance, computed by ClickHouse.
//! - [`reader`]: the environment of the two reading functions (ClickHouse, no database) and
//!   [`AuditQueryError`], why a read did not happen.

pub mod analytics;
pub mod clickhouse;
pub mod query;
pub mod reader;
pub mod row;
pub mod schema;
pub mod sink;

pub use clickhouse::{ClickHouse, ClickHouseConfig, ClickHouseError};
pub use reader::{AuditQueryError, AuditReader};
