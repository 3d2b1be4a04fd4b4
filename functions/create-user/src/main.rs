//! `POST /users` (API Gateway HTTP API; honours `Idempotency-Key`, behind the JWT authorizer; admins only).

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    idempotent (caller, body) servicehub_auth::account::create_user
);
