//! Contractors as security officers see them: `POST /contractors/{id}/verify`, `/reject`,
//! `/access/grant`, `/access/revoke` (security role) and `GET /contractors?status=` (security
//! and admins). Each decision changes the contractor's standing, emits its `security.*` event
//! and `audit.user_action` in one transaction (outbox).

pub mod list;
pub mod security;
pub mod store;
pub mod view;
