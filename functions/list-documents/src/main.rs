//! `GET /documents` (API Gateway HTTP API).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_hr::api;
use servicehub_platform::{Services, http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("list-documents").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&services.reporter, request, |request, info| {
                api::list(&services, request, info)
            })
            .await,
        )
    }))
    .await
}
