//! Authentication and accounts of servicehub.
//!
//! Pure parts, tested with plain values:
//! - [`input`]: e-mail, phone, password (with its policy), display name, notification
//!   preferences, and the request bodies of the auth routes, parsed into types with field errors.
//! - [`password`]: argon2id hashes as PHC strings.
//! - [`token`]: HS256 access tokens (sub, exp, iat, nbf, iss, aud, jti + role, regions) and opaque
//!   refresh tokens stored as their SHA-256.
//! - [`throttle`]: the per-account login lock.
//! - [`authorizer`]: the decision of the Lambda REQUEST authorizer.
//! - [`config`]: settings from the environment.
//!
//! Adapters and use cases:
//! - [`secrets`]: Secrets Manager (the signing key, cached per execution environment).
//! - [`store`]: accounts, refresh tokens and throttle state in Postgres.
//! - [`account`], [`session`], [`bootstrap`], [`contact`]: what the functions `auth-register`,
//!   `create-user`, `update-user`, `get-me`, `auth-login`, `auth-refresh`, `auth-logout`,
//!   `send-contact-code`, `verify-contact` and [`settings`]: `get-notification-settings` and
//!   `update-notification-settings` run. They know nothing of HTTP (each function's `main` is an
//!   `http_main!` line) and fail with [`session::SessionError`], [`account::AccountError`] or
//!   [`contact::ContactError`], whose `From` impls are the only place an auth error gets an HTTP
//!   status.

pub mod account;
pub mod authorizer;
pub mod bootstrap;
pub mod config;
pub mod contact;
pub mod input;
pub mod password;
pub mod secrets;
pub mod service;
pub mod session;
pub mod settings;
pub mod store;
pub mod throttle;
pub mod token;
pub mod view;

pub use config::AuthConfig;
pub use service::AuthServices;
