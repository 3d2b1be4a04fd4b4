//! `POST /users` (API Gateway HTTP API; honours `Idempotency-Key`, behind the JWT authorizer; admins only).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, account};
use servicehub_platform::{idempotency_key::respond_once, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("create-user").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond_once(&auth.services, request, |request, info| {
                account::create_user(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
