//! Secrets Manager: the JWT signing key (fetched once per execution environment, then cached for
//! its life) and the bootstrap admin's initial password. `aws-config` reads the region,
//! credentials and `AWS_ENDPOINT_URL` from the environment, so moto or LocalStack work locally.

use crate::token::{JwtCodec, KeyError, TokenSettings};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use servicehub_platform::http::ApiError;
use thiserror::Error;
use tokio::sync::OnceCell;

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("secret {0} does not exist")]
    NotFound(String),
    #[error("secret {0} has no value")]
    Empty(String),
    #[error("secret {name} is not a usable signing key: {error}")]
    BadKey { name: String, error: KeyError },
    /// Secrets Manager could not be reached or refused (retryable, or a permission problem).
    #[error("reading secret {name} failed: {detail}")]
    Unavailable { name: String, detail: String },
}

impl From<SecretError> for ApiError {
    fn from(error: SecretError) -> ApiError {
        match error {
            SecretError::Unavailable { .. } => {
                tracing::warn!(%error, "secrets manager unavailable");
                ApiError::Unavailable("the credentials service is unavailable".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A Secrets Manager client, built once per execution environment.
#[derive(Clone, Debug)]
pub struct Secrets {
    client: Client,
}

impl Secrets {
    /// A client configured from the environment (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Secrets {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Secrets {
            client: Client::new(&config),
        }
    }

    /// The secret's value: its SecretString (surrounding whitespace dropped) or its SecretBinary.
    pub async fn get(&self, name: &str) -> Result<Vec<u8>, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|error| {
                let not_found = error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception());
                if not_found {
                    SecretError::NotFound(name.to_owned())
                } else {
                    SecretError::Unavailable {
                        name: name.to_owned(),
                        detail: DisplayErrorContext(&error).to_string(),
                    }
                }
            })?;
        let value = match (output.secret_string(), output.secret_binary()) {
            (Some(text), _) => text.trim().as_bytes().to_vec(),
            (None, Some(blob)) => blob.as_ref().to_vec(),
            (None, None) => Vec::new(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty(name.to_owned()));
        }
        Ok(value)
    }
}

/// The access-token codec, built from the signing key on first use and kept for the life of the
/// execution environment. A failed fetch is not cached: the next invocation tries again.
pub struct SigningKey {
    secrets: Secrets,
    secret_name: String,
    settings: TokenSettings,
    codec: OnceCell<JwtCodec>,
}

impl SigningKey {
    pub fn new(secrets: Secrets, secret_name: String, settings: TokenSettings) -> SigningKey {
        SigningKey {
            secrets,
            secret_name,
            settings,
            codec: OnceCell::new(),
        }
    }

    pub async fn codec(&self) -> Result<&JwtCodec, SecretError> {
        self.codec
            .get_or_try_init(|| async {
                let key = self.secrets.get(&self.secret_name).await?;
                let codec = JwtCodec::new(&key, self.settings.clone()).map_err(|error| {
                    SecretError::BadKey {
                        name: self.secret_name.clone(),
                        error,
                    }
                })?;
                tracing::info!(secret = %self.secret_name, "JWT signing key loaded");
                Ok(codec)
            })
            .await
    }
}
