//! `POST /auth/register` (API Gateway HTTP API; honours `Idempotency-Key`, public).

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    idempotent (trace, body) servicehub_auth::account::register
);
