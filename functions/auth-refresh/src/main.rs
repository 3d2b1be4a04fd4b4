//! `POST /auth/refresh` (API Gateway HTTP API, public).
//! No `Idempotency-Key` replay here on purpose: a replay would need the issued tokens stored in
//! plain text; a retried refresh with the old token is answered as reuse (see shared/auth).

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (trace, body) servicehub_auth::session::refresh
);
