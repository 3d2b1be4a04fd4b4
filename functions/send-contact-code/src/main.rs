//! `POST /me/contact-codes` (API Gateway HTTP API; behind the JWT authorizer; any account): a new
//! code to one of the caller's contacts, sent by notify.

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (caller, body) servicehub_auth::contact::send_code
);
