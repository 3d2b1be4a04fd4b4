//! `POST /auth/logout` (API Gateway HTTP API; honours `Idempotency-Key`, behind the JWT authorizer).

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    idempotent (caller, body) servicehub_auth::session::logout
);
