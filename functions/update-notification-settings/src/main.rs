//! `PATCH /me/notification-settings` (API Gateway HTTP API; behind the JWT authorizer; any account): change channels, language, quiet hours, phone or Telegram chat.

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (caller, body) servicehub_auth::settings::update
);
