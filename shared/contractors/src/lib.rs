//! Contractors as security officers see them: `POST /contractors/{id}/verify`, `/reject`,
//! `/access/grant`, `/access/revoke` (security role) and `GET /contractors?status=` (security
//! and admins). Each decision changes the contractor's standing, emits its `security.*` event
//! and `audit.user_action` in one transaction (outbox). The `security-check` consumer
//! ([`assignment_check`]) reverts assignments of contractors who may not hold them.

pub mod assignment_check;
pub mod list;
pub mod security;
pub mod store;
pub mod view;
