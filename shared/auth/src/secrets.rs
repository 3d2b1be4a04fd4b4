//! Secrets Manager: the JWT signing keys (current and previous version, re-read periodically so a
//! rotation needs no restart) and the bootstrap admin's initial password. `aws-config` reads the region,
//! credentials and `AWS_ENDPOINT_URL` from the environment, so moto or LocalStack work locally.

use crate::token::{JwtCodec, KeyError, TokenSettings};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::Mutex;

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
        Ok(self.version(name, CURRENT).await?.value)
    }

    /// The value and version id of the secret's version labelled `stage`.
    pub async fn version(&self, name: &str, stage: &str) -> Result<SecretVersion, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage(stage)
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
        Ok(SecretVersion {
            version_id: output.version_id().map(str::to_owned),
            value,
        })
    }
}

/// One version of a secret.
pub struct SecretVersion {
    pub version_id: Option<String>,
    pub value: Vec<u8>,
}

/// The staging labels Secrets Manager moves on rotation: `put-secret-value` makes the new value
/// `AWSCURRENT` and the one it replaces `AWSPREVIOUS`.
const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

/// Lookups for a key id nobody knows wait this long after the previous one: a stream of tokens
/// with forged ids must not become a stream of Secrets Manager calls.
const UNKNOWN_KEY_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// The signing keys, rotatable without restarting anything. Tokens are signed with the secret's
/// `AWSCURRENT` version and carry its version id as `kid`; a verifier accepts the `AWSCURRENT` and
/// the `AWSPREVIOUS` version, so tokens signed before a rotation stay valid until they expire.
/// The versions are read on first use and again every `refresh` (`JWT_KEY_REFRESH_SECONDS`), and
/// at once when a token names a version not known yet (a rotation seen first in a token). A
/// failed read is not cached: the keys already known are used until a read succeeds.
pub struct SigningKeys {
    secrets: Secrets,
    secret_name: String,
    settings: TokenSettings,
    refresh: Duration,
    state: Mutex<KeyState>,
}

#[derive(Default)]
struct KeyState {
    keys: Option<KeySet>,
    last_lookup: Option<Instant>,
}

struct KeySet {
    read_at: Instant,
    current: Arc<JwtCodec>,
    previous: Option<Arc<JwtCodec>>,
}

impl KeySet {
    /// The key for a token with key id `kid`; a token without one (issued before key ids) is
    /// checked against the current key.
    fn find(&self, kid: Option<&str>) -> Option<Arc<JwtCodec>> {
        let Some(kid) = kid else {
            return Some(self.current.clone());
        };
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|codec| codec.kid() == Some(kid))
            .cloned()
    }
}

impl SigningKeys {
    pub fn new(
        secrets: Secrets,
        secret_name: String,
        settings: TokenSettings,
        refresh: Duration,
    ) -> SigningKeys {
        SigningKeys {
            secrets,
            secret_name,
            settings,
            refresh,
            state: Mutex::new(KeyState::default()),
        }
    }

    /// The codec that signs new tokens: the current version's.
    pub async fn signer(&self) -> Result<Arc<JwtCodec>, SecretError> {
        let mut state = self.state.lock().await;
        Ok(self.fresh(&mut state).await?.current.clone())
    }

    /// The codec that verifies a token with key id `kid`, or `None` if that key is neither the
    /// current nor the previous one.
    pub async fn verifier(&self, kid: Option<&str>) -> Result<Option<Arc<JwtCodec>>, SecretError> {
        let mut state = self.state.lock().await;
        if let Some(codec) = self.fresh(&mut state).await?.find(kid) {
            return Ok(Some(codec));
        }
        // Perhaps the secret was rotated since it was read: look again, paced.
        if let Some(last) = state.last_lookup {
            tokio::time::sleep(UNKNOWN_KEY_LOOKUP_INTERVAL.saturating_sub(last.elapsed())).await;
        }
        state.last_lookup = Some(Instant::now());
        match self.read().await {
            Ok(keys) => state.keys = Some(keys),
            Err(error) => tracing::warn!(%error, "re-reading the JWT signing keys failed"),
        }
        Ok(state.keys.as_ref().and_then(|keys| keys.find(kid)))
    }

    /// The key set, read again if it is older than `refresh`. When that read fails, the keys
    /// already known serve on (they were valid a moment ago); only without any is it an error.
    async fn fresh<'s>(&self, state: &'s mut KeyState) -> Result<&'s KeySet, SecretError> {
        let stale = state
            .keys
            .as_ref()
            .is_none_or(|keys| keys.read_at.elapsed() >= self.refresh);
        if stale {
            match self.read().await {
                Ok(keys) => state.keys = Some(keys),
                Err(error) if state.keys.is_none() => return Err(error),
                Err(error) => {
                    tracing::warn!(%error, "re-reading the JWT signing keys failed; using the known ones")
                }
            }
        }
        Ok(state.keys.as_ref().expect("read above"))
    }

    async fn read(&self) -> Result<KeySet, SecretError> {
        let current = self.codec(self.secrets.version(&self.secret_name, CURRENT).await?)?;
        let previous = match self.secrets.version(&self.secret_name, PREVIOUS).await {
            Ok(version) => Some(self.codec(version)?),
            Err(SecretError::NotFound(_) | SecretError::Empty(_)) => None,
            Err(error) => return Err(error),
        };
        tracing::info!(
            secret = %self.secret_name,
            current = current.kid(),
            previous = previous.as_ref().and_then(|codec| codec.kid()),
            "JWT signing keys read"
        );
        Ok(KeySet {
            read_at: Instant::now(),
            current: Arc::new(current),
            previous: previous.map(Arc::new),
        })
    }

    fn codec(&self, version: SecretVersion) -> Result<JwtCodec, SecretError> {
        let codec = JwtCodec::new(&version.value, self.settings.clone()).map_err(|error| {
            SecretError::BadKey {
                name: self.secret_name.clone(),
                error,
            }
        })?;
        Ok(match version.version_id {
            Some(id) => codec.with_kid(id),
            None => codec,
        })
    }
}
