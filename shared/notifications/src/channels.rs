//! The three channels: e-mail through Amazon SES (v2), Telegram through the Bot API `sendMessage`,
//! SMS through Amazon SNS. Each send either succeeds with the provider's message id or fails
//! [`SendError::Transient`] (retry may help) or [`SendError::Permanent`] (it cannot).

use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::OnceCell;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// Network trouble, a 5xx, throttling; `retry_after` when the provider said how long to wait.
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider refused for good: blocked bot, unknown chat, invalid address.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    fn transient(reason: impl Into<String>) -> SendError {
        SendError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// What a successful send returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub provider_message_id: String,
}

/// The SDK's error type (one type, re-exported by every AWS SDK crate).
type AwsError<E> = aws_sdk_sesv2::error::SdkError<E, aws_sdk_sesv2::config::http::HttpResponse>;

/// An AWS error: throttling, 5xx and no response at all are transient; any other 4xx is permanent.
fn classify_aws<E>(what: &str, error: &AwsError<E>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = DisplayErrorContext(error).to_string();
    let Some(service) = error.as_service_error() else {
        return SendError::transient(format!("{what}: {detail}"));
    };
    let code = service.code().unwrap_or_default();
    let throttled = code.contains("Throttl")
        || code == "TooManyRequestsException"
        || code == "LimitExceededException";
    let status = error.raw_response().map(|r| r.status().as_u16());
    if throttled || status.is_none_or(|s| s >= 500 || s == 429) {
        SendError::transient(format!("{what}: {detail}"))
    } else {
        SendError::Permanent(format!(
            "{what} refused ({}): {}",
            if code.is_empty() { "error" } else { code },
            service.message().unwrap_or(&detail)
        ))
    }
}

/// E-mail through SES v2 (`AWS_ENDPOINT_URL` points it at moto or LocalStack).
#[derive(Clone, Debug)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl Mailer {
    pub fn new(config: &aws_config::SdkConfig, from: String) -> Mailer {
        Mailer {
            client: aws_sdk_sesv2::Client::new(config),
            from,
        }
    }

    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<Sent, SendError> {
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Permanent(e.to_string()))
        };
        let message = Message::builder()
            .subject(content(subject)?)
            .body(Body::builder().text(content(body)?).build())
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| classify_aws("SES SendEmail", &e))?;
        Ok(Sent {
            provider_message_id: output.message_id().unwrap_or_default().to_owned(),
        })
    }
}

/// SMS through SNS Publish to a phone number (transactional).
#[derive(Clone, Debug)]
pub struct SmsSender {
    client: aws_sdk_sns::Client,
}

impl SmsSender {
    pub fn new(config: &aws_config::SdkConfig) -> SmsSender {
        SmsSender {
            client: aws_sdk_sns::Client::new(config),
        }
    }

    pub async fn send(&self, phone: &str, text: &str) -> Result<Sent, SendError> {
        let sms_type = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let output = self
            .client
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", sms_type)
            .send()
            .await
            .map_err(|e| classify_aws("SNS Publish", &e))?;
        Ok(Sent {
            provider_message_id: output.message_id().unwrap_or_default().to_owned(),
        })
    }
}

/// Where the bot token comes from: a Secrets Manager secret (SecretString = the token), read
/// on first use and kept for the life of the execution environment.
pub struct BotToken {
    secrets: aws_sdk_secretsmanager::Client,
    secret_name: String,
    token: OnceCell<String>,
}

impl BotToken {
    pub fn new(config: &aws_config::SdkConfig, secret_name: String) -> BotToken {
        BotToken {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            secret_name,
            token: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&str, SendError> {
        self.token
            .get_or_try_init(|| async {
                let output = self
                    .secrets
                    .get_secret_value()
                    .secret_id(&self.secret_name)
                    .send()
                    .await
                    .map_err(|e| {
                        // A missing or unreadable token is configuration: retrying the batch (and
                        // the alarm on the function's errors) beats dropping messages.
                        SendError::transient(format!(
                            "reading the Telegram bot token secret {}: {}",
                            self.secret_name,
                            DisplayErrorContext(&e)
                        ))
                    })?;
                let token = output.secret_string().unwrap_or_default().trim().to_owned();
                if token.is_empty() {
                    return Err(SendError::transient(format!(
                        "the Telegram bot token secret {} is empty",
                        self.secret_name
                    )));
                }
                Ok(token)
            })
            .await
            .map(String::as_str)
    }
}

/// The Telegram Bot API client.
pub struct Telegram {
    http: reqwest::Client,
    base_url: String,
    token: BotToken,
}

#[derive(Deserialize)]
struct BotResponse {
    ok: bool,
    result: Option<BotMessage>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<BotParameters>,
}

#[derive(Deserialize)]
struct BotMessage {
    message_id: i64,
}

#[derive(Deserialize)]
struct BotParameters {
    retry_after: Option<u64>,
}

impl Telegram {
    pub fn new(base_url: &str, token: BotToken) -> Result<Telegram, reqwest::Error> {
        Ok(Telegram {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(3))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// `sendMessage` as plain text; returns the Bot API's message_id.
    pub async fn send(&self, chat_id: i64, text: &str) -> Result<(Sent, i64), SendError> {
        let token = self.token.get().await?;
        let url = format!("{}/bot{token}/sendMessage", self.base_url);
        let response = self
            .http
            .post(&url)
            .json(&json!({"chat_id": chat_id, "text": text}))
            .send()
            .await
            // Never log the URL: it holds the token.
            .map_err(|e| {
                SendError::transient(format!("Telegram sendMessage: {}", e.without_url()))
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            SendError::transient(format!("Telegram sendMessage: {}", e.without_url()))
        })?;
        let parsed: Option<BotResponse> = serde_json::from_slice(&body).ok();
        classify_telegram(status, parsed).map(|id| {
            (
                Sent {
                    provider_message_id: id.to_string(),
                },
                id,
            )
        })
    }
}

fn classify_telegram(status: u16, body: Option<BotResponse>) -> Result<i64, SendError> {
    let code = body.as_ref().and_then(|b| b.error_code).unwrap_or(status);
    let description = body
        .as_ref()
        .and_then(|b| b.description.clone())
        .unwrap_or_else(|| format!("HTTP {status}"));
    if let Some(BotResponse {
        ok: true,
        result: Some(message),
        ..
    }) = &body
        && (200..300).contains(&status)
    {
        return Ok(message.message_id);
    }
    let reason = format!("Telegram {code}: {description}");
    match code {
        429 => Err(SendError::Transient {
            reason,
            retry_after: body
                .and_then(|b| b.parameters)
                .and_then(|p| p.retry_after)
                .map(Duration::from_secs),
        }),
        // A bad token (401) or a wrong base URL (404) is configuration, not the recipient's fault.
        401 | 404 => Err(SendError::transient(reason)),
        c if (400..500).contains(&c) => Err(SendError::Permanent(reason)),
        _ => Err(SendError::transient(reason)),
    }
}

/// How often and how patiently one message is retried within an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The longest wait between two attempts; a `retry_after` beyond it ends the attempts (the
    /// batch is retried later instead of holding the invocation).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` failed with `error`; `None` to stop.
    pub fn delay_after(&self, attempt: u32, error: &SendError) -> Option<Duration> {
        let SendError::Transient { retry_after, .. } = error else {
            return None;
        };
        if attempt >= self.max_attempts {
            return None;
        }
        let backoff = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let wait = retry_after.map_or(backoff, |r| r.max(backoff));
        (wait <= self.max_delay).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(json: &str) -> Option<BotResponse> {
        serde_json::from_str(json).ok()
    }

    #[test]
    fn telegram_answers_are_classified() {
        assert_eq!(
            classify_telegram(
                200,
                bot(r#"{"ok":true,"result":{"message_id":7,"chat":{"id":1}}}"#)
            ),
            Ok(7)
        );
        assert_eq!(
            classify_telegram(
                403,
                bot(
                    r#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#
                )
            ),
            Err(SendError::Permanent(
                "Telegram 403: Forbidden: bot was blocked by the user".into()
            ))
        );
        assert!(matches!(
            classify_telegram(400, bot(r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#)),
            Err(SendError::Permanent(r)) if r.contains("chat not found")
        ));
        assert_eq!(
            classify_telegram(
                429,
                bot(
                    r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}}"#
                )
            ),
            Err(SendError::Transient {
                reason: "Telegram 429: Too Many Requests: retry after 2".into(),
                retry_after: Some(Duration::from_secs(2))
            })
        );
        assert!(matches!(
            classify_telegram(502, None),
            Err(SendError::Transient { .. })
        ));
        assert!(matches!(
            classify_telegram(
                401,
                bot(r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#)
            ),
            Err(SendError::Transient { .. })
        ));
    }

    #[test]
    fn retries_back_off_honour_retry_after_and_stop() {
        let policy = RetryPolicy::default();
        let transient = SendError::transient("x");
        assert_eq!(
            policy.delay_after(1, &transient),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            policy.delay_after(3, &transient),
            Some(Duration::from_millis(800))
        );
        assert_eq!(policy.delay_after(4, &transient), None, "bounded");
        let rate_limited = SendError::Transient {
            reason: "429".into(),
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            policy.delay_after(1, &rate_limited),
            Some(Duration::from_secs(1))
        );
        let too_long = SendError::Transient {
            reason: "429".into(),
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(policy.delay_after(1, &too_long), None);
        assert_eq!(
            policy.delay_after(1, &SendError::Permanent("no".into())),
            None
        );
    }
}
