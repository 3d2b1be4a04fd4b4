//! Invokes one function's real binary once with a payload file, the way Lambda would, and prints
//! its response. The function gets this process's environment (e.g. after
//! `eval "$(tools/dev-services env)"`), so it talks to the dev services.
//!
//! ```text
//! cargo build --bins && cargo run -p local-lambda --bin lambda-invoke -- create-request events/create-request.json
//! ```

use local_lambda::{FunctionSpec, LambdaEnvironment};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [function, payload_file] = args.as_slice() else {
        eprintln!(
            "usage: lambda-invoke <function> <payload.json>   (e.g. create-request events/create-request.json)"
        );
        return ExitCode::from(2);
    };
    let payload = match std::fs::read_to_string(payload_file).map(|t| serde_json::from_str(&t)) {
        Ok(Ok(payload)) => payload,
        Ok(Err(error)) => return fail(&format!("{payload_file} is not JSON: {error}")),
        Err(error) => return fail(&format!("cannot read {payload_file}: {error}")),
    };
    // The function binaries sit beside this one in the cargo target directory.
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(function)))
        .unwrap_or_else(|| PathBuf::from(function));
    if !binary.exists() {
        return fail(&format!(
            "{} is not built: run `cargo build --bins` first",
            binary.display()
        ));
    }
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.push(("SERVICE_NAME".into(), function.clone()));
    let started = std::time::Instant::now();
    let environment = match LambdaEnvironment::start(FunctionSpec {
        name: function.clone(),
        binary,
        env,
        timeout: Duration::from_secs(30),
        memory_mb: 256,
    })
    .await
    {
        Ok(environment) => environment,
        Err(error) => return fail(&format!("cannot start {function}: {error}")),
    };
    let result = environment.invoke(&payload).await;
    let elapsed = started.elapsed();
    let init = environment.init_duration();
    environment.stop().await;
    match result {
        Ok(response) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&response).unwrap_or_default()
            );
            let init = init
                .map(|d| format!("{d:.1?}"))
                .unwrap_or_else(|| "?".into());
            eprintln!(
                "lambda-invoke: {function} answered in {elapsed:.1?} (init {init}, then the invocation)"
            );
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("{function}: {error}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("lambda-invoke: {message}");
    ExitCode::FAILURE
}
