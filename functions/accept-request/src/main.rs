//! `POST /requests/{id}/accept` (API Gateway HTTP API); honours `Idempotency-Key`.

servicehub_platform::http_main!(servicehub_platform::Services, idempotent servicehub_requests::workflow::accept);
