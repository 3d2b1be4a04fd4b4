//! `POST /contractors/{id}/access/grant` (API Gateway HTTP API); honours `Idempotency-Key`.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_contractors::security;
use servicehub_platform::{Services, idempotency_key::respond_once, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("grant-contractor-access").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond_once(&services, request, |request, info| {
                security::grant_access(&services, request, info)
            })
            .await,
        )
    }))
    .await
}
