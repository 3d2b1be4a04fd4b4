//! Scheduled (EventBridge, every minute): publishes what the outbox still holds, prunes it and
//! reports its backlog ([`servicehub_platform::relay`]).

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use servicehub_platform::config::Vars;
use servicehub_platform::relay::{RelayConfig, relay};
use servicehub_platform::{Services, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let services = Services::from_env(env!("CARGO_PKG_NAME")).await?;
    let config = RelayConfig::from_vars(&Vars::from_env())?;
    run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(relay(&services, &config).await?)
    }))
    .await
}
