//! A fake Telegram Bot API server for tests: `POST /bot<token>/sendMessage` in the real API's
//! shape, every call recorded, and failures on demand.
//!
//!     fake-telegram [--port N] [--token T]
//!
//! Listens on 127.0.0.1 (port 0 = any free one) and prints `listening on 127.0.0.1:<port>` as its
//! first line on stdout. With `--token`, other tokens get the real API's 401.
//!
//! - `POST /bot<token>/sendMessage` `{"chat_id": 42, "text": "..."}` answers
//!   `{"ok":true,"result":{"message_id":N,"date":...,"chat":{"id":42,"type":"private"},"text":"..."}}`,
//!   or the failure the next control rule says.
//! - `GET /calls`: every sendMessage call so far, `[{"token","chat_id","text","outcome","status"}]`
//!   (`outcome`: `sent`, `blocked`, `chat_not_found`, `rate_limited`, `server_error`, `unauthorized`).
//! - `POST /control` `{"mode": "blocked"|"chat_not_found"|"rate_limit"|"server_error", "count": N,
//!   "retry_after": S, "chat_id": 42}`: the next N calls (for that chat only, when `chat_id` is
//!   given) fail so: 403 "Forbidden: bot was blocked by the user", 400 "Bad Request: chat not
//!   found", 429 with `parameters.retry_after` (default 1), or 502. Rules queue up in order.
//! - `POST /reset`: forgets calls and rules.
//!
//! Test use only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Deserialize)]
struct Rule {
    mode: String,
    #[serde(default = "one")]
    count: u32,
    retry_after: Option<u64>,
    chat_id: Option<i64>,
}

fn one() -> u32 {
    1
}

#[derive(Default)]
struct Fake {
    token: Option<String>,
    calls: Vec<Value>,
    rules: Vec<Rule>,
    next_message_id: i64,
}

type Shared = Arc<Mutex<Fake>>;

#[derive(Deserialize)]
struct SendMessage {
    chat_id: Value,
    text: String,
}

async fn send_message(
    State(fake): State<Shared>,
    Path(segment): Path<String>,
    Json(body): Json<SendMessage>,
) -> (StatusCode, Json<Value>) {
    let token = segment.strip_prefix("bot").unwrap_or_default().to_owned();
    let chat_id = body
        .chat_id
        .as_i64()
        .or_else(|| body.chat_id.as_str().and_then(|s| s.parse().ok()));
    let mut fake = fake.lock().unwrap();
    let error = |status: u16, description: &str, parameters: Option<Value>| {
        let mut body = json!({"ok": false, "error_code": status, "description": description});
        if let Some(parameters) = parameters {
            body["parameters"] = parameters;
        }
        (StatusCode::from_u16(status).unwrap(), Json(body))
    };
    let (outcome, response) = if fake.token.as_ref().is_some_and(|t| *t != token) {
        ("unauthorized", error(401, "Unauthorized", None))
    } else if let Some(index) = fake
        .rules
        .iter()
        .position(|r| r.count > 0 && r.chat_id.is_none_or(|c| Some(c) == chat_id))
    {
        let rule = fake.rules[index].clone();
        fake.rules[index].count -= 1;
        if fake.rules[index].count == 0 {
            fake.rules.remove(index);
        }
        match rule.mode.as_str() {
            "blocked" => (
                "blocked",
                error(403, "Forbidden: bot was blocked by the user", None),
            ),
            "chat_not_found" => (
                "chat_not_found",
                error(400, "Bad Request: chat not found", None),
            ),
            "rate_limit" => {
                let after = rule.retry_after.unwrap_or(1);
                (
                    "rate_limited",
                    error(
                        429,
                        &format!("Too Many Requests: retry after {after}"),
                        Some(json!({"retry_after": after})),
                    ),
                )
            }
            _ => ("server_error", error(502, "Bad Gateway", None)),
        }
    } else if let Some(chat) = chat_id {
        fake.next_message_id += 1;
        let date = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        (
            "sent",
            (
                StatusCode::OK,
                Json(json!({"ok": true, "result": {
                    "message_id": fake.next_message_id,
                    "from": {"id": 1, "is_bot": true, "first_name": "servicehub", "username": "servicehub_bot"},
                    "chat": {"id": chat, "type": "private"},
                    "date": date,
                    "text": body.text,
                }})),
            ),
        )
    } else {
        (
            "chat_not_found",
            error(400, "Bad Request: chat not found", None),
        )
    };
    fake.calls.push(json!({
        "token": token,
        "chat_id": chat_id,
        "text": body.text,
        "outcome": outcome,
        "status": response.0.as_u16(),
    }));
    response
}

async fn calls(State(fake): State<Shared>) -> Json<Value> {
    Json(Value::Array(fake.lock().unwrap().calls.clone()))
}

async fn control(State(fake): State<Shared>, Json(rule): Json<Rule>) -> Json<Value> {
    fake.lock().unwrap().rules.push(rule);
    Json(json!({"ok": true}))
}

async fn reset(State(fake): State<Shared>) -> Json<Value> {
    let mut fake = fake.lock().unwrap();
    fake.calls.clear();
    fake.rules.clear();
    Json(json!({"ok": true}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut token = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--token" => token = Some(args.next().ok_or("--token needs a value")?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let fake: Shared = Arc::new(Mutex::new(Fake {
        token,
        ..Fake::default()
    }));
    let app = Router::new()
        .route("/{segment}/sendMessage", post(send_message))
        .route("/calls", get(calls))
        .route("/control", post(control))
        .route("/reset", post(reset))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
