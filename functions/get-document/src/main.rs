//! `GET /documents/{id}` (API Gateway HTTP API).

// The AWS SDK's futures nest deeper than the default limit allows when laid out.
#![recursion_limit = "256"]

use lambda_http::{Error, Request, run, service_fn};
use servicehub_hr::api;
use servicehub_hr::files::DocumentFiles;
use servicehub_platform::{Services, http::respond, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("get-document").await?;
    let files = DocumentFiles::from_env().await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&services.reporter, request, |request, info| {
                api::get(&services, &files, request, info)
            })
            .await,
        )
    }))
    .await
}
