//! `POST /me/contact-codes` (API Gateway HTTP API; behind the JWT authorizer; any account): a new
//! code to one of the caller's contacts, sent by notify.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, contact};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("send-contact-code").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&auth.services.reporter, request, |request, info| {
                contact::send_code(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
