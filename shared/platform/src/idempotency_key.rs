//! The `Idempotency-Key` request header of every POST endpoint: a repeat of a request with the
//! same key (from the same caller) gets the first response again and changes nothing.
//!
//! - The first request claims the key, runs, and stores its response (any status below 500).
//!   A 5xx releases the key so that a retry runs again.
//! - A repeat with the same method, path and body replays the stored response, marked with
//!   `Idempotent-Replayed: true`. The same key on a different request is a 422.
//! - A repeat while the first is still running is a 409. A claim without a response that is
//!   older than [`TAKEOVER_AFTER`] (longer than any function's timeout) belonged to an invocation
//!   that died: the next request takes it over.
//!
//! The response is stored after the handler's own transaction committed, so a crash in between
//! lets a retry run the handler again; the workflow's state machine then answers 409 instead of
//! applying it twice.

use crate::Services;
use crate::http::{ApiError, RequestInfo, body_bytes, respond};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};
use servicehub_domain::validation::ValidationErrors;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Seconds after which an unfinished claim is taken over.
pub const TAKEOVER_AFTER: i64 = 120;
/// Response headers kept with the response (the correlation id is the repeat's own).
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];

/// method, path, request hash, and the stored response: status, headers, body.
type StoredKey = (
    String,
    String,
    Vec<u8>,
    Option<i32>,
    Option<Value>,
    Option<String>,
);

enum Claim {
    Fresh,
    Replay {
        status: u16,
        headers: Map<String, Value>,
        body: Option<String>,
    },
    InFlight,
    OtherRequest,
}

/// [`respond`] with `Idempotency-Key` handling; without the header it is just `respond`.
pub async fn respond_once<F>(
    services: &Services,
    request: Request,
    handler: impl FnOnce(Request, RequestInfo) -> F,
) -> Response<Body>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    respond(&services.reporter, request, |request, info| async move {
        let Some(raw) = request.headers().get(HEADER) else {
            return handler(request, info).await;
        };
        let key = parse_key(raw.to_str().ok())?;
        let scope = info
            .identity
            .as_ref()
            .map(|i| i.user_id)
            .unwrap_or(Uuid::nil());
        let method = request.method().as_str().to_owned();
        let hash = request_hash(&method, &info.path, body_bytes(request.body()));
        match claim(services, scope, &key, &method, &info.path, &hash).await? {
            Claim::Fresh => {}
            Claim::Replay {
                status,
                headers,
                body,
            } => return Ok(replay(status, &headers, body, &info)),
            Claim::InFlight => {
                return Err(ApiError::Conflict {
                    detail:
                        "a request with this Idempotency-Key is still being processed; retry later"
                            .into(),
                    current_status: None,
                });
            }
            // The key is bound to another request: a conflict with what the key stands for,
            // like a key still in flight, not a fault in this request (which is valid on its own
            // and would succeed under a fresh key). The IETF draft suggests 422; a 4xx that
            // says "valid input, conflicting state" is what a client can act on.
            Claim::OtherRequest => {
                return Err(ApiError::Conflict {
                    detail: "this Idempotency-Key was used for a different request; send this one under a new key".into(),
                    current_status: None,
                });
            }
        }
        let result = handler(request, info.clone()).await;
        let status = match &result {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.status(),
        };
        if status >= 500 {
            release(services, scope, &key).await;
            return result;
        }
        let response = result.unwrap_or_else(|error| error.into_response(&info));
        store(services, scope, &key, &response).await;
        Ok(response)
    })
    .await
}

fn parse_key(raw: Option<&str>) -> Result<String, ApiError> {
    match raw {
        Some(key)
            if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(key.to_owned())
        }
        _ => {
            let mut errors = ValidationErrors::default();
            errors.add(
                "Idempotency-Key",
                "invalid_format",
                "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID, say)",
            );
            Err(errors.into())
        }
    }
}

fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

async fn claim(
    services: &Services,
    scope: Uuid,
    key: &str,
    method: &str,
    path: &str,
    hash: &[u8],
) -> Result<Claim, ApiError> {
    let claimed: Option<bool> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (scope, idempotency_key, method, path, request_hash, started_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (scope, idempotency_key) DO UPDATE
             SET method = EXCLUDED.method, path = EXCLUDED.path,
                 request_hash = EXCLUDED.request_hash, started_at = now()
             WHERE idempotency_keys.completed_at IS NULL
               AND idempotency_keys.started_at < now() - make_interval(secs => $6)
         RETURNING true",
    )
    .bind(scope)
    .bind(key)
    .bind(method)
    .bind(path)
    .bind(hash)
    .bind(TAKEOVER_AFTER as f64)
    .fetch_optional(&services.pool)
    .await?;
    if claimed.is_some() {
        return Ok(Claim::Fresh);
    }
    let row: Option<StoredKey> = sqlx::query_as(
        "SELECT method, path, request_hash, status_code, response_headers, response_body
             FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&services.pool)
    .await?;
    Ok(match row {
        // Released between the two statements: the caller may simply retry.
        None => Claim::InFlight,
        Some((m, p, h, ..)) if m != method || p != path || h != hash => Claim::OtherRequest,
        Some((_, _, _, Some(status), headers, body)) => Claim::Replay {
            status: u16::try_from(status).unwrap_or(500),
            headers: match headers {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            },
            body,
        },
        Some(_) => Claim::InFlight,
    })
}

async fn store(services: &Services, scope: Uuid, key: &str, response: &Response<Body>) {
    let headers: Map<String, Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some((name.to_string(), Value::String(value.to_owned())))
        })
        .collect();
    let body = match response.body() {
        Body::Text(text) => Some(text.clone()),
        Body::Binary(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    };
    let stored = sqlx::query(
        "UPDATE idempotency_keys
         SET status_code = $3, response_headers = $4, response_body = $5, completed_at = now()
         WHERE scope = $1 AND idempotency_key = $2",
    )
    .bind(scope)
    .bind(key)
    .bind(i32::from(response.status().as_u16()))
    .bind(Value::Object(headers))
    .bind(body)
    .execute(&services.pool)
    .await;
    if let Err(error) = stored {
        tracing::warn!(%error, "the response for an Idempotency-Key was not stored; a repeat will run again");
    }
}

async fn release(services: &Services, scope: Uuid, key: &str) {
    let released = sqlx::query(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND completed_at IS NULL",
    )
    .bind(scope)
    .bind(key)
    .execute(&services.pool)
    .await;
    if let Err(error) = released {
        tracing::warn!(%error, "an Idempotency-Key claim was not released; it expires on its own");
    }
}

fn replay(
    status: u16,
    headers: &Map<String, Value>,
    body: Option<String>,
    info: &RequestInfo,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(
            crate::http::CORRELATION_HEADER,
            info.correlation_id.to_string(),
        )
        .header(REPLAYED_HEADER, "true");
    for (name, value) in headers {
        if let Some(value) = value.as_str() {
            builder = builder.header(name.as_str(), value);
        }
    }
    builder
        .body(body.map(Body::Text).unwrap_or(Body::Empty))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// Deletes keys older than `hours`: a client retries within minutes, not days.
pub async fn prune(pool: &sqlx::PgPool, hours: i64) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "DELETE FROM idempotency_keys WHERE started_at < now() - make_interval(hours => $1)",
    )
    .bind(i32::try_from(hours).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}
