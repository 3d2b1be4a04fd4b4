//! `GET /analytics/requests` (API Gateway HTTP API): the business at a glance from ClickHouse,
//! for admins and for managers (their regions).

servicehub_platform::http_main!(
    servicehub_audit::AuditReader,
    (caller, query) servicehub_audit::analytics::request_analytics
);
