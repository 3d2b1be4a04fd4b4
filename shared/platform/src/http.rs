//! HTTP at the edge: what a request tells us (identity from the authorizer, correlation and trace
//! context), JSON bodies, and the one place where errors become RFC 7807 problem+json responses.

use crate::report::Reporter;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use servicehub_domain::validation::{FieldError, ValidationErrors};
use servicehub_domain::workflow::IllegalTransition;
use servicehub_events::values::{RequestStatus, Role};
use servicehub_events::{Envelope, Traceparent};
use thiserror::Error;
use uuid::Uuid;

pub const CORRELATION_HEADER: &str = "x-correlation-id";
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The caller, as the Lambda authorizer vouched for them in `requestContext.authorizer.lambda`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: Uuid,
    pub role: Role,
    pub regions: Vec<String>,
}

/// What every handler needs to know about the HTTP request besides its body.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// API Gateway's request id (the Lambda request id when there is none).
    pub request_id: String,
    pub path: String,
    /// From `X-Correlation-Id` when the caller sent a UUID, else new; echoed in the response.
    pub correlation_id: Uuid,
    pub traceparent: Option<Traceparent>,
    /// `None` when no authorizer ran or its context is not one we issued.
    pub identity: Option<Identity>,
}

impl RequestInfo {
    pub fn from_request(request: &Request) -> RequestInfo {
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        let context = request.request_context_ref();
        let (request_id, authorizer_fields) = match context {
            Some(RequestContext::ApiGatewayV2(ctx)) => (
                ctx.request_id.clone(),
                ctx.authorizer.as_ref().map(|a| &a.fields),
            ),
            _ => (None, None),
        };
        RequestInfo {
            request_id: request_id
                .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
                .unwrap_or_default(),
            path: request.raw_http_path().to_owned(),
            correlation_id: header(CORRELATION_HEADER)
                .and_then(|v| Uuid::parse_str(v).ok())
                .unwrap_or_else(Uuid::now_v7),
            traceparent: header("traceparent").and_then(Traceparent::parse),
            identity: authorizer_fields.and_then(identity_from_claims),
        }
    }

    /// The caller, or 401.
    pub fn require_identity(&self) -> Result<&Identity, ApiError> {
        self.identity
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("a valid bearer token is required".into()))
    }
}

/// Reads `sub`, `role` and `regions` (an array, or a `region` string) from authorizer claims.
pub fn identity_from_claims(fields: &std::collections::HashMap<String, Value>) -> Option<Identity> {
    let user_id = Uuid::parse_str(fields.get("sub")?.as_str()?).ok()?;
    let role = Role::parse(fields.get("role")?.as_str()?)?;
    let regions = match (fields.get("regions"), fields.get("region")) {
        (Some(Value::Array(items)), _) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        // Lambda authorizer contexts only carry strings, so lists may arrive comma-separated.
        (Some(Value::String(list)), _) => list
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        (None, Some(Value::String(region))) => vec![region.clone()],
        _ => Vec::new(),
    };
    Some(Identity {
        user_id,
        role,
        regions,
    })
}

/// Parses the body as JSON: 415 for another content type, 400 when it is not JSON.
pub fn json_body(request: &Request) -> Result<Value, ApiError> {
    if let Some(content_type) = request.headers().get(http::header::CONTENT_TYPE) {
        let content_type = content_type
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(content_type));
        }
    }
    let bytes = body_bytes(request.body());
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("the request body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// The body's bytes, whether API Gateway passed it as text or base64-decoded binary.
pub(crate) fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    }
}

/// The body as JSON when there is one (absent or blank: `None`), else as [`json_body`].
pub fn optional_json_body(request: &Request) -> Result<Option<Value>, ApiError> {
    if body_bytes(request.body())
        .iter()
        .all(u8::is_ascii_whitespace)
    {
        Ok(None)
    } else {
        json_body(request).map(Some)
    }
}

/// A body as a use case takes it: `Value` when the route needs one (an empty body is a 400),
/// `Option<Value>` when it may have one.
pub trait FromBody: Sized {
    fn from_request(request: &Request) -> Result<Self, ApiError>;
}

impl FromBody for Value {
    fn from_request(request: &Request) -> Result<Value, ApiError> {
        json_body(request)
    }
}

impl FromBody for Option<Value> {
    fn from_request(request: &Request) -> Result<Option<Value>, ApiError> {
        optional_json_body(request)
    }
}

/// The correlation and trace context a call carries, without the request that carried it.
#[derive(Debug, Clone)]
pub struct Trace {
    pub correlation_id: Uuid,
    pub traceparent: Option<Traceparent>,
}

impl Trace {
    /// `envelope` in this call's correlation and trace.
    pub fn stamp(&self, envelope: Envelope) -> Envelope {
        envelope.with_context(self.correlation_id, None, self.traceparent.clone())
    }
}

/// Who calls, and in which correlation and trace: all a use case needs of the request that
/// carried the call, without the request itself.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub trace: Trace,
}

impl RequestInfo {
    /// The caller the authorizer vouched for, or 401.
    pub fn caller(&self) -> Result<Caller, ApiError> {
        Ok(Caller {
            identity: self.require_identity()?.clone(),
            trace: self.trace(),
        })
    }

    pub fn trace(&self) -> Trace {
        Trace {
            correlation_id: self.correlation_id,
            traceparent: self.traceparent.clone(),
        }
    }
}

/// What a use case answers when it succeeds, as HTTP: a view is a 200 with it as JSON;
/// [`Created`], [`Accepted`] and [`NoContent`] say otherwise. The one place a use case's success
/// becomes a response; its failure becomes one through `From<E> for ApiError`.
pub trait Reply {
    fn into_response(self, info: &RequestInfo) -> Response<Body>;
}

impl<V: Serialize> Reply for V {
    fn into_response(self, info: &RequestInfo) -> Response<Body> {
        json_response(200, &self, info, None)
    }
}

/// 201, with `Location` when the new resource has an address of its own.
#[derive(Debug)]
pub struct Created<V> {
    pub view: V,
    pub location: Option<String>,
}

impl<V: Serialize> Reply for Created<V> {
    fn into_response(self, info: &RequestInfo) -> Response<Body> {
        json_response(201, &self.view, info, self.location.as_deref())
    }
}

/// 202: taken, and done later (a code that is on its way).
#[derive(Debug)]
pub struct Accepted<V>(pub V);

impl<V: Serialize> Reply for Accepted<V> {
    fn into_response(self, info: &RequestInfo) -> Response<Body> {
        json_response(202, &self.0, info, None)
    }
}

/// 204: done, nothing to show.
#[derive(Debug)]
pub struct NoContent;

impl Reply for NoContent {
    fn into_response(self, info: &RequestInfo) -> Response<Body> {
        Response::builder()
            .status(204)
            .header(CORRELATION_HEADER, info.correlation_id.to_string())
            .body(Body::Empty)
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// A UUID path parameter. A value that is not a UUID names no resource: 404.
pub fn path_uuid(request: &Request, name: &str, resource: &str) -> Result<Uuid, ApiError> {
    let params = request.path_parameters();
    let raw = params.first(name).unwrap_or_default();
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("no {resource} with id {raw:?}")))
}

/// Every way an HTTP handler can fail, each with its status in [`ApiError::status`].
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        current_status: Option<RequestStatus>,
    },
    #[error("content type {0:?} is not supported; send application/json")]
    UnsupportedMediaType(String),
    #[error("validation failed: {0}")]
    Validation(ValidationErrors),
    /// A limit holds: the client may try again in `retry_after` seconds (`Retry-After`).
    #[error("too many requests: {detail}")]
    TooManyRequests { detail: String, retry_after: i64 },
    /// A backing service is down or overloaded: the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure. Its detail is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> ApiError {
        ApiError::Validation(errors)
    }
}

impl From<IllegalTransition> for ApiError {
    fn from(error: IllegalTransition) -> ApiError {
        ApiError::Conflict {
            detail: error.to_string(),
            current_status: Some(error.current),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> ApiError {
        if crate::db::is_transient(&error) {
            ApiError::Unavailable("the database is unavailable".into())
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

/// RFC 7807 problem details: the body of every error this API answers itself.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Problem<'a> {
    /// `urn:servicehub:problem:<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: String,
    /// The request path.
    pub instance: &'a str,
    /// API Gateway's request id: quote it when reporting a problem.
    pub request_id: &'a str,
    pub correlation_id: Uuid,
    /// 422: every invalid field (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// 409 from a workflow step: the request's status (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<RequestStatus>,
    /// 429: the seconds `Retry-After` says (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

impl ApiError {
    /// For the failures a function reports as `audit.error_occurred` (5xx): their kind and
    /// whether a retry may help.
    pub fn failure_kind(&self) -> Option<(&'static str, bool)> {
        match self {
            ApiError::Unavailable(_) => Some(("service_unavailable", true)),
            ApiError::Internal(_) => Some(("internal_error", false)),
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::MalformedJson(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Validation(_) => 422,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::NotFound(_) => ("not-found", "Not Found"),
            ApiError::Conflict { .. } => ("conflict", "Conflict"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported Media Type")
            }
            ApiError::Validation(_) => ("validation-failed", "Validation Failed"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too Many Requests"),
            ApiError::Unavailable(_) => ("service-unavailable", "Service Unavailable"),
            ApiError::Internal(_) => ("internal-error", "Internal Server Error"),
        }
    }

    /// The problem+json response. Server-side failures are logged here with their detail.
    pub fn into_response(self, info: &RequestInfo) -> Response<Body> {
        let status = self.status();
        let (slug, title) = self.slug_and_title();
        let detail = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "an unexpected error occurred; quote the request id when reporting it".to_owned()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "backing service unavailable");
                format!("{detail}; retry later")
            }
            ApiError::Validation(errors) if errors.0.len() > MAX_LISTED_ERRORS => format!(
                "{} field(s) are invalid; the first {MAX_LISTED_ERRORS} are listed",
                errors.0.len()
            ),
            ApiError::Validation(errors) => format!("{} field(s) are invalid", errors.0.len()),
            ApiError::MalformedJson(detail) => {
                format!("the request body is not valid JSON: {detail}")
            }
            ApiError::Unauthorized(d) | ApiError::Forbidden(d) | ApiError::NotFound(d) => d.clone(),
            ApiError::Conflict { detail, .. } | ApiError::TooManyRequests { detail, .. } => {
                detail.clone()
            }
            ApiError::UnsupportedMediaType(_) => self.to_string(),
        };
        let problem = Problem {
            problem_type: format!("urn:servicehub:problem:{slug}"),
            title,
            status,
            detail,
            instance: &info.path,
            request_id: &info.request_id,
            correlation_id: info.correlation_id,
            errors: match &self {
                ApiError::Validation(errors) => Some(listed(&errors.0)),
                _ => None,
            },
            current_status: match &self {
                ApiError::Conflict { current_status, .. } => *current_status,
                _ => None,
            },
            retry_after: match &self {
                ApiError::TooManyRequests { retry_after, .. } => Some(*retry_after),
                _ => None,
            },
        };
        let mut builder = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)
            .header(CORRELATION_HEADER, info.correlation_id.to_string());
        if status == 401 {
            builder = builder.header(http::header::WWW_AUTHENTICATE, "Bearer");
        }
        if status == 503 {
            builder = builder.header(http::header::RETRY_AFTER, "1");
        }
        if let ApiError::TooManyRequests { retry_after, .. } = &self {
            builder = builder.header(http::header::RETRY_AFTER, retry_after.to_string());
        }
        builder
            .body(Body::Text(
                serde_json::to_string(&problem).unwrap_or_default(),
            ))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// At most this many field errors go into a 422, each field name and message cut at
/// [`MAX_ERROR_TEXT`] characters: an input with 300,000 bad keys, or a 1 MB key, must not make
/// an answer bigger than Lambda's 6 MB (a 502 at the gateway) or than what a client can use.
pub const MAX_LISTED_ERRORS: usize = 100;
pub const MAX_ERROR_TEXT: usize = 200;

fn listed(errors: &[FieldError]) -> Vec<FieldError> {
    let cut = |text: &str| match text.char_indices().nth(MAX_ERROR_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    };
    errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|error| FieldError {
            field: cut(&error.field),
            code: error.code,
            message: cut(&error.message),
        })
        .collect()
}

/// A JSON response with the correlation id echoed.
pub fn json_response(
    status: u16,
    body: &impl Serialize,
    info: &RequestInfo,
    location: Option<&str>,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(CORRELATION_HEADER, info.correlation_id.to_string());
    if let Some(location) = location {
        builder = builder.header(http::header::LOCATION, location);
    }
    match serde_json::to_string(body) {
        Ok(text) => builder
            .body(Body::Text(text))
            .unwrap_or_else(|_| Response::new(Body::Empty)),
        Err(error) => ApiError::Internal(error.to_string()).into_response(info),
    }
}

/// Runs a handler and turns its error into problem+json: HTTP functions never fail the invocation
/// for a request-level problem (a failed invocation would be a 502 at the gateway). Reports the
/// handling time as `audit.performance_metric` (operation: the route key, e.g.
/// `GET /requests/{id}`) and a 5xx as `audit.error_occurred`.
pub async fn respond<F>(
    reporter: &Reporter,
    request: Request,
    handler: impl FnOnce(Request, RequestInfo) -> F,
) -> Response<Body>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    use tracing::Instrument as _;
    let info = RequestInfo::from_request(&request);
    let operation = route_key(&request);
    let span = tracing::info_span!("http", request_id = %info.request_id, correlation_id = %info.correlation_id);
    async move {
        let started = std::time::Instant::now();
        let result = match reject_nul_characters(&request) {
            Ok(()) => handler(request, info.clone()).await,
            Err(error) => Err(error),
        };
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                if let Some((kind, retryable)) = error.failure_kind() {
                    let mut report = reporter.error(kind, &error.to_string(), retryable);
                    report.subject_id = Some(format!("{operation} {}", info.path));
                    let envelope = Envelope::new(reporter.component(), report).with_context(
                        info.correlation_id,
                        None,
                        info.traceparent.as_ref().map(Traceparent::child),
                    );
                    reporter.publish_error(envelope);
                }
                error.into_response(&info)
            }
        };
        reporter.record(&operation, started.elapsed(), 1);
        tracing::info!(status = response.status().as_u16(), path = %info.path, "handled");
        reporter.flush_if_due();
        response
    }
    .instrument(span)
    .await
}

/// Every query parameter as (name, value), sorted by name; a repeated parameter keeps its values'
/// order. The query map does not keep the client's order, and errors about the parameters
/// should come in a stable one.
pub fn query_pairs(request: &Request) -> Vec<(String, String)> {
    // The map's iterator yields every value of every name, a name's values in order.
    let mut pairs: Vec<(String, String)> = request
        .query_string_parameters()
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
}

/// Text with a NUL character can be neither stored (PostgreSQL's text refuses it) nor shown
/// safely, and no field of this API has a use for it: a NUL anywhere in a query or path
/// parameter, or in a string or key of a JSON body, is a 422 naming where, before any handler
/// reads the request (it used to reach the database as a 500).
fn reject_nul_characters(request: &Request) -> Result<(), ApiError> {
    let mut errors = ValidationErrors::default();
    let query = request.query_string_parameters();
    for (name, value) in query.iter() {
        if name.contains('\0') || value.contains('\0') {
            errors.add(name, "nul_character", "must not contain the NUL character");
        }
    }
    let path = request.path_parameters();
    for (name, value) in path.iter() {
        if value.contains('\0') {
            errors.add(name, "nul_character", "must not contain the NUL character");
        }
    }
    // JSON can only carry a NUL as the escape \u0000: parse only bodies that have one. The
    // same bytes as json_body reads, whether they came as text or as binary.
    let body = body_bytes(request.body());
    if std::str::from_utf8(body).is_ok_and(|text| text.contains("\\u0000"))
        && let Ok(value) = serde_json::from_slice::<Value>(body)
    {
        nul_fields(&value, "", &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.into())
    }
}

/// Adds an error for every string or key of `value` with a NUL, named by its dotted path.
fn nul_fields(value: &Value, path: &str, errors: &mut ValidationErrors) {
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => {
            let field = if path.is_empty() { "body" } else { path };
            errors.add(field, "nul_character", "must not contain the NUL character");
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_fields(item, &child(&i.to_string()), errors);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                if key.contains('\0') {
                    errors.add(
                        child(key),
                        "nul_character",
                        "must not contain the NUL character",
                    );
                }
                nul_fields(item, &child(key), errors);
            }
        }
        _ => {}
    }
}

/// API Gateway's route key (`GET /requests/{id}`), or the method and path without one.
fn route_key(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) if ctx.route_key.is_some() => {
            ctx.route_key.clone().unwrap_or_default()
        }
        _ => format!("{} {}", request.method(), request.raw_http_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::query_pairs;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    #[test]
    fn query_pairs_list_each_value_once_sorted_by_name() {
        let params: HashMap<String, Vec<String>> = [
            (
                "status".to_owned(),
                vec!["new".to_owned(), "done".to_owned()],
            ),
            ("limit".to_owned(), vec!["5".to_owned()]),
        ]
        .into_iter()
        .collect();
        let request = lambda_http::Request::default().with_query_string_parameters(params);
        let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        assert_eq!(
            query_pairs(&request),
            [
                pair("limit", "5"),
                pair("status", "new"),
                pair("status", "done")
            ]
        );
    }
}
