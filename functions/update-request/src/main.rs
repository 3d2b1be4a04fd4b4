//! `PATCH /requests/{id}` (API Gateway HTTP API).

servicehub_platform::http_main!(
    servicehub_platform::Services,
    idempotent (caller, id "service request", body) servicehub_requests::workflow::update
);
