//! `GET /requests` (API Gateway HTTP API).

use lambda_http::{Error, Request, run, service_fn};
use servicehub_platform::{Services, http::respond, telemetry};
use servicehub_requests::list;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env("list-requests").await?;
    run(service_fn(|request: Request| async {
        Ok::<_, Error>(
            respond(&services.reporter, request, |request, info| {
                list::handle(&services, request, info)
            })
            .await,
        )
    }))
    .await
}
