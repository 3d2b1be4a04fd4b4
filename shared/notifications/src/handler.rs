//! The `notify` consumer: for each event, the messages [`plan`] decides, rendered in each
//! recipient's language and sent on each of their channels, exactly once per
//! (cause, recipient, channel); then `notification.*` events through the outbox.

use crate::channels::{BotToken, Mailer, RetryPolicy, SendError, Sent, SmsSender, Telegram};
use crate::plan::{Address, Contact, Intent, addresses, plan, request_of};
use crate::store::{self, Claim, NewNotification};
use crate::templates::{Rendered, render};
use chrono::Utc;
use servicehub_domain::contractors::assignment_refusal;
use servicehub_events::catalog::{
    EmailSent, NotificationContext, NotificationFailed, SmsSent, TelegramSent,
};
use servicehub_events::values::NotificationChannel;
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::consumer::{EventHandler, HandlerError, Outcome};
use servicehub_platform::{Services, outbox};
use servicehub_requests::store as requests;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The notify function's own settings (besides the platform's [`servicehub_platform::Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `SES_FROM_ADDRESS`: the verified sender of every e-mail.
    pub from_address: String,
    /// `TELEGRAM_API_BASE_URL`, default `https://api.telegram.org`.
    pub telegram_base_url: String,
    /// `TELEGRAM_BOT_TOKEN_SECRET_NAME`: the Secrets Manager secret holding the bot token.
    pub telegram_token_secret: String,
    /// `NOTIFY_MAX_ATTEMPTS` (default 4) and `NOTIFY_MAX_RETRY_DELAY_MS` (default 5000).
    pub retry: RetryPolicy,
    /// `NOTIFY_CLAIM_LEASE_SECONDS` (default 120, more than the function's timeout).
    pub claim_lease: Duration,
    /// `NOTIFY_CONCURRENCY` (default 8): records of different requests handled at once in a
    /// batch (one request's records stay in order). Its time goes to waiting on providers.
    pub concurrency: usize,
}

pub const DEFAULT_TELEGRAM_API: &str = "https://api.telegram.org";

/// How long a message the provider accepted keeps trying to be recorded as sent while the
/// database is unreachable (well inside notify's 60 s timeout). Only a crash in between leaves a
/// `sending` row, which the claim lease then settles as "outcome unknown".
const RECORD_SENT_FOR: Duration = Duration::from_secs(40);

impl NotifyConfig {
    pub fn from_env() -> Result<NotifyConfig, ConfigError> {
        NotifyConfig::from_vars(std::env::vars())
    }

    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NotifyConfig, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let get = |name: &'static str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let require = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let number = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    reason: format!("{v:?} is not a positive integer"),
                }),
        };
        let defaults = RetryPolicy::default();
        Ok(NotifyConfig {
            from_address: require("SES_FROM_ADDRESS")?,
            telegram_base_url: get("TELEGRAM_API_BASE_URL")
                .unwrap_or_else(|| DEFAULT_TELEGRAM_API.to_owned()),
            telegram_token_secret: require("TELEGRAM_BOT_TOKEN_SECRET_NAME")?,
            retry: RetryPolicy {
                max_attempts: number("NOTIFY_MAX_ATTEMPTS", defaults.max_attempts.into())?.min(20)
                    as u32,
                base_delay: defaults.base_delay,
                max_delay: Duration::from_millis(number(
                    "NOTIFY_MAX_RETRY_DELAY_MS",
                    defaults.max_delay.as_millis() as u64,
                )?),
            },
            claim_lease: Duration::from_secs(number("NOTIFY_CLAIM_LEASE_SECONDS", 120)?),
            concurrency: number("NOTIFY_CONCURRENCY", 8)?.min(64) as usize,
        })
    }
}

/// The three channels, built once per execution environment.
pub struct Channels {
    pub mailer: Mailer,
    pub telegram: Telegram,
    pub sms: SmsSender,
}

impl Channels {
    /// The AWS clients from the environment (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_config(
        config: &NotifyConfig,
    ) -> Result<Channels, Box<dyn std::error::Error + Send + Sync>> {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Channels {
            mailer: Mailer::new(&aws, config.from_address.clone()),
            telegram: Telegram::new(
                &config.telegram_base_url,
                BotToken::new(&aws, config.telegram_token_secret.clone()),
            )?,
            sms: SmsSender::new(&aws),
        })
    }
}

pub struct Notify<'a> {
    pub services: &'a Services,
    pub channels: &'a Channels,
    pub config: &'a NotifyConfig,
}

/// What became of one message.
enum Delivery {
    /// Sent, or given up on for good: recorded and announced.
    Settled,
    /// Settled before (or being sent by someone else): nothing done.
    Skipped,
    /// Still failing transiently after the retries: the batch must be retried.
    Retry(String),
}

impl EventHandler for Notify<'_> {
    async fn handle(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
        let pool = &self.services.pool;
        let request = match request_of(&envelope.data) {
            Some(id) => store::request_facts(pool, id).await?,
            None => None,
        };
        // An assignment is checked by security-check's own rule on the contractor as they stand:
        // one it will revert is not announced.
        let assignee_refusal = match &envelope.data {
            DomainEvent::ContractorAssigned(e) => {
                let mut conn = pool.acquire().await?;
                let assignee = requests::find_assignee(&mut conn, e.contractor_id).await?;
                assignment_refusal(assignee.as_ref(), &e.region)
            }
            _ => None,
        };
        if let Some(refusal) = &assignee_refusal {
            tracing::info!(event_id = %envelope.meta.id, %refusal, "security-check reverts this assignment; not announced");
        }
        let intents = plan(
            envelope.meta.id,
            &envelope.data,
            request.as_ref(),
            assignee_refusal.as_ref(),
        );
        if intents.is_empty() {
            return Ok(Outcome::Ignored);
        }
        let mut settled = 0;
        let mut retry = None;
        for intent in &intents {
            let Some(contact) = store::contact(pool, intent.recipient).await? else {
                tracing::warn!(recipient = %intent.recipient, template = intent.template.name(), "recipient is not a user, not notified");
                continue;
            };
            if !contact.active {
                tracing::info!(recipient = %contact.user_id, "recipient is deactivated, not notified");
                continue;
            }
            let rendered = render(
                intent.template,
                contact.language,
                &contact.display_name,
                &intent.vars,
            );
            let targets = addresses(&contact);
            if targets.is_empty() {
                // Nobody to send to: recorded (once) as a failed e-mail.
                match self.unreachable(envelope, intent, &contact).await? {
                    Delivery::Settled => settled += 1,
                    Delivery::Skipped | Delivery::Retry(_) => {}
                }
                continue;
            }
            for address in targets {
                match self
                    .deliver(envelope, intent, &contact, &rendered, &address)
                    .await?
                {
                    Delivery::Settled => settled += 1,
                    Delivery::Skipped => {}
                    Delivery::Retry(reason) => {
                        retry.get_or_insert(reason);
                    }
                }
            }
        }
        if let Some(reason) = retry {
            // The messages that went out are marked; the retry sends only the others.
            return Err(HandlerError::Transient(reason));
        }
        Ok(if settled > 0 {
            Outcome::Applied
        } else {
            Outcome::Duplicate
        })
    }
}

fn address_text(address: &Address) -> String {
    match address {
        Address::Email(a) | Address::Sms(a) => a.clone(),
        Address::Telegram(chat) => chat.to_string(),
    }
}

impl Notify<'_> {
    fn context(
        &self,
        envelope: &Envelope,
        intent: &Intent,
        contact: &Contact,
    ) -> NotificationContext {
        NotificationContext {
            recipient_user_id: contact.user_id,
            template: intent.template.name().to_owned(),
            language: contact.language.as_str().to_owned(),
            cause_event_id: envelope.meta.id,
            request_id: intent.request_id,
        }
    }

    async fn unreachable(
        &self,
        envelope: &Envelope,
        intent: &Intent,
        contact: &Contact,
    ) -> Result<Delivery, HandlerError> {
        let message = NewNotification {
            id: Uuid::now_v7(),
            dedup_key: &intent.dedup_key,
            recipient_id: contact.user_id,
            channel: NotificationChannel::Email,
            template: intent.template.name(),
            language: contact.language,
            cause_event_id: envelope.meta.id,
            request_id: intent.request_id,
            address: "",
        };
        match store::claim(&self.services.pool, &message, self.config.claim_lease).await? {
            Claim::Taken { id, attempts } | Claim::Abandoned { id, attempts } => {
                let reason =
                    "the recipient has no usable address (no e-mail, phone or Telegram chat)";
                self.settle_failed(
                    envelope,
                    intent,
                    contact,
                    NotificationChannel::Email,
                    id,
                    attempts,
                    reason,
                )
                .await?;
                Ok(Delivery::Settled)
            }
            Claim::Done | Claim::InFlight => Ok(Delivery::Skipped),
        }
    }

    async fn deliver(
        &self,
        envelope: &Envelope,
        intent: &Intent,
        contact: &Contact,
        rendered: &Rendered,
        address: &Address,
    ) -> Result<Delivery, HandlerError> {
        let channel = address.channel();
        let text = address_text(address);
        let message = NewNotification {
            id: Uuid::now_v7(),
            dedup_key: &intent.dedup_key,
            recipient_id: contact.user_id,
            channel,
            template: intent.template.name(),
            language: contact.language,
            cause_event_id: envelope.meta.id,
            request_id: intent.request_id,
            address: &text,
        };
        let (id, previous_attempts) = match store::claim(
            &self.services.pool,
            &message,
            self.config.claim_lease,
        )
        .await?
        {
            Claim::Taken { id, attempts } => (id, attempts),
            Claim::Done => {
                tracing::info!(recipient = %contact.user_id, %channel, "already sent, skipping");
                return Ok(Delivery::Skipped);
            }
            Claim::InFlight => {
                tracing::info!(recipient = %contact.user_id, %channel, "being sent by another invocation, skipping");
                return Ok(Delivery::Skipped);
            }
            Claim::Abandoned { id, attempts } => {
                let reason = "the delivery outcome is unknown (an earlier invocation ended while sending); not resent, to avoid a duplicate";
                self.settle_failed(envelope, intent, contact, channel, id, attempts, reason)
                    .await?;
                return Ok(Delivery::Settled);
            }
        };
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let attempts = previous_attempts + attempt as i32;
            let result = self.send_once(address, rendered).await;
            let error = match result {
                Ok((sent, telegram_message_id)) => {
                    let context = self.context(envelope, intent, contact);
                    let now = Utc::now();
                    let event = match address {
                        Address::Email(to) => Envelope::caused_by(
                            self.me(),
                            &envelope.meta,
                            EmailSent {
                                notification_id: id,
                                context,
                                to_address: to.clone(),
                                subject: rendered.subject.clone(),
                                provider_message_id: sent.provider_message_id.clone(),
                                sent_at: now,
                            },
                        ),
                        Address::Telegram(chat_id) => Envelope::caused_by(
                            self.me(),
                            &envelope.meta,
                            TelegramSent {
                                notification_id: id,
                                context,
                                chat_id: *chat_id,
                                telegram_message_id: telegram_message_id.unwrap_or_default(),
                                sent_at: now,
                            },
                        ),
                        Address::Sms(phone) => Envelope::caused_by(
                            self.me(),
                            &envelope.meta,
                            SmsSent {
                                notification_id: id,
                                context,
                                phone: phone.clone(),
                                provider_message_id: sent.provider_message_id.clone(),
                                sent_at: now,
                            },
                        ),
                    };
                    self.record_sent(id, attempts, &sent.provider_message_id, &event)
                        .await?;
                    self.services
                        .publish_after_commit(&outbox::keys_of(std::slice::from_ref(&event)))
                        .await;
                    tracing::info!(notification_id = %id, recipient = %contact.user_id, %channel, template = intent.template.name(), attempts, "notification sent");
                    return Ok(Delivery::Settled);
                }
                Err(error) => error,
            };
            if let Some(wait) = self.config.retry.delay_after(attempt, &error) {
                tracing::warn!(notification_id = %id, %channel, %error, attempt, wait_ms = wait.as_millis() as u64, "transient failure, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            return match error {
                SendError::Permanent(reason) => {
                    self.settle_failed(envelope, intent, contact, channel, id, attempts, &reason)
                        .await?;
                    Ok(Delivery::Settled)
                }
                SendError::Transient { reason, .. } => {
                    tracing::warn!(notification_id = %id, %channel, %reason, attempts, "still failing, leaving it for the retry of the batch");
                    store::mark_retrying(&self.services.pool, id, attempts, &reason).await?;
                    Ok(Delivery::Retry(format!(
                        "{channel} notification {id} to {}: {reason}",
                        contact.user_id
                    )))
                }
            };
        }
    }

    /// Marks notification `id` sent and enqueues its `notification.*` event, in one transaction.
    /// The provider has the message: recording that is not given up on a database hiccup (for
    /// [`RECORD_SENT_FOR`]), or the row stays `sending` and the outcome unknown.
    async fn record_sent(
        &self,
        id: Uuid,
        attempts: i32,
        provider_message_id: &str,
        event: &Envelope,
    ) -> Result<(), sqlx::Error> {
        let record = || async {
            let mut tx = self.services.pool.begin().await?;
            store::mark_sent(&mut tx, id, attempts, provider_message_id).await?;
            outbox::enqueue(&mut tx, std::slice::from_ref(event)).await?;
            tx.commit().await
        };
        let since = std::time::Instant::now();
        let mut wait = Duration::from_millis(100);
        loop {
            match record().await {
                Err(error)
                    if servicehub_platform::db::is_transient(&error)
                        && since.elapsed() < RECORD_SENT_FOR =>
                {
                    tracing::warn!(notification_id = %id, %error, "recording a sent message failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                done => return done,
            }
        }
    }

    fn me(&self) -> &str {
        &self.services.config.service_name
    }

    async fn send_once(
        &self,
        address: &Address,
        rendered: &Rendered,
    ) -> Result<(Sent, Option<i64>), SendError> {
        match address {
            Address::Email(to) => self
                .channels
                .mailer
                .send(to, &rendered.subject, &rendered.body)
                .await
                .map(|s| (s, None)),
            Address::Telegram(chat) => self
                .channels
                .telegram
                .send(*chat, &rendered.telegram_text())
                .await
                .map(|(s, id)| (s, Some(id))),
            Address::Sms(phone) => self
                .channels
                .sms
                .send(phone, &rendered.sms_text())
                .await
                .map(|s| (s, None)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn settle_failed(
        &self,
        envelope: &Envelope,
        intent: &Intent,
        contact: &Contact,
        channel: NotificationChannel,
        id: Uuid,
        attempts: i32,
        reason: &str,
    ) -> Result<(), HandlerError> {
        let event = Envelope::caused_by(
            self.me(),
            &envelope.meta,
            NotificationFailed {
                notification_id: id,
                context: self.context(envelope, intent, contact),
                channel,
                reason: reason.to_owned(),
                permanent: true,
                attempts: attempts.max(0) as u32,
                failed_at: Utc::now(),
            },
        );
        let mut tx = self.services.pool.begin().await?;
        store::mark_failed(&mut tx, id, attempts, reason).await?;
        outbox::enqueue(&mut tx, std::slice::from_ref(&event)).await?;
        tx.commit().await?;
        self.services
            .publish_after_commit(&outbox::keys_of(std::slice::from_ref(&event)))
            .await;
        tracing::warn!(notification_id = %id, recipient = %contact.user_id, %channel, %reason, "notification failed for good");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_has_defaults_and_names_what_is_missing() {
        let config = NotifyConfig::from_vars(vars(&[
            ("SES_FROM_ADDRESS", "noreply@servicehub.local"),
            (
                "TELEGRAM_BOT_TOKEN_SECRET_NAME",
                "servicehub/telegram-bot-token",
            ),
        ]))
        .unwrap();
        assert_eq!(config.telegram_base_url, DEFAULT_TELEGRAM_API);
        assert_eq!(config.retry, RetryPolicy::default());
        assert_eq!(config.claim_lease, Duration::from_secs(120));
        assert_eq!(config.concurrency, 8);
        let error = NotifyConfig::from_vars(vars(&[("SES_FROM_ADDRESS", "a@b")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable TELEGRAM_BOT_TOKEN_SECRET_NAME is required"
        );
        let error = NotifyConfig::from_vars(vars(&[
            ("SES_FROM_ADDRESS", "a@b"),
            ("TELEGRAM_BOT_TOKEN_SECRET_NAME", "s"),
            ("NOTIFY_MAX_ATTEMPTS", "0"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("NOTIFY_MAX_ATTEMPTS"));
    }
}
