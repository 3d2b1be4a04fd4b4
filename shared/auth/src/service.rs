//! What the auth functions build once per execution environment, and the audit helper their use
//! cases share.

use crate::config::AuthConfig;
use crate::secrets::{Secrets, SigningKeys};
use chrono::{DateTime, Utc};
use serde_json::Value;
use servicehub_events::Envelope;
use servicehub_events::catalog::UserAction;
use servicehub_events::values::{Actor, AuditOutcome};
use servicehub_platform::Services;
use servicehub_platform::http::Trace;
use tokio::sync::OnceCell;

/// The clients and settings of an auth function.
pub struct AuthServices {
    pub services: Services,
    pub config: AuthConfig,
    pub secrets: Secrets,
    pub signing_keys: SigningKeys,
    /// Set once the bootstrap admin has been checked in this execution environment.
    pub(crate) bootstrap_done: OnceCell<()>,
}

impl servicehub_platform::function::Environment for AuthServices {
    fn reporter(&self) -> &servicehub_platform::report::Reporter {
        &self.services.reporter
    }
}

impl servicehub_platform::function::WithDatabase for AuthServices {
    fn services(&self) -> &Services {
        &self.services
    }
}

impl AuthServices {
    /// Reads the configuration and builds the pool, the producer and the Secrets Manager client.
    /// Nothing is fetched yet: the signing key is read on first use.
    pub async fn from_env(
        default_service_name: &str,
    ) -> Result<AuthServices, Box<dyn std::error::Error + Send + Sync>> {
        let services = Services::from_env(default_service_name).await?;
        let config = AuthConfig::from_env()?;
        tracing::info!(?config, "auth settings");
        Ok(AuthServices::new(
            services,
            config,
            Secrets::from_env().await,
        ))
    }

    /// From clients and settings made elsewhere (a test's own database and signing key).
    pub fn new(services: Services, config: AuthConfig, secrets: Secrets) -> AuthServices {
        let signing_keys = SigningKeys::new(
            secrets.clone(),
            config.jwt_secret_name.clone(),
            config.tokens.clone(),
            config.jwt_key_refresh,
        );
        AuthServices {
            services,
            config,
            secrets,
            signing_keys,
            bootstrap_done: OnceCell::new(),
        }
    }

    pub fn source(&self) -> &str {
        &self.services.config.service_name
    }
}

/// An `audit.user_action` for a call, in the call's correlation and trace context.
pub(crate) struct Audit<'a> {
    pub actor: Actor,
    pub action: &'a str,
    pub resource_id: String,
    pub outcome: AuditOutcome,
    pub details: Value,
    pub at: DateTime<Utc>,
}

impl Audit<'_> {
    pub fn envelope(self, source: &str, trace: &Trace) -> Envelope {
        trace.stamp(Envelope::new(
            source,
            UserAction {
                actor: self.actor,
                action: self.action.to_owned(),
                resource_type: "user".into(),
                resource_id: self.resource_id,
                outcome: self.outcome,
                details: self.details,
                at: self.at,
            },
        ))
    }
}
