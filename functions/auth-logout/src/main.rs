//! `POST /auth/logout` (API Gateway HTTP API; honours `Idempotency-Key`, behind the JWT authorizer).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, session};
use servicehub_platform::{idempotency_key::respond_once, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("auth-logout").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond_once(&auth.services, request, |request, info| {
                session::logout(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
