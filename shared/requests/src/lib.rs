//! The service-request aggregate: how it is stored, how it is shown, and the use cases of the
//! functions that create, read and route requests: use cases that know nothing of HTTP (a
//! [`Caller`](servicehub_platform::http::Caller) and the request's id or body in, a view or a
//! [`RequestError`](error::RequestError) out).

pub mod assign_manager;
pub mod create;
pub mod error;
pub mod get;
pub mod history;
pub mod list;
pub mod store;
pub mod view;
pub mod workflow;
