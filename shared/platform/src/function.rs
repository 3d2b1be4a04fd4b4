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

/// The `main` of an HTTP function (API Gateway HTTP API, payload 2.0). Its route's use case
/// knows nothing of HTTP: the line says what it takes, in that order, and the transport is done
/// here once for every function:
///
/// ```ignore
/// servicehub_platform::http_main!(Services, (caller, id "service request") servicehub_requests::get::get);
/// servicehub_platform::http_main!(Services, idempotent (caller, id "service request", body) servicehub_requests::workflow::cancel);
/// servicehub_platform::http_main!(Services, idempotent (caller, body) servicehub_requests::create::create);
/// servicehub_platform::http_main!(Services, (caller, query) servicehub_requests::list::list);
/// servicehub_platform::http_main!(AuthServices, (caller) servicehub_auth::account::me);
/// servicehub_platform::http_main!(AuthServices, (trace, body) servicehub_auth::session::login);
/// ```
///
/// - `caller`: the [`Caller`](crate::http::Caller) the authorizer vouched for (401 without one);
///   `trace`: only the correlation and trace context ([`Trace`](crate::http::Trace)), for
///   public routes;
/// - `id "resource"`: the `{id}` of the path as a `Uuid` (a value that is not one names no
///   resource: 404 "no resource with id ...");
/// - `body`: the JSON body as the use case's parameter type asks ([`FromBody`](crate::http::FromBody):
///   `Value` needs one, `Option<Value>` may have one; 415 for another content type, 400 when
///   it is not JSON);
/// - `query`: the query parameters as sorted (name, value) pairs.
///
/// The use case is `async fn(&Env, ...) -> Result<R, E>` with `R:` [`Reply`](crate::http::Reply)
/// (a view answers 200; `Created`, `Accepted`, `NoContent`) and `ApiError: From<E>`: each use
/// case's error says its HTTP answer once, in its `From` impl.
///
/// The environment type has `from_env(service_name)` (the package's name, which is the binary's
/// and the template's `SERVICE_NAME`) and implements [`Environment`] ([`WithDatabase`] for
/// `idempotent`). Every request goes through [`http::respond`](crate::http::respond)
/// (problem+json errors, NUL checks, failure reports), or through
/// [`idempotency_key::respond_once`](crate::idempotency_key::respond_once) for routes that replay
/// on `Idempotency-Key` (`idempotent`). The crate depends on `tokio` and `lambda_http`.
///
/// A handler that needs the request itself (headers, a binary body; none does today) is bound
/// as `|environment, request, info| handler(environment, request, info)`.
#[macro_export]
macro_rules! http_main {
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
    ($environment:ty, idempotent ($($arguments:tt)*) $use_case:path) => {
        $crate::http_main!(@use_case [idempotent] $environment, ($($arguments)*) $use_case);
    };
    ($environment:ty, ($($arguments:tt)*) $use_case:path) => {
        $crate::http_main!(@use_case [] $environment, ($($arguments)*) $use_case);
    };
    // Each argument list: what is read from the request, in the order of its answers' precedence.
    (@use_case [$($mode:ident)?] $environment:ty, (caller) $use_case:path) => {
        $crate::http_main!(@call [$($mode)?] $environment, $use_case, |request, info| [
            caller = info.caller()?
        ]);
    };
    (@use_case [$($mode:ident)?] $environment:ty, (caller, body) $use_case:path) => {
        $crate::http_main!(@call [$($mode)?] $environment, $use_case, |request, info| [
            caller = info.caller()?,
            body = $crate::http::FromBody::from_request(&request)?
        ]);
    };
    (@use_case [$($mode:ident)?] $environment:ty, (caller, query) $use_case:path) => {
        $crate::http_main!(@call [$($mode)?] $environment, $use_case, |request, info| [
            caller = info.caller()?,
            query = $crate::http::query_pairs(&request)
        ]);
    };
    (@use_case [$($mode:ident)?] $environment:ty, (caller, id $resource:literal) $use_case:path) => {
        $crate::http_main!(@call [$($mode)?] $environment, $use_case, |request, info| [
            caller = info.caller()?,
            id = $crate::http::path_uuid(&request, "id", $resource)?
        ]);
    };
    (@use_case [$($mode:ident)?] $environment:ty, (caller, id $resource:literal, body) $use_case:path) => {
        $crate::http_main!(@call [$($mode)?] $environment, $use_case, |request, info| [
            caller = info.caller()?,
            id = $crate::http::path_uuid(&request, "id", $resource)?,
            body = $crate::http::FromBody::from_request(&request)?
        ]);
    };
    (@use_case [$($mode:ident)?] $environment:ty, (trace, body) $use_case:path) => {
        $crate::http_main!(@call [$($mode)?] $environment, $use_case, |request, info| [
            trace = info.trace(),
            body = $crate::http::FromBody::from_request(&request)?
        ]);
    };
    (@call [$($mode:ident)?] $environment:ty, $use_case:path, |$request:ident, $info:ident| [$($argument:ident = $read:expr),+]) => {
        $crate::http_main!($environment, $($mode)? |environment, $request, $info| async move {
            $(let $argument = $read;)+
            let answer = $use_case(environment, $($argument),+).await?;
            ::std::result::Result::<_, $crate::http::ApiError>::Ok(
                $crate::http::Reply::into_response(answer, &$info),
            )
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
