//! `POST /auth/login` (API Gateway HTTP API, public).
//! No `Idempotency-Key` replay here on purpose: a replay would need the issued tokens stored in
//! plain text; a repeated login simply starts another session.

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (trace, body) servicehub_auth::session::login
);
