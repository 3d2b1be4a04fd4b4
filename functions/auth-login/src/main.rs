//! `POST /auth/login` (API Gateway HTTP API, public).
//! No `Idempotency-Key` replay here on purpose: a replay would need the issued tokens stored in
//! plain text; a repeated login simply starts another session.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, session};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("auth-login").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&auth.services.reporter, request, |request, info| {
                session::login(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
