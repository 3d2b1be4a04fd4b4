//! `PATCH /users/{id}` (API Gateway HTTP API; behind the JWT authorizer; admins only): disable or
//! enable an account.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, account};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("update-user").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&auth.services.reporter, request, |request, info| {
                account::update_user(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
