//! `POST /auth/refresh` (API Gateway HTTP API, public).
//! No `Idempotency-Key` replay here on purpose: a replay would need the issued tokens stored in
//! plain text; a retried refresh with the old token is answered as reuse (see shared/auth).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, session};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("auth-refresh").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&auth.services.reporter, request, |request, info| {
                session::refresh(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
