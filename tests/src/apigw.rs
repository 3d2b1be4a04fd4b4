//! API Gateway HTTP API (payload format 2.0) requests, as the gateway sends them to a function.

use serde_json::{Value, json};
use uuid::Uuid;

/// The authorizer context our JWT authorizer will put in `requestContext.authorizer.lambda`.
pub fn claims(user_id: Uuid, role: &str, regions: &[&str]) -> Value {
    json!({"sub": user_id.to_string(), "role": role, "regions": regions})
}

/// A v2.0 event for `method path` routed by `route_key`, with an optional authorizer context.
pub fn request(
    method: &str,
    route_key: &str,
    path: &str,
    path_parameters: Option<Value>,
    content_type: Option<&str>,
    body: Option<&str>,
    authorizer: Option<Value>,
) -> Value {
    let mut headers = json!({
        "accept": "application/json",
        "host": "api.servicehub.test",
        "user-agent": "servicehub-tests",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-proto": "https",
    });
    if let Some(content_type) = content_type {
        headers["content-type"] = json!(content_type);
    }
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "api.servicehub.test",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "servicehub-tests"
            },
            "requestId": Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": false
    });
    if let Some(params) = path_parameters {
        event["pathParameters"] = params;
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    if let Some(lambda) = authorizer {
        event["requestContext"]["authorizer"] = json!({"lambda": lambda});
    }
    event
}

/// Sets the query string of a v2.0 event (`a=1&b=2`), as API Gateway does: the raw string and
/// the decoded parameters (a repeated name's values joined with commas).
pub fn with_query(event: &mut Value, query: &str) {
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match params.get_mut(name) {
            Some(Value::String(existing)) => *existing = format!("{existing},{value}"),
            _ => {
                params.insert(name.to_owned(), json!(value));
            }
        }
    }
    event["rawQueryString"] = json!(query);
    event["queryStringParameters"] = Value::Object(params);
}

/// The parsed `{statusCode, headers, body}` a function answered.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Value,
    pub body: Value,
}

impl HttpResponse {
    pub fn from_invocation(response: Value) -> HttpResponse {
        let body = response["body"].as_str().unwrap_or_default();
        HttpResponse {
            status: response["statusCode"].as_u64().expect("statusCode") as u16,
            headers: response["headers"].clone(),
            body: serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers[name].as_str()
    }

    /// The `(field, code)` of every entry of a problem's `errors` list (none when it has none).
    pub fn field_codes(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap_or_default().to_owned(),
                    e["code"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// Invokes an HTTP function with `event` and parses its answer.
pub async fn invoke(function: &local_lambda::LambdaEnvironment, event: &Value) -> HttpResponse {
    HttpResponse::from_invocation(
        function
            .invoke(event)
            .await
            .expect("the HTTP function answers"),
    )
}
