//! `POST /auth/register` (API Gateway HTTP API; honours `Idempotency-Key`, public).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, account};
use servicehub_platform::{idempotency_key::respond_once, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("auth-register").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond_once(&auth.services, request, |request, info| {
                account::register(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
