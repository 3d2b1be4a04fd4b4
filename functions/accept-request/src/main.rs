//! `POST /requests/{id}/accept` (API Gateway HTTP API); honours `Idempotency-Key`.

use lambda_http::{Error, Request, run, service_fn};
use servicehub_platform::{Services, idempotency_key::respond_once, telemetry};
use servicehub_requests::workflow;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("accept-request").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond_once(&services, request, |request, info| {
                workflow::accept(&services, request, info)
            })
            .await,
        )
    }))
    .await
}
