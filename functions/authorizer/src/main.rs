//! The HTTP API's Lambda REQUEST authorizer (payload format 2.0, simple responses): verifies the
//! `Authorization: Bearer <jwt>` access token and passes `sub`, `role` and `regions` to the routes.

// The AWS SDK's futures nest deeper than the default limit allows when laid out.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_auth::authorizer::Authorizer;
use servicehub_platform::report::Reporter;
use servicehub_platform::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let authorizer = Authorizer::from_env().await?;
    let reporter = Reporter::from_env("authorizer").await?;
    let (authorizer, reporter) = (&authorizer, &reporter);
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let decision = reporter.observe("authorize", 1, authorizer.handle(&event.payload));
        Ok::<_, Error>(decision.await?)
    }))
    .await
}
