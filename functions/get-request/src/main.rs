//! `GET /requests/{id}` (API Gateway HTTP API).

servicehub_platform::http_main!(
    servicehub_platform::Services,
    (caller, id "service request") servicehub_requests::get::get
);
