//! `GET /audit` (API Gateway HTTP API): the audit log from ClickHouse, for admins.

servicehub_platform::http_main!(
    servicehub_audit::AuditReader,
    (caller, query) servicehub_audit::query::audit_log
);
