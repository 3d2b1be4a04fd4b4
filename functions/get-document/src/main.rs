//! `GET /documents/{id}` (API Gateway HTTP API).

// The AWS SDK's futures nest deeper than the default limit allows when laid out.
#![recursion_limit = "256"]

servicehub_platform::http_main!(
    servicehub_hr::api::HrServices,
    (caller, id "document") servicehub_hr::api::get
);
