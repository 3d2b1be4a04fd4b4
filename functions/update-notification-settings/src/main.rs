//! `PATCH /me/notification-settings` (API Gateway HTTP API; behind the JWT authorizer; any account): change channels, language, quiet hours, phone or Telegram chat.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_auth::{AuthServices, settings};
use servicehub_platform::{http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let auth = AuthServices::from_env("update-notification-settings").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&auth.services.reporter, request, |request, info| {
                settings::update(&auth, request, info)
            })
            .await,
        )
    }))
    .await
}
