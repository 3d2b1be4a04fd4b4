//! The HTTP API's Lambda REQUEST authorizer (payload format 2.0, simple responses): verifies the
//! `Authorization: Bearer <jwt>` access token and passes `sub`, `role` and `regions` to the routes.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_auth::authorizer::Authorizer;
use servicehub_platform::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let authorizer = Authorizer::from_env().await?;
    let authorizer = &authorizer;
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(authorizer.handle(&event.payload).await?)
    }))
    .await
}
