//! `PATCH /users/{id}` (API Gateway HTTP API; behind the JWT authorizer; admins only): disable or
//! enable an account.

servicehub_platform::http_main!(
    servicehub_auth::AuthServices,
    (caller, id "user", body) servicehub_auth::account::update_user
);
