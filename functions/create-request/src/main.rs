//! `POST /requests` (API Gateway HTTP API); honours `Idempotency-Key`.

servicehub_platform::http_main!(
    servicehub_platform::Services,
    idempotent (caller, body) servicehub_requests::create::create
);
