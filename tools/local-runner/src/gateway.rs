//! An emulated API Gateway HTTP API: routes from the template, payload format 2.0 events, the
//! response mapping (structured or the plain-JSON shortcut), Lambda REQUEST authorizers with their
//! bounded result cache, and the gateway's own errors as HTTP API answers them: 404 (no route),
//! 413 (over 10 MB, or an event over Lambda's 6 MB), 401/403 (authorizer), 429 (past the route's
//! throttling), 500 (a failed or throttled invocation), 503 (past the integration timeout).

use crate::pool::FunctionPool;
use crate::template::{AuthorizerDef, HttpRoute, RouteThrottle};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper::body::Incoming;
use local_lambda::InvokeError;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Mutex;

/// API Gateway's payload limit for HTTP APIs.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How much of a body past [`MAX_BODY_BYTES`] is still read (and dropped) before the 413.
const DRAINED_BYTES: usize = 64 * 1024 * 1024;

/// The request body, or `None` past [`MAX_BODY_BYTES`] (or when the client breaks off). Past the
/// limit the rest is still read and dropped, up to [`DRAINED_BYTES`]: a client still sending
/// then gets the 413, instead of a connection closed under its upload (a broken pipe).
async fn read_body(body: Body) -> Option<Bytes> {
    use futures::StreamExt as _;
    let mut chunks = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.ok()?;
        seen += chunk.len();
        if seen <= MAX_BODY_BYTES {
            kept.extend_from_slice(&chunk);
        } else if seen > DRAINED_BYTES {
            return None;
        }
    }
    (seen <= MAX_BODY_BYTES).then(|| Bytes::from(kept))
}

/// A route bound to the pools that serve it.
pub struct BoundRoute {
    pub route: HttpRoute,
    pub function: Arc<FunctionPool>,
    pub authorizer: Option<(AuthorizerDef, Arc<FunctionPool>)>,
}

/// An authorizer's answer for one identity: (authorizer name, identity source values).
type AuthCacheKey = (String, Vec<String>);
/// The context it allowed, and until when the answer may be reused.
type AuthCacheEntry = (Map<String, Value>, Instant);

pub struct Gateway {
    routes: Vec<BoundRoute>,
    /// One bucket per throttled route, by the route's index.
    buckets: Vec<Option<std::sync::Mutex<TokenBucket>>>,
    auth_cache: Mutex<HashMap<AuthCacheKey, AuthCacheEntry>>,
}

/// A route's throttle as API Gateway applies it: a bucket of `burst_limit` tokens refilled at
/// `rate_limit` a second, one token per request, across all callers.
#[derive(Debug)]
pub struct TokenBucket {
    throttle: RouteThrottle,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub fn new(throttle: RouteThrottle, now: Instant) -> TokenBucket {
        TokenBucket {
            throttle,
            tokens: f64::from(throttle.burst_limit),
            refilled_at: now,
        }
    }

    /// Whether a request arriving at `now` may pass (and takes its token if so).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.throttle.rate_limit)
            .min(f64::from(self.throttle.burst_limit));
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One path segment of a route.
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Literal(&'a str),
    Param(&'a str),
    Greedy(&'a str),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy),
                    None => Segment::Param(name),
                },
                None => Segment::Literal(s),
            },
        )
        .collect()
}

/// The path parameters when `path` matches `pattern`, with a specificity score (more literal
/// segments win, a greedy match loses to an exact one, `$default` loses to everything).
pub fn match_path(pattern: &str, path: &str) -> Option<(BTreeMap<String, String>, i64)> {
    if pattern == "$default" {
        return Some((BTreeMap::new(), i64::MIN));
    }
    let wanted = segments(pattern);
    let actual: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut params = BTreeMap::new();
    let mut score = 0i64;
    for (i, segment) in wanted.iter().enumerate() {
        match segment {
            Segment::Literal(literal) => {
                if actual.get(i) != Some(literal) {
                    return None;
                }
                score += 1000;
            }
            Segment::Param(name) => {
                let value = actual.get(i)?;
                params.insert(name.to_string(), percent_decode(value));
                score += 10;
            }
            Segment::Greedy(name) => {
                if i >= actual.len() {
                    return None;
                }
                params.insert(name.to_string(), actual[i..].join("/"));
                return Some((params, score + 1));
            }
        }
    }
    (actual.len() == wanted.len()).then_some((params, score))
}

fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(high * 16 + low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn gateway_error(status: StatusCode, message: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(json!({ "message": message }).to_string()))
        .unwrap_or_default()
}

/// API Gateway's way with repeated names: one entry, the values joined with commas.
fn join_repeated(pairs: impl Iterator<Item = (String, String)>) -> Map<String, Value> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in pairs {
        out.entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// Headers as API Gateway passes them: lower-case names (cookies go in their own field).
fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    join_repeated(
        headers
            .iter()
            .filter(|(name, _)| *name != http::header::COOKIE)
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            }),
    )
}

fn query_map(raw: &str) -> Map<String, Value> {
    join_repeated(raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (
            percent_decode(&key.replace('+', " ")),
            percent_decode(&value.replace('+', " ")),
        )
    }))
}

fn is_text(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("text/")
                || ct.contains("json")
                || ct.contains("xml")
                || ct.contains("x-www-form-urlencoded")
                || ct.contains("javascript")
        }
    }
}

/// Everything about the HTTP request that goes into the v2.0 event.
pub struct IncomingRequest {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub source_ip: String,
    pub request_id: String,
}

/// The API Gateway HTTP API payload format 2.0 event for `request` on `route_key`.
pub fn build_event(
    request: &IncomingRequest,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
    authorizer: Option<&Map<String, Value>>,
) -> Value {
    let now = Utc::now();
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    let cookies: Vec<Value> = request
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .map(Value::String)
        .collect();
    let host = header("host").unwrap_or("127.0.0.1").to_owned();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
        "headers": header_map(&request.headers),
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("local"),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": header("user-agent").unwrap_or_default(),
            },
            "requestId": request.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !request.raw_query.is_empty() {
        event["queryStringParameters"] = Value::Object(query_map(&request.raw_query));
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = json!(path_parameters);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(&request.body) {
            Ok(text) if is_text(header("content-type")) => event["body"] = json!(text),
            _ => {
                event["body"] = json!(BASE64.encode(&request.body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    if let Some(context) = authorizer {
        event["requestContext"]["authorizer"] = json!({ "lambda": context });
    }
    event
}

/// The Lambda REQUEST authorizer event (payload format 2.0) for `request`.
pub fn build_authorizer_event(
    request: &IncomingRequest,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
    identity: &[String],
) -> Value {
    let mut event = build_event(request, route_key, path_parameters, None);
    let object = event.as_object_mut().expect("an event is an object");
    // The authorizer sees the request, not its body.
    object.remove("body");
    object.remove("isBase64Encoded");
    let method_and_path = route_key.replacen(' ', "", 1);
    event["type"] = json!("REQUEST");
    event["routeArn"] = json!(format!(
        "arn:aws:execute-api:eu-central-1:000000000000:local/$default/{method_and_path}"
    ));
    event["identitySource"] = json!(identity);
    event
}

/// Maps a function's result to the HTTP response as API Gateway does: a `statusCode` object is a
/// structured response; anything else is the plain-JSON shortcut (200, application/json).
pub fn map_response(result: &Value) -> Response {
    let structured = result.as_object().filter(|o| o.contains_key("statusCode"));
    let Some(object) = structured else {
        let body = match result {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap_or_default();
    };
    let status = object["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok());
    let Some(status) = status else {
        return gateway_error(StatusCode::BAD_GATEWAY, "Internal Server Error");
    };
    let mut builder = Response::builder().status(status);
    if let Some(headers) = object.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Ok(value) = HeaderValue::from_str(&text) {
                builder = builder.header(name.as_str(), value);
            }
        }
    }
    if let Some(headers) = object.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in headers {
            for value in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Ok(value) = HeaderValue::from_str(value) {
                    builder = builder.header(name.as_str(), value);
                }
            }
        }
    }
    for cookie in object
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            builder = builder.header(http::header::SET_COOKIE, value);
        }
    }
    let body = object
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        match BASE64.decode(body) {
            Ok(bytes) => Body::from(bytes),
            Err(_) => return gateway_error(StatusCode::BAD_GATEWAY, "Internal Server Error"),
        }
    } else {
        Body::from(body.to_owned())
    };
    builder.body(body).unwrap_or_default()
}

/// How many authorizer answers the gateway keeps at most. API Gateway's cache is bounded too
/// (its size is not published); without a bound, a client sending a new token each time would
/// grow the runner's memory for as long as it runs.
pub const AUTH_CACHE_CAPACITY: usize = 10_000;

/// Stores an authorizer answer, first dropping the expired ones when the cache is full, then the
/// one closest to expiry if it is still full.
fn remember(
    cache: &mut HashMap<AuthCacheKey, AuthCacheEntry>,
    key: AuthCacheKey,
    entry: AuthCacheEntry,
    now: Instant,
) {
    if cache.len() >= AUTH_CACHE_CAPACITY && !cache.contains_key(&key) {
        cache.retain(|_, (_, until)| *until > now);
        if cache.len() >= AUTH_CACHE_CAPACITY
            && let Some(soonest) = cache
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(key, _)| key.clone())
        {
            cache.remove(&soonest);
        }
    }
    cache.insert(key, entry);
}

impl Gateway {
    pub fn new(routes: Vec<BoundRoute>) -> Arc<Gateway> {
        let now = Instant::now();
        let buckets = routes
            .iter()
            .map(|bound| {
                bound
                    .route
                    .throttle
                    .map(|throttle| std::sync::Mutex::new(TokenBucket::new(throttle, now)))
            })
            .collect();
        Arc::new(Gateway {
            routes,
            buckets,
            auth_cache: Mutex::new(HashMap::new()),
        })
    }

    /// The index of the route serving `method` `path`, and its path parameters.
    fn find(&self, method: &str, path: &str) -> Option<(usize, BTreeMap<String, String>)> {
        self.routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.route.method == "ANY" || r.route.method == method)
            .filter_map(|(i, r)| {
                match_path(&r.route.path, path)
                    .map(|(params, score)| (i, params, score + i64::from(r.route.method != "ANY")))
            })
            .max_by_key(|(_, _, score)| *score)
            .map(|(i, params, _)| (i, params))
    }

    /// Serves one HTTP request.
    pub async fn handle(self: Arc<Self>, peer: SocketAddr, request: Request) -> Response {
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let request_id = uuid::Uuid::new_v4().to_string();
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let Some((index, params)) = self.find(&method, &path) else {
            tracing::info!(trigger = "http", %method, %path, status = 404, outcome = "no_route", "invocation");
            return gateway_error(StatusCode::NOT_FOUND, "Not Found");
        };
        let bound = &self.routes[index];
        // Throttling comes first, as on AWS: a throttled request reaches neither the authorizer
        // nor the function.
        if let Some(bucket) = &self.buckets[index] {
            let passed = bucket
                .lock()
                .expect("a bucket is never poisoned")
                .try_take(Instant::now());
            if !passed {
                tracing::info!(trigger = "http", function = %bound.function.name(), request_id, %method, %path, status = 429, outcome = "throttled", "invocation");
                return gateway_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
            }
        }
        let Some(body) = read_body(body).await else {
            return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        };
        let incoming = IncomingRequest {
            method: method.clone(),
            path: path.clone(),
            raw_query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            body,
            source_ip: peer.ip().to_string(),
            request_id: request_id.clone(),
        };
        let route_key = if bound.route.path == "$default" {
            "$default".to_owned()
        } else {
            format!("{} {}", bound.route.method, bound.route.path)
        };
        let authorizer_context = match &bound.authorizer {
            None => None,
            Some((definition, pool)) => match self
                .authorize(definition, pool, &incoming, &route_key, &params)
                .await
            {
                Ok(context) => Some(context),
                Err(response) => {
                    tracing::info!(trigger = "http", function = %bound.function.name(), request_id, route = %route_key, status = response.status().as_u16(), outcome = "unauthorized", "invocation");
                    return response;
                }
            },
        };
        let event = build_event(&incoming, &route_key, &params, authorizer_context.as_ref());
        // On a task of its own: past the integration timeout the gateway answers, and the
        // invocation runs on (dropping it would kill its environment), as on AWS.
        let function = bound.function.clone();
        let invocation = tokio::spawn(async move { function.invoke_recorded(&event).await });
        let invoked = match tokio::time::timeout(bound.route.integration_timeout, invocation).await
        {
            Ok(Ok(invoked)) => invoked,
            Ok(Err(_)) => {
                return gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
            Err(_) => {
                tracing::info!(trigger = "http", function = %bound.function.name(), request_id, route = %route_key, status = 503, outcome = "integration_timeout", "invocation");
                return gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
            }
        };
        let (response, outcome) = match invoked.result {
            Ok(value) => (map_response(&value), "ok".to_owned()),
            Err(InvokeError::RequestTooLarge { .. }) => (
                gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
                "request_too_large".to_owned(),
            ),
            // A function error, a timeout, a crash, a response over 6 MB or a throttle: HTTP API
            // answers every failed Lambda invocation this way.
            Err(error) => (
                gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
                format!("error: {error}"),
            ),
        };
        tracing::info!(
            trigger = "http",
            function = %bound.function.name(),
            request_id,
            lambda_request_id = %invoked.request_id,
            route = %route_key,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            invoke_ms = invoked.duration.as_secs_f64() * 1000.0,
            cold_start_ms = invoked.cold_start.map(|d| d.as_secs_f64() * 1000.0),
            outcome,
            "invocation"
        );
        response
    }

    /// Runs the route's Lambda REQUEST authorizer (payload 2.0, simple responses), caching its
    /// answer per identity for its TTL. 401 when an identity source is missing, 403 when denied.
    async fn authorize(
        &self,
        definition: &AuthorizerDef,
        pool: &Arc<FunctionPool>,
        request: &IncomingRequest,
        route_key: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Map<String, Value>, Response> {
        let mut identity = Vec::new();
        for source in &definition.identity_sources {
            let value = match source.strip_prefix("$request.header.") {
                Some(name) => request
                    .headers
                    .get(name.to_ascii_lowercase())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                None => source
                    .strip_prefix("$request.querystring.")
                    .and_then(|name| {
                        query_map(&request.raw_query)
                            .get(name)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    }),
            };
            match value {
                Some(value) => identity.push(value),
                None => return Err(gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized")),
            }
        }
        let key = (definition.name.clone(), identity.clone());
        if !definition.result_ttl.is_zero()
            && let Some((context, until)) = self.auth_cache.lock().await.get(&key)
            && *until > Instant::now()
        {
            return Ok(context.clone());
        }
        let event = build_authorizer_event(request, route_key, params, &identity);
        let answer = pool.invoke_recorded(&event).await.result;
        let (allowed, context) = match answer {
            Ok(value) => (
                value
                    .get("isAuthorized")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                value
                    .get("context")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            ),
            Err(error) => {
                tracing::warn!(authorizer = %definition.name, %error, "authorizer failed");
                return Err(gateway_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal Server Error",
                ));
            }
        };
        if !allowed {
            return Err(gateway_error(StatusCode::FORBIDDEN, "Forbidden"));
        }
        if !definition.result_ttl.is_zero() {
            let now = Instant::now();
            let mut cache = self.auth_cache.lock().await;
            remember(
                &mut cache,
                key,
                (context.clone(), now + definition.result_ttl),
                now,
            );
        }
        Ok(context)
    }
}

/// Serves the gateway on `listener` until `shutdown` resolves, then lets the requests under way
/// finish.
///
/// API Gateway runs an integration to its end whatever the client does. Here a client that hangs
/// up must neither cancel a write half done nor cost a warm environment (dropping an invocation
/// kills its environment). So each request is served on a task of its own, spawned as soon as its
/// head is read (hyper calls the service then, whether or not it ever polls the answer), and a
/// connection whose client closed its side keeps reading the body (`half_close`).
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, a connection reset before accept: not fatal.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let gateway = gateway.clone();
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let task = tokio::spawn(gateway.clone().handle(peer, request.map(Body::new)));
            async move {
                Ok::<_, std::convert::Infallible>(task.await.unwrap_or_else(|_| {
                    gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                }))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .half_close(true)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_parameters_and_greedy_paths() {
        let (params, _) = match_path("/requests/{id}", "/requests/42").unwrap();
        assert_eq!(params["id"], "42");
        assert!(match_path("/requests/{id}", "/requests").is_none());
        assert!(match_path("/requests/{id}", "/requests/1/history").is_none());
        let (params, _) = match_path("/files/{proxy+}", "/files/a/b/c.txt").unwrap();
        assert_eq!(params["proxy"], "a/b/c.txt");
        let literal = match_path("/requests/mine", "/requests/mine").unwrap().1;
        let param = match_path("/requests/{id}", "/requests/mine").unwrap().1;
        assert!(literal > param);
        assert!(match_path("$default", "/anything").unwrap().1 < param);
        assert_eq!(
            match_path("/requests/{id}", "/requests/%D0%B6").unwrap().0["id"],
            "ж"
        );
    }

    #[test]
    fn the_authorizer_cache_stays_bounded_dropping_expired_answers_first() {
        let mut cache = HashMap::new();
        let now = Instant::now();
        let key = |i: usize| ("auth".to_owned(), vec![format!("token-{i}")]);
        let entry = |secs: u64| (Map::new(), now + std::time::Duration::from_secs(secs));
        for i in 0..AUTH_CACHE_CAPACITY {
            // Every tenth answer is already expired.
            let expired = i % 10 == 0;
            let until = if expired {
                now
            } else {
                now + std::time::Duration::from_secs(300 + i as u64)
            };
            cache.insert(key(i), (Map::new(), until));
        }
        remember(&mut cache, key(AUTH_CACHE_CAPACITY), entry(300), now);
        assert_eq!(
            cache.len(),
            AUTH_CACHE_CAPACITY - AUTH_CACHE_CAPACITY / 10 + 1
        );
        assert!(!cache.contains_key(&key(0)), "expired answers go first");
        // Full of live answers: the one closest to expiry makes room.
        while cache.len() < AUTH_CACHE_CAPACITY {
            let i = cache.len() + 2 * AUTH_CACHE_CAPACITY;
            remember(&mut cache, key(i), entry(100_000 + i as u64), now);
        }
        remember(&mut cache, key(usize::MAX), entry(100_000), now);
        assert_eq!(cache.len(), AUTH_CACHE_CAPACITY);
        assert!(
            !cache.contains_key(&key(AUTH_CACHE_CAPACITY)) && cache.contains_key(&key(1)),
            "the answer closest to expiry went"
        );
        assert!(cache.contains_key(&key(usize::MAX)));
    }

    #[test]
    fn plain_json_results_are_200_application_json() {
        let response = map_response(&json!({"hello": "world"}));
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
    }

    #[test]
    fn structured_results_map_status_headers_and_cookies() {
        let response = map_response(&json!({
            "statusCode": 201, "headers": {"location": "/x"}, "cookies": ["a=1", "b=2"], "body": "e30=", "isBase64Encoded": true
        }));
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["location"], "/x");
        assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn a_token_bucket_passes_the_burst_then_the_rate() {
        use std::time::Duration;
        let start = Instant::now();
        let mut bucket = TokenBucket::new(
            RouteThrottle {
                burst_limit: 3,
                rate_limit: 2.0,
            },
            start,
        );
        let passed = (0..10).filter(|_| bucket.try_take(start)).count();
        assert_eq!(passed, 3, "the burst");
        // Half a second refills one token at 2 a second; never more than the burst.
        assert!(bucket.try_take(start + Duration::from_millis(500)));
        assert!(!bucket.try_take(start + Duration::from_millis(500)));
        let later = start + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| bucket.try_take(later)).count(), 3);
        // Rate 0 and burst 0 close the route.
        let mut closed = TokenBucket::new(
            RouteThrottle {
                burst_limit: 0,
                rate_limit: 0.0,
            },
            start,
        );
        assert!(!closed.try_take(later));
    }
}
