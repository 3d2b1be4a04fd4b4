//! The `notify` consumer: for each event, the messages [`plan`] decides, rendered in each
//! recipient's language and sent on each of their channels, exactly once per
//! (cause, recipient, channel); then `notification.*` events through the outbox.

use crate::channels::{BotToken, Mailer, RetryPolicy, SendError, Sent, SmsSender, Telegram};
use crate::plan::{Address, Contact, Intent, address_on, addresses, plan, request_of};
use crate::store::{self, Claim, NewNotification, StoredNotification};
use crate::templates::{Rendered, Template, Vars, render};
use chrono::Utc;
use servicehub_domain::contacts::{CODE_LIFETIME, ContactCode};
use servicehub_domain::contractors::assignment_refusal;
use servicehub_events::catalog::{
    ContactVerificationRequested, EmailSent, NotificationContext, NotificationFailed, SmsSent,
    TelegramSent,
};
use servicehub_events::envelope::{EventMeta, Traceparent};
use servicehub_events::values::NotificationChannel;
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::Services;
use servicehub_platform::consumer::{EventHandler, HandlerError, Outcome};
use servicehub_requests::store as requests;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub use servicehub_platform::config::ConfigError;
use servicehub_platform::config::Vars as EnvVars;

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
    /// `NOTIFY_RETRY_MAX_DELAY_SECONDS` (default 60): the longest a message its provider refused
    /// waits for notify's schedule to try it again.
    pub retry_max_delay: Duration,
    /// `NOTIFY_RETRY_FOR_HOURS` (default 24): how long such a message is retried before it is
    /// given up (`notification.failed`).
    pub retry_for: Duration,
    /// `NOTIFY_SWEEP_SECONDS` (default 45): how long one scheduled run keeps taking due retries.
    pub sweep_for: Duration,
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
        let vars = EnvVars::new(vars);
        let get = |name: &str| vars.get(name);
        let require = |name: &'static str| vars.required(name);
        let number = |name: &'static str, default: u64| vars.number(name, default, 1);
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
            retry_max_delay: Duration::from_secs(number("NOTIFY_RETRY_MAX_DELAY_SECONDS", 60)?),
            retry_for: Duration::from_secs(number("NOTIFY_RETRY_FOR_HOURS", 24)? * 3600),
            sweep_for: Duration::from_secs(number("NOTIFY_SWEEP_SECONDS", 45)?),
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
    pub outages: ProviderOutages,
}

/// How long a channel whose provider kept failing is not called at all: its messages go straight
/// to the schedule's retries instead of each waiting out its own attempts.
const PROVIDER_PAUSE: Duration = Duration::from_secs(10);

/// The channels whose provider just failed, per execution environment: while one is paused, its
/// messages are scheduled for a retry without a call (a provider outage costs one message's
/// attempts per pause, not every message's).
#[derive(Debug, Default)]
pub struct ProviderOutages {
    paused: Mutex<BTreeMap<&'static str, (Instant, String)>>,
}

impl ProviderOutages {
    fn pause(&self, channel: NotificationChannel, reason: &str) {
        self.paused.lock().unwrap().insert(
            channel.as_str(),
            (Instant::now() + PROVIDER_PAUSE, reason.to_owned()),
        );
    }

    /// Forgets every pause: the schedule's run probes each provider again with its first message.
    fn clear(&self) {
        self.paused.lock().unwrap().clear();
    }

    /// The failure the channel is paused for, if it is.
    fn paused(&self, channel: NotificationChannel) -> Option<String> {
        let mut paused = self.paused.lock().unwrap();
        match paused.get(channel.as_str()) {
            Some((until, reason)) if Instant::now() < *until => Some(reason.clone()),
            Some(_) => {
                paused.remove(channel.as_str());
                None
            }
            None => None,
        }
    }
}

/// What a `notification.*` event follows from: the cause's id, correlation and trace.
#[derive(Debug, Clone)]
struct Cause {
    event_id: Uuid,
    correlation_id: Uuid,
    traceparent: Option<Traceparent>,
}

impl Cause {
    fn of(meta: &EventMeta) -> Cause {
        Cause {
            event_id: meta.id,
            correlation_id: meta.correlation_id,
            traceparent: meta.traceparent.clone(),
        }
    }

    fn envelope(&self, source: &str, data: impl Into<DomainEvent>) -> Envelope {
        Envelope::caused_by_parts(
            source,
            self.event_id,
            self.correlation_id,
            self.traceparent.as_ref(),
            data,
        )
    }
}

/// A claimed notification row: what its `notification.*` event says and follows from, whether
/// the claim comes from an event or from the table (a scheduled retry, an abandoned claim).
struct Claimed {
    id: Uuid,
    /// Attempts made by earlier deliveries.
    attempts: i32,
    channel: NotificationChannel,
    context: NotificationContext,
    cause: Cause,
}

impl Claimed {
    /// A row taken from the table, with what to send and where, or why it cannot be resent.
    fn from_stored(
        row: StoredNotification,
    ) -> (Claimed, Result<(Address, Rendered), &'static str>) {
        let address = match row.channel {
            NotificationChannel::Email => Ok(Address::Email(row.address)),
            NotificationChannel::Telegram => row
                .address
                .parse()
                .map(Address::Telegram)
                .map_err(|_| "its address is not a Telegram chat id"),
            NotificationChannel::Sms => Ok(Address::Sms(row.address)),
        };
        let rendered = row
            .subject
            .zip(row.body)
            .map(|(subject, body)| Rendered {
                subject,
                body,
                sms: None,
            })
            .ok_or(
                "its text was not kept (a verification code, or claimed before retries were \
                 scheduled); not resent: a code's owner asks for a new one",
            );
        let claimed = Claimed {
            id: row.id,
            attempts: row.attempts,
            channel: row.channel,
            context: NotificationContext {
                recipient_user_id: row.recipient_id,
                template: row.template,
                language: row.language.as_str().to_owned(),
                cause_event_id: row.cause_event_id,
                request_id: row.request_id,
            },
            cause: Cause {
                event_id: row.cause_event_id,
                correlation_id: row.correlation_id.unwrap_or(row.cause_event_id),
                traceparent: row.traceparent.as_deref().and_then(Traceparent::parse),
            },
        };
        (claimed, address.and_then(|a| rendered.map(|r| (a, r))))
    }
}

/// A verification code about to be sent: the hash to store, and the request it answers.
struct PendingCode {
    hash: Vec<u8>,
    requested_at: chrono::DateTime<Utc>,
}

/// A claimed message with what to send and where.
struct Message {
    claimed: Claimed,
    address: Address,
    rendered: Rendered,
}

/// What became of one message.
enum Delivery {
    /// Sent: recorded and announced.
    Sent,
    /// Given up on for good: recorded and announced.
    Failed,
    /// The provider kept failing: notify's schedule tries it again when it is due.
    Scheduled,
    /// Settled before (or being sent by someone else): nothing done.
    Skipped,
}

/// What one scheduled run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Retries that went out.
    pub sent: usize,
    /// Retries the provider refused again: due later.
    pub rescheduled: usize,
    /// Retries given up for good (too old, or nothing to resend).
    pub failed: usize,
    /// Claims left `sending` by an invocation that died mid-send, settled as failed (outcome
    /// unknown, not resent: at most once).
    pub abandoned: usize,
}

/// Rows taken per query of a scheduled run.
const SWEEP_BATCH: i64 = 100;

impl EventHandler for Notify<'_> {
    async fn handle(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
        if let DomainEvent::ContactVerificationRequested(e) = &envelope.data {
            return self.send_contact_code(envelope, e).await;
        }
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
                if let Delivery::Failed = self.unreachable(envelope, intent, &contact).await? {
                    settled += 1;
                }
                continue;
            }
            let quiet_until = contact
                .quiet_hours
                .filter(|_| !intent.template.ignores_quiet_hours())
                .and_then(|quiet| quiet.defer_until(Utc::now()));
            for address in targets {
                if let Some(until) = quiet_until {
                    // Quiet hours: the schedule sends it when they end.
                    if self
                        .hold(envelope, intent, &contact, &rendered, &address, until)
                        .await?
                    {
                        settled += 1;
                    }
                    continue;
                }
                // A message its provider refuses is the schedule's to retry: the event is done.
                match self
                    .deliver(envelope, intent, &contact, &rendered, address, None)
                    .await?
                {
                    Delivery::Sent | Delivery::Failed | Delivery::Scheduled => settled += 1,
                    Delivery::Skipped => {}
                }
            }
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

fn context_of(envelope: &Envelope, intent: &Intent, contact: &Contact) -> NotificationContext {
    NotificationContext {
        recipient_user_id: contact.user_id,
        template: intent.template.name().to_owned(),
        language: contact.language.as_str().to_owned(),
        cause_event_id: envelope.meta.id,
        request_id: intent.request_id,
    }
}

impl Notify<'_> {
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
            subject: Some(""),
            body: Some(""),
            correlation_id: envelope.meta.correlation_id,
            traceparent: envelope.meta.traceparent.as_ref().map(Traceparent::as_str),
        };
        match store::claim(&self.services.pool, &message, self.config.claim_lease).await? {
            Claim::Taken { id, attempts } | Claim::Abandoned { id, attempts } => {
                let claimed = Claimed {
                    id,
                    attempts,
                    channel: NotificationChannel::Email,
                    context: context_of(envelope, intent, contact),
                    cause: Cause::of(&envelope.meta),
                };
                let reason = "the recipient has no proved address (no e-mail, phone or Telegram \
                              chat they proved with its code, or an admin entered)";
                self.settle_failed(&claimed, attempts, reason).await?;
                Ok(Delivery::Failed)
            }
            Claim::Done | Claim::InFlight => Ok(Delivery::Skipped),
        }
    }

    /// Keeps the message of `intent` to `address` for the end of the recipient's quiet hours.
    async fn hold(
        &self,
        envelope: &Envelope,
        intent: &Intent,
        contact: &Contact,
        rendered: &Rendered,
        address: &Address,
        until: chrono::DateTime<Utc>,
    ) -> Result<bool, HandlerError> {
        let text = address_text(address);
        let message = NewNotification {
            id: Uuid::now_v7(),
            dedup_key: &intent.dedup_key,
            recipient_id: contact.user_id,
            channel: address.channel(),
            template: intent.template.name(),
            language: contact.language,
            cause_event_id: envelope.meta.id,
            request_id: intent.request_id,
            address: &text,
            subject: Some(&rendered.subject),
            body: Some(&rendered.body),
            correlation_id: envelope.meta.correlation_id,
            traceparent: envelope.meta.traceparent.as_ref().map(Traceparent::as_str),
        };
        let held = store::hold(&self.services.pool, &message, until).await?;
        if held {
            tracing::info!(recipient = %contact.user_id, channel = %address.channel(), %until, "quiet hours: held until they end");
        }
        Ok(held)
    }

    /// A code proving one of an account's contacts, to that contact as the account holds it now,
    /// if it is not proved yet and the code request the event names is the latest one.
    async fn send_contact_code(
        &self,
        envelope: &Envelope,
        event: &ContactVerificationRequested,
    ) -> Result<Outcome, HandlerError> {
        let pool = &self.services.pool;
        let Some(contact) = store::contact(pool, event.user_id).await? else {
            tracing::warn!(user_id = %event.user_id, "code for an unknown account, not sent");
            return Ok(Outcome::Ignored);
        };
        let address = address_on(&contact, event.channel)
            .filter(|_| contact.active && !contact.verified.contains(&event.channel));
        let Some(address) = address else {
            tracing::info!(user_id = %event.user_id, channel = %event.channel, "no unproved contact there, no code sent");
            return Ok(Outcome::Ignored);
        };
        let code = ContactCode::generate();
        let mut vars = Vars::new();
        vars.insert("code", code.as_str().to_owned());
        vars.insert("minutes", CODE_LIFETIME.num_minutes().to_string());
        let rendered = render(Template::ContactCode, contact.language, "", &vars);
        let intent = Intent {
            recipient: event.user_id,
            template: Template::ContactCode,
            dedup_key: envelope.meta.id.to_string(),
            request_id: None,
            vars: Vars::new(),
        };
        let pending = PendingCode {
            hash: code.hash(event.user_id, event.channel, &address_text(&address)),
            requested_at: event.requested_at,
        };
        let delivery = self
            .deliver(
                envelope,
                &intent,
                &contact,
                &rendered,
                address,
                Some(&pending),
            )
            .await?;
        Ok(match delivery {
            Delivery::Skipped => Outcome::Duplicate,
            _ => Outcome::Applied,
        })
    }

    /// Claims the message of `intent` to `address` and sends it. With a `code`, the text is not
    /// kept (no retry resends it) and the code's hash is stored once the claim is ours.
    async fn deliver(
        &self,
        envelope: &Envelope,
        intent: &Intent,
        contact: &Contact,
        rendered: &Rendered,
        address: Address,
        code: Option<&PendingCode>,
    ) -> Result<Delivery, HandlerError> {
        let channel = address.channel();
        let text = address_text(&address);
        let claim = NewNotification {
            id: Uuid::now_v7(),
            dedup_key: &intent.dedup_key,
            recipient_id: contact.user_id,
            channel,
            template: intent.template.name(),
            language: contact.language,
            cause_event_id: envelope.meta.id,
            request_id: intent.request_id,
            address: &text,
            subject: code.is_none().then_some(rendered.subject.as_str()),
            body: code.is_none().then_some(rendered.body.as_str()),
            correlation_id: envelope.meta.correlation_id,
            traceparent: envelope.meta.traceparent.as_ref().map(Traceparent::as_str),
        };
        let claimed = store::claim(&self.services.pool, &claim, self.config.claim_lease).await?;
        let claimed_as = |id, attempts| Claimed {
            id,
            attempts,
            channel,
            context: context_of(envelope, intent, contact),
            cause: Cause::of(&envelope.meta),
        };
        match claimed {
            Claim::Taken { id, attempts } => {
                if let Some(code) = code {
                    let expires_at = Utc::now() + CODE_LIFETIME;
                    let stored = store::set_contact_code(
                        &self.services.pool,
                        contact.user_id,
                        channel,
                        &text,
                        code.requested_at,
                        &code.hash,
                        expires_at,
                    )
                    .await?;
                    if !stored {
                        let reason = "no code request matches: a newer code was asked for, the \
                                      contact was proved, or the event was not made by servicehub";
                        self.settle_failed(&claimed_as(id, attempts), attempts, reason)
                            .await?;
                        return Ok(Delivery::Failed);
                    }
                }
                let message = Message {
                    claimed: claimed_as(id, attempts),
                    address,
                    rendered: rendered.clone(),
                };
                self.send(message).await
            }
            Claim::Done => {
                tracing::info!(recipient = %contact.user_id, %channel, "already sent, skipping");
                Ok(Delivery::Skipped)
            }
            Claim::InFlight => {
                tracing::info!(recipient = %contact.user_id, %channel, "being sent by another invocation, skipping");
                Ok(Delivery::Skipped)
            }
            Claim::Abandoned { id, attempts } => {
                self.settle_failed(&claimed_as(id, attempts), attempts, OUTCOME_UNKNOWN)
                    .await?;
                Ok(Delivery::Failed)
            }
        }
    }

    /// Sends a claimed message, retrying transient failures a few times; then records the outcome:
    /// sent, failed for good, or due for a retry by the schedule.
    async fn send(&self, message: Message) -> Result<Delivery, HandlerError> {
        let Claimed {
            id,
            channel,
            attempts: previous,
            ..
        } = message.claimed;
        if let Some(reason) = self.outages.paused(channel) {
            let reason = format!("not attempted, the provider just failed: {reason}");
            store::schedule_retry(
                &self.services.pool,
                id,
                previous,
                &reason,
                self.config.retry_max_delay,
            )
            .await?;
            return Ok(Delivery::Scheduled);
        }
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let attempts = previous + attempt as i32;
            let error = match self.send_once(&message.address, &message.rendered).await {
                Ok((sent, telegram_message_id)) => {
                    let event = self.sent_event(&message, &sent, telegram_message_id);
                    self.record_sent(id, attempts, &sent.provider_message_id, &event)
                        .await?;
                    let context = &message.claimed.context;
                    tracing::info!(notification_id = %id, recipient = %context.recipient_user_id, %channel, template = %context.template, attempts, "notification sent");
                    return Ok(Delivery::Sent);
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
                    self.settle_failed(&message.claimed, attempts, &reason)
                        .await?;
                    Ok(Delivery::Failed)
                }
                SendError::Transient { reason, .. } => {
                    tracing::warn!(notification_id = %id, %channel, %reason, attempts, "still failing, the schedule retries it");
                    self.outages.pause(channel, &reason);
                    store::schedule_retry(
                        &self.services.pool,
                        id,
                        attempts,
                        &reason,
                        self.config.retry_max_delay,
                    )
                    .await?;
                    Ok(Delivery::Scheduled)
                }
            };
        }
    }

    fn sent_event(
        &self,
        message: &Message,
        sent: &Sent,
        telegram_message_id: Option<i64>,
    ) -> Envelope {
        let Message {
            claimed,
            address,
            rendered,
        } = message;
        let context = claimed.context.clone();
        let (id, now, cause) = (claimed.id, Utc::now(), &claimed.cause);
        match address {
            Address::Email(to) => cause.envelope(
                self.me(),
                EmailSent {
                    notification_id: id,
                    context,
                    to_address: to.clone(),
                    subject: rendered.subject.clone(),
                    provider_message_id: sent.provider_message_id.clone(),
                    sent_at: now,
                },
            ),
            Address::Telegram(chat_id) => cause.envelope(
                self.me(),
                TelegramSent {
                    notification_id: id,
                    context,
                    chat_id: *chat_id,
                    telegram_message_id: telegram_message_id.unwrap_or_default(),
                    sent_at: now,
                },
            ),
            Address::Sms(phone) => cause.envelope(
                self.me(),
                SmsSent {
                    notification_id: id,
                    context,
                    phone: phone.clone(),
                    provider_message_id: sent.provider_message_id.clone(),
                    sent_at: now,
                },
            ),
        }
    }

    /// notify's scheduled run: settles claims abandoned mid-send, then sends the messages whose
    /// retry is due, batch after batch while any are due, for at most `config.sweep_for`.
    pub async fn sweep(&self) -> Result<SweepReport, HandlerError> {
        use futures::StreamExt as _;
        let until = Instant::now() + self.config.sweep_for;
        let pool = &self.services.pool;
        let mut report = SweepReport::default();
        self.outages.clear();
        loop {
            let abandoned =
                store::take_abandoned(pool, self.config.claim_lease, SWEEP_BATCH).await?;
            let settled = abandoned.len();
            for row in abandoned {
                let (claimed, _) = Claimed::from_stored(row);
                self.settle_failed(&claimed, claimed.attempts, OUTCOME_UNKNOWN)
                    .await?;
                report.abandoned += 1;
            }
            let due = store::take_due(pool, SWEEP_BATCH).await?;
            let taken = due.len();
            let outcomes: Vec<Result<Delivery, HandlerError>> =
                futures::stream::iter(due.into_iter().map(|row| self.retry(row)))
                    .buffer_unordered(self.config.concurrency)
                    .collect()
                    .await;
            for outcome in outcomes {
                match outcome? {
                    Delivery::Sent => report.sent += 1,
                    Delivery::Failed => report.failed += 1,
                    Delivery::Scheduled => report.rescheduled += 1,
                    Delivery::Skipped => {}
                }
            }
            let more = settled as i64 == SWEEP_BATCH || taken as i64 == SWEEP_BATCH;
            if !more || Instant::now() >= until {
                break;
            }
        }
        tracing::info!(
            sent = report.sent,
            rescheduled = report.rescheduled,
            failed = report.failed,
            abandoned = report.abandoned,
            "notification retries swept"
        );
        Ok(report)
    }

    /// One due retry.
    async fn retry(&self, row: StoredNotification) -> Result<Delivery, HandlerError> {
        let age = row.age;
        let (claimed, content) = Claimed::from_stored(row);
        let (address, rendered) = match content {
            Ok(content) => content,
            Err(reason) => {
                self.settle_failed(&claimed, claimed.attempts, reason)
                    .await?;
                return Ok(Delivery::Failed);
            }
        };
        if age > self.config.retry_for {
            let reason = format!(
                "its provider kept failing for {} h; given up",
                self.config.retry_for.as_secs() / 3600
            );
            self.settle_failed(&claimed, claimed.attempts, &reason)
                .await?;
            return Ok(Delivery::Failed);
        }
        self.send(Message {
            claimed,
            address,
            rendered,
        })
        .await
    }

    /// Marks notification `id` sent with its `notification.*` event, in one transaction, and
    /// publishes the event.
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
            self.services
                .commit_with_events(tx, std::slice::from_ref(event))
                .await
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

    /// Records `claimed` as failed for good after `attempts`, with its `notification.failed`.
    async fn settle_failed(
        &self,
        claimed: &Claimed,
        attempts: i32,
        reason: &str,
    ) -> Result<(), HandlerError> {
        let channel = claimed.channel;
        let event = claimed.cause.envelope(
            self.me(),
            NotificationFailed {
                notification_id: claimed.id,
                context: claimed.context.clone(),
                channel,
                reason: reason.to_owned(),
                permanent: true,
                attempts: attempts.max(0) as u32,
                failed_at: Utc::now(),
            },
        );
        let mut tx = self.services.pool.begin().await?;
        store::mark_failed(&mut tx, claimed.id, attempts, reason).await?;
        self.services
            .commit_with_events(tx, std::slice::from_ref(&event))
            .await?;
        tracing::warn!(notification_id = %claimed.id, recipient = %claimed.context.recipient_user_id, %channel, %reason, "notification failed for good");
        Ok(())
    }
}

/// Why a claim left `sending` past its lease is settled as failed rather than sent again.
const OUTCOME_UNKNOWN: &str = "the delivery outcome is unknown (an earlier invocation ended while sending); not resent, to avoid a duplicate";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_defaults_and_names_what_is_missing() {
        let config = NotifyConfig::from_vars(EnvVars::of(&[
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
        let error =
            NotifyConfig::from_vars(EnvVars::of(&[("SES_FROM_ADDRESS", "a@b")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable TELEGRAM_BOT_TOKEN_SECRET_NAME is required"
        );
        let error = NotifyConfig::from_vars(EnvVars::of(&[
            ("SES_FROM_ADDRESS", "a@b"),
            ("TELEGRAM_BOT_TOKEN_SECRET_NAME", "s"),
            ("NOTIFY_MAX_ATTEMPTS", "0"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("NOTIFY_MAX_ATTEMPTS"));
    }
}
