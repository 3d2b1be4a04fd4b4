//! What every function's `main` does, once: structured logs, the clients built once per execution
//! environment, then the Lambda runtime loop handing each event to the function's use case. An
//! HTTP function's `main.rs` is its doc comment and one [`http_main!`](crate::http_main) line; a
//! Kafka consumer's one [`consumer_main!`](crate::consumer_main) line.
//!
//! A macro rather than a generic `async fn`: `lambda_http::run` needs each invocation's future to
//! be `Send`, which a generic async handler cannot promise on stable Rust; expanded in the
//! function's crate, the future is concrete and the compiler checks it there.

use crate::Services;
use crate::report::Reporter;

/// The clients an execution environment builds at init: [`Services`], a richer set that holds
/// them (`servicehub_auth::AuthServices`), or a set without a database
/// (`servicehub_audit::AuditReader`). Failures are reported through its reporter.
pub trait Environment {
    fn reporter(&self) -> &Reporter;
}

/// An environment with the database, where `Idempotency-Key` replays are kept.
pub trait WithDatabase: Environment {
    fn services(&self) -> &Services;
}

impl Environment for Services {
    fn reporter(&self) -> &Reporter {
        &self.reporter
    }
}

impl WithDatabase for Services {
    fn services(&self) -> &Services {
        self
    }
}

/// The `main` of an HTTP function (API Gateway HTTP API, payload 2.0):
///
/// ```ignore
/// servicehub_platform::http_main!(Services, servicehub_requests::get::handle);
/// servicehub_platform::http_main!(Services, idempotent servicehub_requests::workflow::accept);
/// servicehub_platform::http_main!(AuthServices, servicehub_auth::session::login);
/// ```
///
/// The environment type has `from_env(service_name)` (the package's name, which is the binary's
/// and the template's `SERVICE_NAME`) and implements [`Environment`] ([`WithDatabase`] for
/// `idempotent`). The handler is
/// `async fn(&Env, Request, RequestInfo) -> Result<Response<Body>, ApiError>`, answered through
/// [`http::respond`](crate::http::respond) (problem+json errors, NUL checks, failure reports), or
/// through [`idempotency_key::respond_once`](crate::idempotency_key::respond_once) for routes that
/// replay on `Idempotency-Key` (`idempotent`). The crate depends on `tokio` and `lambda_http`.
///
/// A use case that acts on one resource and knows nothing of HTTP goes through
/// [`http::by_id`](crate::http::by_id), which names the resource in its 404:
///
/// ```ignore
/// servicehub_platform::http_main!(Services, idempotent by_id "contractor" servicehub_contractors::security::verify);
/// ```
///
/// (`verify(&Services, Caller, Uuid, Option<Value>) -> Result<View, E>` with `ApiError: From<E>`.)
#[macro_export]
macro_rules! http_main {
    ($environment:ty, idempotent by_id $resource:literal $use_case:path) => {
        $crate::http_main!($environment, idempotent |environment, request, info| {
            $crate::http::by_id(request, info, $resource, |caller, id, body| {
                $use_case(environment, caller, id, body)
            })
        });
    };
    ($environment:ty, by_id $resource:literal $use_case:path) => {
        $crate::http_main!($environment, |environment, request, info| {
            $crate::http::by_id(request, info, $resource, |caller, id, body| {
                $use_case(environment, caller, id, body)
            })
        });
    };
    ($environment:ty, idempotent |$e:ident, $r:ident, $i:ident| $handler:expr) => {
        $crate::http_main!(@main $environment, |environment, request| {
            $crate::idempotency_key::respond_once(
                $crate::function::WithDatabase::services(environment),
                request,
                |$r, $i| { let $e = environment; $handler },
            )
        });
    };
    ($environment:ty, |$e:ident, $r:ident, $i:ident| $handler:expr) => {
        $crate::http_main!(@main $environment, |environment, request| {
            $crate::http::respond(
                $crate::function::Environment::reporter(environment),
                request,
                |$r, $i| { let $e = environment; $handler },
            )
        });
    };
    ($environment:ty, idempotent $handler:path) => {
        $crate::http_main!($environment, idempotent |environment, request, info| {
            $handler(environment, request, info)
        });
    };
    ($environment:ty, $handler:path) => {
        $crate::http_main!($environment, |environment, request, info| {
            $handler(environment, request, info)
        });
    };
    (@main $environment:ty, |$env:ident, $request:ident| $answer:expr) => {
        #[::tokio::main(flavor = "current_thread")]
        async fn main() -> ::std::result::Result<(), $crate::BoxError> {
            $crate::telemetry::init();
            let environment = <$environment>::from_env(env!("CARGO_PKG_NAME")).await?;
            ::lambda_http::run(::lambda_http::service_fn(
                |$request: ::lambda_http::Request| async {
                    let $env = &environment;
                    ::std::result::Result::<_, $crate::BoxError>::Ok($answer.await)
                },
            ))
            .await
        }
    };
}

/// The `main` of a Kafka consumer (an MSK or self-managed Kafka event source mapping): each batch
/// through [`consumer::process_batch`](crate::consumer::process_batch) (decoding, dead letters,
/// idempotence, the batch report), handled by the handler the expression builds from the
/// function's [`Services`]:
///
/// ```ignore
/// servicehub_platform::consumer_main!(|services| AssignManager { services });
/// // What else the handler borrows is made first, once per execution environment:
/// servicehub_platform::consumer_main!(|services| {
///     let files = DocumentFiles::from_env().await?;
/// } DocumentGenerator { services, files: &files });
/// ```
///
/// The crate depends on `tokio`, `lambda_runtime` and `serde_json`.
#[macro_export]
macro_rules! consumer_main {
    (|$services:ident| $handler:expr) => {
        $crate::consumer_main!(|$services| {} $handler);
    };
    (|$services:ident| { $($setup:stmt;)* } $handler:expr) => {
        #[::tokio::main(flavor = "current_thread")]
        async fn main() -> ::std::result::Result<(), $crate::BoxError> {
            $crate::telemetry::init();
            let environment = $crate::Services::from_env(env!("CARGO_PKG_NAME")).await?;
            let $services = &environment;
            $($setup;)*
            let handler = &$handler;
            ::lambda_runtime::run(::lambda_runtime::service_fn(
                |event: ::lambda_runtime::LambdaEvent<::serde_json::Value>| async move {
                    let report =
                        $crate::consumer::process_batch(&event.payload, $services, handler).await?;
                    ::std::result::Result::<_, $crate::BoxError>::Ok(report)
                },
            ))
            .await
        }
    };
}
