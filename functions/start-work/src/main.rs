//! `POST /requests/{id}/start` (API Gateway HTTP API); honours `Idempotency-Key`.

servicehub_platform::http_main!(
    servicehub_platform::Services,
    idempotent (caller, id "service request") servicehub_requests::workflow::start
);
