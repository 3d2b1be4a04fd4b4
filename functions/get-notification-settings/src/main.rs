//! `GET /me/notification-settings` (API Gateway HTTP API; behind the JWT authorizer; any account): the caller's channels, language, quiet hours and contacts.

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (caller) servicehub_auth::settings::get
);
