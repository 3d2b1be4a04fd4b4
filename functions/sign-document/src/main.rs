//! `POST /documents/{id}/sign` (API Gateway HTTP API); honours `Idempotency-Key`.

servicehub_platform::http_main!(
    servicehub_platform::Services,
    idempotent (caller, id "document") servicehub_hr::api::sign
);
