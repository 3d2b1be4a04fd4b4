//! `POST /auth/register` (API Gateway HTTP API, public).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, account};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("auth-register").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(request, |request, info| {
                account::register(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
