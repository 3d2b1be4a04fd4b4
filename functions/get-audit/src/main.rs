//! `GET /audit` (API Gateway HTTP API): the audit log from ClickHouse, for admins.

servicehub_platform::http_main!(
    servicehub_audit::AuditReader,
    servicehub_audit::query::handle
);
