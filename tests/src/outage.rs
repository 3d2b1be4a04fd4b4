//! A provider's outage on demand: an HTTP pass-through in front of a real service (moto's SES,
//! say, through `AWS_ENDPOINT_URL_SESV2`) that answers every request 503 Service Unavailable while
//! it is switched off, as a regional outage does. Requests already under way finish: an outage
//! never leaves a call whose outcome is unknown, so what follows is the system's doing alone.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Clone)]
struct Shared {
    target: String,
    client: reqwest::Client,
    down: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
}

pub struct OutageSwitch {
    /// Where clients point instead of the service.
    pub url: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl OutageSwitch {
    /// Starts passing requests through to `target` (a base URL), on a free loopback port.
    pub async fn start(target: &str) -> OutageSwitch {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let shared = Shared {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            down: Arc::default(),
            refused: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(pass)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OutageSwitch {
            url,
            shared,
            server,
        }
    }

    /// Down: every request is answered 503 until [`Self::set_down`] `false`.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Requests answered 503 so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for OutageSwitch {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn pass(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.down.load(Ordering::SeqCst) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            r#"{"message":"Service Unavailable"}"#,
        )
            .into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .client
        .request(method, format!("{}{path}", shared.target))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap_or_default();
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if name != "content-length" && name != "transfer-encoding" {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}
