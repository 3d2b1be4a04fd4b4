//! Pure domain logic of servicehub. No I/O: everything here is tested with plain values.
//!
//! - [`validation`]: field-level validation errors, and a reader of JSON objects that collects them.
//! - [`request`]: a service request's input parsed into types that cannot hold invalid values.
//! - [`workflow`]: the request lifecycle state machine.
//! - [`assignment`]: which manager gets a new request, and its priority.
//! - [`contractors`]: security decisions about contractors.
//! - [`contacts`]: the one-time codes that prove an e-mail, phone or Telegram chat, and their limits.
//! - [`commands`]: the workflow commands' input, and who may issue which command.
//! - [`access`]: who may see a request.
//! - [`listing`]: the filters and cursor of the request list.
//! - [`quiet_hours`]: when a user wants no messages that can wait.

pub mod access;
pub mod assignment;
pub mod commands;
pub mod contacts;
pub mod contractors;
pub mod listing;
pub mod quiet_hours;
pub mod request;
pub mod validation;
pub mod workflow;

pub use servicehub_events::values::{Priority, RequestStatus, Role, Urgency};
