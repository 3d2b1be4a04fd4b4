//! `POST /me/contact-verifications` (API Gateway HTTP API; behind the JWT authorizer; any
//! account): the caller types back the code that proves one of their contacts.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, contact};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("verify-contact").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&auth.services.reporter, request, |request, info| {
                contact::verify(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
