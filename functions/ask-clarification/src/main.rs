//! `POST /requests/{id}/clarification` (API Gateway HTTP API); honours `Idempotency-Key`.

servicehub_platform::http_main!(
    servicehub_platform::Services,
    idempotent (caller, id "service request", body) servicehub_requests::workflow::ask_clarification
);
