//! `POST /contractors/{id}/verify` (API Gateway HTTP API); honours `Idempotency-Key`.

servicehub_platform::http_main!(
    servicehub_platform::Services,
    idempotent (caller, id "contractor", body) servicehub_contractors::security::verify
);
