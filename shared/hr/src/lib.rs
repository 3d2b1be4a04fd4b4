//! HR documents: the contractor's contract (on `security.contractor_verified`), the act of
//! completed work and the payment order (on `workflow.work_completed`), as PDFs in S3 with rows
//! in Postgres; their signatures; the payment once both parties signed the act.

pub mod api;
pub mod files;
pub mod generator;
pub mod pdf;
pub mod store;
pub mod texts;
