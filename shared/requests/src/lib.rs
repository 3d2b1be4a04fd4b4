//! The service-request aggregate: how it is stored, how it is shown, and the use cases of the
//! functions that create, read and route requests.

pub mod assign_manager;
pub mod create;
pub mod get;
pub mod history;
pub mod list;
pub mod store;
pub mod view;
pub mod workflow;
