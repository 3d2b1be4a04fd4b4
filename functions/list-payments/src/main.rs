//! `GET /payments` (API Gateway HTTP API).

servicehub_platform::http_main!(servicehub_platform::Services, servicehub_hr::api::payments);
