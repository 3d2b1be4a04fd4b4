//! `GET /me` (API Gateway HTTP API, behind the JWT authorizer).

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (caller) servicehub_auth::account::me
);
