//! The fake Telegram Bot API (tests/src/bin/fake-telegram.rs) as a child process of a test: its
//! base URL, the bot token it accepts, the calls it recorded, and failures on demand.

use crate::binary_path;
use crate::stack::create_secret;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

pub struct FakeTelegram {
    _child: Child,
    pub base_url: String,
    pub token: String,
    http: reqwest::Client,
}

impl FakeTelegram {
    /// Starts a fake Bot API on a free port that accepts a fresh bot token only.
    pub async fn start() -> FakeTelegram {
        let token = format!("{}:{}", rand_digits(9), Uuid::new_v4().simple());
        let mut child = Command::new(binary_path("fake-telegram"))
            .args(["--port", "0", "--token", &token])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting fake-telegram");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("fake-telegram starts")
            .expect("reading fake-telegram's output")
            .expect("fake-telegram prints its address");
        let address = line.strip_prefix("listening on ").expect(&line).to_owned();
        FakeTelegram {
            _child: child,
            base_url: format!("http://{address}"),
            token,
            http: reqwest::Client::new(),
        }
    }

    /// Stores the bot token in a fresh Secrets Manager secret (moto); the secret's name, for
    /// notify's TELEGRAM_BOT_TOKEN_SECRET_NAME (the template's TelegramBotTokenSecretName).
    pub async fn token_secret(&self) -> String {
        let secret = format!("servicehub-tests/telegram-{}", Uuid::new_v4());
        create_secret(&secret, &self.token).await;
        secret
    }

    /// Every sendMessage call so far: `{"token", "chat_id", "text", "outcome", "status"}`.
    pub async fn calls(&self) -> Vec<Value> {
        let calls: Value = self
            .http
            .get(format!("{}/calls", self.base_url))
            .send()
            .await
            .expect("GET /calls")
            .json()
            .await
            .expect("the calls as JSON");
        calls.as_array().expect("an array of calls").clone()
    }

    /// The texts sent to `chat_id` so far.
    pub async fn texts_to(&self, chat_id: i64) -> Vec<String> {
        self.calls()
            .await
            .into_iter()
            .filter(|call| call["chat_id"] == chat_id && call["outcome"] == "sent")
            .map(|call| call["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Queues a failure rule (`{"mode": ..., "count": ..., ...}`, see the fake's docs).
    pub async fn control(&self, rule: Value) {
        let response = self
            .http
            .post(format!("{}/control", self.base_url))
            .json(&rule)
            .send()
            .await
            .expect("POST /control");
        assert!(response.status().is_success());
    }
}

/// `n` random decimal digits.
pub fn rand_digits(n: usize) -> String {
    Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .take(n)
        .collect()
}

/// A random Telegram chat id.
pub fn chat_id() -> i64 {
    rand_digits(9).parse().expect("digits")
}
