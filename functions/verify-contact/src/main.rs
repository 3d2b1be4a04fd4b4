//! `POST /me/contact-verifications` (API Gateway HTTP API; behind the JWT authorizer; any
//! account): the caller types back the code that proves one of their contacts.

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (caller, body) servicehub_auth::contact::verify
);
