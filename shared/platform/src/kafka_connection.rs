//! How a function's Kafka producer reaches the cluster, chosen by `KAFKA_AUTH`: plaintext
//! locally; TLS, mutual TLS, SASL/SCRAM-SHA-512 or MSK IAM (SASL/OAUTHBEARER) in AWS. Secrets
//! and the MSK bootstrap string are looked up once per execution environment, with the same
//! secret shapes Lambda's Kafka triggers read, so a producer and its stack's triggers share them.

use crate::config::{ConfigError, Vars};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_kafka::error::DisplayErrorContext;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;

/// How producers authenticate (`KAFKA_AUTH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KafkaAuth {
    /// `plaintext` (the default): no TLS, no authentication. Local clusters only.
    Plaintext,
    /// `tls`: encrypted, unauthenticated (MSK's TLS listener, port 9094).
    Tls,
    /// `mtls`: TLS with a client certificate (`KAFKA_AUTH_SECRET_ARN`: certificate, privateKey).
    MutualTls,
    /// `scram`: SASL/SCRAM-SHA-512 over TLS (`KAFKA_AUTH_SECRET_ARN`: username, password;
    /// `KAFKA_SASL_MECHANISM` picks SCRAM-SHA-256 or PLAIN for self-managed clusters).
    Scram,
    /// `iam`: MSK IAM, SASL/OAUTHBEARER over TLS with tokens signed by the function's role.
    Iam,
}

impl KafkaAuth {
    /// The GetBootstrapBrokers field that lists this mode's listener.
    fn bootstrap_field(self) -> &'static str {
        match self {
            KafkaAuth::Plaintext => "BootstrapBrokerString",
            KafkaAuth::Tls | KafkaAuth::MutualTls => "BootstrapBrokerStringTls",
            KafkaAuth::Scram => "BootstrapBrokerStringSaslScram",
            KafkaAuth::Iam => "BootstrapBrokerStringSaslIam",
        }
    }

    /// What to fix when the cluster refuses this mode's credentials.
    fn credentials_setting(self) -> &'static str {
        match self {
            KafkaAuth::Scram => "KAFKA_AUTH_SECRET_ARN (the SCRAM username and password)",
            KafkaAuth::MutualTls => "KAFKA_AUTH_SECRET_ARN (the client certificate and key)",
            KafkaAuth::Iam => {
                "KAFKA_AUTH=iam (the function role's kafka-cluster:Connect permission)"
            }
            KafkaAuth::Tls | KafkaAuth::Plaintext => "KAFKA_AUTH",
        }
    }

    fn needs_secret(self) -> bool {
        matches!(self, KafkaAuth::MutualTls | KafkaAuth::Scram)
    }
}

impl FromStr for KafkaAuth {
    type Err = String;

    fn from_str(value: &str) -> Result<KafkaAuth, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "plaintext" | "none" => Ok(KafkaAuth::Plaintext),
            "tls" => Ok(KafkaAuth::Tls),
            "mtls" => Ok(KafkaAuth::MutualTls),
            "scram" => Ok(KafkaAuth::Scram),
            "iam" => Ok(KafkaAuth::Iam),
            other => Err(format!(
                "{other:?} is not one of plaintext, tls, mtls, scram, iam"
            )),
        }
    }
}

impl fmt::Display for KafkaAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KafkaAuth::Plaintext => "plaintext",
            KafkaAuth::Tls => "tls",
            KafkaAuth::MutualTls => "mtls",
            KafkaAuth::Scram => "scram",
            KafkaAuth::Iam => "iam",
        })
    }
}

/// Where the cluster is and how to authenticate, as configured (nothing looked up yet).
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    /// `KAFKA_BOOTSTRAP_SERVERS`; when empty, discovered from `MSK_CLUSTER_ARN`.
    pub bootstrap_servers: Option<String>,
    /// `MSK_CLUSTER_ARN`: the cluster whose bootstrap string GetBootstrapBrokers returns.
    pub msk_cluster_arn: Option<String>,
    pub auth: KafkaAuth,
    /// `KAFKA_AUTH_SECRET_ARN`: SCRAM credentials or the client certificate.
    pub auth_secret: Option<String>,
    /// `KAFKA_SASL_MECHANISM` for `scram`: SCRAM-SHA-512 (the default, and MSK's), SCRAM-SHA-256
    /// or PLAIN (self-managed clusters).
    pub sasl_mechanism: String,
    /// `KAFKA_CA_SECRET_ARN`: a private CA (`{"certificate": PEM}`) the brokers' certificates
    /// chain to; without it TLS verifies against the system's trust store.
    pub ca_secret: Option<String>,
    /// Extra librdkafka properties from `KAFKA_PROPERTY_<NAME>` variables, e.g.
    /// `KAFKA_PROPERTY_MESSAGE_TIMEOUT_MS=2000` becomes `message.timeout.ms=2000`. Applied last.
    pub properties: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// The settings of the process's environment (operator tools; functions read them as part
    /// of their [`crate::Config`]).
    pub fn from_env() -> Result<KafkaSettings, ConfigError> {
        KafkaSettings::from_vars(std::env::vars().collect())
    }

    pub fn from_vars(vars: BTreeMap<String, String>) -> Result<KafkaSettings, ConfigError> {
        KafkaSettings::read(&Vars::new(vars))
    }

    /// Reads the settings from the environment's variables.
    pub(crate) fn read(vars: &Vars) -> Result<KafkaSettings, ConfigError> {
        let get = |name: &str| vars.get(name);
        let auth = match get("KAFKA_AUTH") {
            Some(value) => value.parse().map_err(|reason| ConfigError::Invalid {
                name: "KAFKA_AUTH",
                reason,
            })?,
            None => KafkaAuth::Plaintext,
        };
        let settings = KafkaSettings {
            bootstrap_servers: get("KAFKA_BOOTSTRAP_SERVERS"),
            msk_cluster_arn: get("MSK_CLUSTER_ARN"),
            auth,
            auth_secret: get("KAFKA_AUTH_SECRET_ARN"),
            sasl_mechanism: match get("KAFKA_SASL_MECHANISM") {
                None => "SCRAM-SHA-512".to_owned(),
                Some(m) if ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"].contains(&m.trim()) => {
                    m.trim().to_owned()
                }
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "KAFKA_SASL_MECHANISM",
                        reason: format!("{other:?} is not SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"),
                    });
                }
            },
            ca_secret: get("KAFKA_CA_SECRET_ARN"),
            properties: vars
                .with_prefix("KAFKA_PROPERTY_")
                .map(|(property, value)| {
                    (
                        property.to_ascii_lowercase().replace('_', "."),
                        value.to_owned(),
                    )
                })
                .collect(),
        };
        if settings.bootstrap_servers.is_none() && settings.msk_cluster_arn.is_none() {
            return Err(ConfigError::Missing(
                "KAFKA_BOOTSTRAP_SERVERS (or MSK_CLUSTER_ARN)",
            ));
        }
        if auth.needs_secret() && settings.auth_secret.is_none() {
            return Err(ConfigError::Invalid {
                name: "KAFKA_AUTH_SECRET_ARN",
                reason: format!("KAFKA_AUTH={auth} needs the secret with its credentials"),
            });
        }
        Ok(settings)
    }

    /// The secrets this mode reads: none in plaintext (a CA or credentials in the environment
    /// are then not for this client), the credentials only where the mode has some.
    fn auth_secret(&self) -> Option<&String> {
        self.auth_secret
            .as_ref()
            .filter(|_| self.auth.needs_secret())
    }

    fn ca_secret(&self) -> Option<&String> {
        self.ca_secret
            .as_ref()
            .filter(|_| self.auth != KafkaAuth::Plaintext)
    }

    fn needs_aws(&self) -> bool {
        self.bootstrap_servers.is_none()
            || self.auth_secret().is_some()
            || self.ca_secret().is_some()
            || self.auth == KafkaAuth::Iam
    }

    /// The client settings when nothing has to be looked up in AWS (a bootstrap string given,
    /// no secrets, no IAM): what tests and local tools use.
    pub fn resolve_locally(&self) -> Result<ClientSettings, KafkaSetupError> {
        match &self.bootstrap_servers {
            Some(bootstrap) if !self.needs_aws() => Ok(self.client_settings(bootstrap, None)),
            _ => Err(KafkaSetupError::NeedsLookup(self.auth)),
        }
    }

    /// The client settings, looking up what the configuration names: the bootstrap string of
    /// `MSK_CLUSTER_ARN`, the secrets, and the role's credentials for IAM tokens.
    pub async fn resolve(&self) -> Result<ClientSettings, KafkaSetupError> {
        if !self.needs_aws() {
            return self.resolve_locally();
        }
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let bootstrap = match (&self.bootstrap_servers, &self.msk_cluster_arn) {
            (Some(bootstrap), _) => bootstrap.clone(),
            (None, Some(cluster)) => discover_bootstrap(&aws, cluster, self.auth).await?,
            (None, None) => unreachable!("KafkaSettings::read requires one of them"),
        };
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let credentials = match self.auth_secret() {
            Some(arn) => Some(read_secret(&secrets, "KAFKA_AUTH_SECRET_ARN", arn).await?),
            None => None,
        };
        let ca = match self.ca_secret() {
            Some(arn) => {
                let secret = read_secret(&secrets, "KAFKA_CA_SECRET_ARN", arn).await?;
                Some(secret.field("certificate")?.to_owned())
            }
            None => None,
        };
        let mut settings = self.client_settings(&bootstrap, ca);
        if let Some(credentials) = credentials {
            settings
                .properties
                .extend(self.credential_properties(&credentials)?);
            settings.properties.extend(self.properties.clone());
        }
        if self.auth == KafkaAuth::Iam {
            let region = aws.region().cloned().ok_or(KafkaSetupError::NoRegion)?;
            let credentials = aws
                .credentials_provider()
                .ok_or(KafkaSetupError::NoCredentials)?;
            settings.iam = Some(IamTokens {
                region,
                credentials,
            });
        }
        Ok(settings)
    }

    fn client_settings(&self, bootstrap: &str, ca_pem: Option<String>) -> ClientSettings {
        let mut properties = BTreeMap::new();
        properties.insert("bootstrap.servers".to_owned(), bootstrap.to_owned());
        let protocol = match self.auth {
            KafkaAuth::Plaintext => "PLAINTEXT",
            KafkaAuth::Tls | KafkaAuth::MutualTls => "SSL",
            KafkaAuth::Scram | KafkaAuth::Iam => "SASL_SSL",
        };
        properties.insert("security.protocol".to_owned(), protocol.to_owned());
        match self.auth {
            KafkaAuth::Scram => {
                properties.insert("sasl.mechanism".to_owned(), self.sasl_mechanism.clone());
            }
            KafkaAuth::Iam => {
                properties.insert("sasl.mechanism".to_owned(), "OAUTHBEARER".to_owned());
            }
            _ => {}
        }
        if self.auth != KafkaAuth::Plaintext {
            match ca_pem {
                Some(pem) => {
                    properties.insert("ssl.ca.pem".to_owned(), pem);
                }
                // The bundled OpenSSL's compiled-in CA directory does not exist on Lambda's
                // image: let librdkafka probe the usual places (al2023's ca-bundle.crt).
                None => {
                    properties.insert("ssl.ca.location".to_owned(), "probe".to_owned());
                }
            }
        }
        properties.extend(self.properties.clone());
        ClientSettings {
            auth: self.auth,
            properties,
            iam: None,
        }
    }

    fn credential_properties(
        &self,
        secret: &Secret,
    ) -> Result<BTreeMap<String, String>, KafkaSetupError> {
        let mut properties = BTreeMap::new();
        match self.auth {
            KafkaAuth::Scram => {
                properties.insert("sasl.username".into(), secret.field("username")?.into());
                properties.insert("sasl.password".into(), secret.field("password")?.into());
            }
            KafkaAuth::MutualTls => {
                properties.insert(
                    "ssl.certificate.pem".into(),
                    secret.field("certificate")?.into(),
                );
                properties.insert("ssl.key.pem".into(), secret.field("privateKey")?.into());
                if let Ok(password) = secret.field("privateKeyPassword") {
                    properties.insert("ssl.key.password".into(), password.into());
                }
            }
            _ => {}
        }
        Ok(properties)
    }
}

/// Everything a librdkafka client needs, looked up.
#[derive(Clone)]
pub struct ClientSettings {
    pub auth: KafkaAuth,
    /// librdkafka properties, secrets included: never log the values.
    pub properties: BTreeMap<String, String>,
    /// Set in `iam` mode: signs the OAUTHBEARER tokens.
    pub iam: Option<IamTokens>,
}

impl ClientSettings {
    /// Sets these properties on `config` (after the client's own, so the environment's
    /// `KAFKA_PROPERTY_*` win). Secrets among them: `ClientConfig`'s Debug is never logged.
    pub fn apply_to(&self, config: &mut rdkafka::ClientConfig) {
        for (name, value) in &self.properties {
            config.set(name, value);
        }
    }

    /// What went wrong when the cluster refused the client during its check, in terms of the
    /// setting to fix.
    pub fn refused(&self, reason: String) -> KafkaSetupError {
        KafkaSetupError::Refused {
            setting: if reason.contains("SSL") || reason.contains("certificate") {
                "KAFKA_CA_SECRET_ARN (the brokers' certificate did not verify)"
            } else {
                self.auth.credentials_setting()
            },
            reason,
        }
    }
}

/// Signs MSK IAM tokens (a presigned `kafka-cluster:Connect` URL) with the role's credentials.
#[derive(Clone)]
pub struct IamTokens {
    region: aws_config::Region,
    credentials: SharedCredentialsProvider,
}

impl IamTokens {
    pub fn new(region: aws_config::Region, credentials: SharedCredentialsProvider) -> IamTokens {
        IamTokens {
            region,
            credentials,
        }
    }

    /// A fresh token and its expiry (ms since the epoch). Called by librdkafka's refresh
    /// callback on a thread of its own, outside any async runtime: the signer runs on a small
    /// runtime of its own (credentials providers may need I/O to refresh).
    pub fn token(&self) -> Result<(String, i64), String> {
        let (region, credentials) = (self.region.clone(), self.credentials.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(10),
                    aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
                        region,
                        credentials,
                    ),
                )
                .await
                .map_err(|_| "signing the MSK IAM token timed out".to_owned())?
                .map_err(|e| format!("signing the MSK IAM token failed: {e}"))
            })
        })
        .join()
        .map_err(|_| "the MSK IAM signer panicked".to_owned())?
    }
}

#[derive(Debug, Error)]
pub enum KafkaSetupError {
    #[error(
        "KAFKA_AUTH={0} looks up secrets or the bootstrap string in AWS: use EventProducer::connect"
    )]
    NeedsLookup(KafkaAuth),
    #[error("GetBootstrapBrokers for MSK_CLUSTER_ARN {cluster} failed: {detail}")]
    Discovery { cluster: String, detail: String },
    #[error(
        "MSK cluster {cluster} has no listener for KAFKA_AUTH={auth} ({field} is empty): \
         enable that authentication on the cluster or choose the KAFKA_AUTH it offers"
    )]
    NoListener {
        cluster: String,
        auth: KafkaAuth,
        field: &'static str,
    },
    #[error("reading {setting} {secret} failed: {detail}")]
    Secret {
        setting: &'static str,
        secret: String,
        detail: String,
    },
    #[error("KAFKA_AUTH=iam needs a region (AWS_REGION)")]
    NoRegion,
    #[error("KAFKA_AUTH=iam needs AWS credentials (the function's role)")]
    NoCredentials,
    #[error("the Kafka cluster refused the producer: check {setting}: {reason}")]
    Refused {
        setting: &'static str,
        reason: String,
    },
    #[error("creating the Kafka producer failed: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
}

async fn discover_bootstrap(
    aws: &aws_config::SdkConfig,
    cluster: &str,
    auth: KafkaAuth,
) -> Result<String, KafkaSetupError> {
    let output = aws_sdk_kafka::Client::new(aws)
        .get_bootstrap_brokers()
        .cluster_arn(cluster)
        .send()
        .await
        .map_err(|error| KafkaSetupError::Discovery {
            cluster: cluster.to_owned(),
            detail: DisplayErrorContext(&error).to_string(),
        })?;
    let listed = match auth {
        KafkaAuth::Plaintext => output.bootstrap_broker_string(),
        KafkaAuth::Tls | KafkaAuth::MutualTls => output.bootstrap_broker_string_tls(),
        KafkaAuth::Scram => output.bootstrap_broker_string_sasl_scram(),
        KafkaAuth::Iam => output.bootstrap_broker_string_sasl_iam(),
    };
    match listed.map(str::trim).filter(|s| !s.is_empty()) {
        Some(bootstrap) => Ok(bootstrap.to_owned()),
        None => Err(KafkaSetupError::NoListener {
            cluster: cluster.to_owned(),
            auth,
            field: auth.bootstrap_field(),
        }),
    }
}

/// A secret's JSON object, as Lambda's Kafka triggers read it.
struct Secret {
    setting: &'static str,
    arn: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Secret {
    fn field(&self, name: &str) -> Result<&str, KafkaSetupError> {
        self.fields
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| KafkaSetupError::Secret {
                setting: self.setting,
                secret: self.arn.clone(),
                detail: format!("its JSON has no string field {name:?}"),
            })
    }
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    setting: &'static str,
    arn: &str,
) -> Result<Secret, KafkaSetupError> {
    let failed = |detail: String| KafkaSetupError::Secret {
        setting,
        secret: arn.to_owned(),
        detail,
    };
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| failed(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))?;
    let text = output
        .secret_string()
        .ok_or_else(|| failed("it has no SecretString".into()))?;
    let fields = serde_json::from_str(text)
        .map_err(|_| failed("its SecretString is not a JSON object".into()))?;
    Ok(Secret {
        setting,
        arn: arn.to_owned(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn settings(pairs: &[(&str, &str)]) -> Result<KafkaSettings, ConfigError> {
        KafkaSettings::read(&Vars::new(
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        ))
    }

    #[test]
    fn each_mode_speaks_its_protocol_and_properties_come_last() {
        let cases = [
            ("plaintext", "PLAINTEXT", None),
            ("tls", "SSL", None),
            ("iam", "SASL_SSL", Some("OAUTHBEARER")),
        ];
        for (auth, protocol, mechanism) in cases {
            let settings = settings(&[
                ("KAFKA_BOOTSTRAP_SERVERS", "b-1:9096"),
                ("KAFKA_AUTH", auth),
                ("KAFKA_PROPERTY_LINGER_MS", "5"),
            ])
            .unwrap();
            let client = settings.client_settings("b-1:9096", None);
            assert_eq!(client.properties["security.protocol"], protocol, "{auth}");
            assert_eq!(
                client.properties.get("sasl.mechanism").map(String::as_str),
                mechanism
            );
            assert_eq!(client.properties["linger.ms"], "5");
            assert_eq!(
                client.properties.contains_key("ssl.ca.location"),
                auth != "plaintext",
                "TLS verifies against the system's CAs unless given one"
            );
        }
    }

    #[test]
    fn modes_needing_credentials_or_lookups_say_which_setting_is_missing() {
        let error = settings(&[("KAFKA_AUTH", "scram"), ("MSK_CLUSTER_ARN", "arn")]).unwrap_err();
        assert!(
            error.to_string().contains("KAFKA_AUTH_SECRET_ARN"),
            "{error}"
        );
        let error = settings(&[("KAFKA_AUTH", "sasl")]).unwrap_err();
        assert!(error.to_string().contains("KAFKA_AUTH"), "{error}");
        let error = settings(&[("KAFKA_AUTH", "tls")]).unwrap_err();
        assert!(error.to_string().contains("MSK_CLUSTER_ARN"), "{error}");
        let iam = settings(&[("KAFKA_AUTH", "iam"), ("KAFKA_BOOTSTRAP_SERVERS", "b:9098")]);
        assert!(matches!(
            iam.unwrap().resolve_locally(),
            Err(KafkaSetupError::NeedsLookup(KafkaAuth::Iam))
        ));
    }

    #[test]
    fn secrets_in_the_environment_that_the_mode_does_not_use_are_not_looked_up() {
        let plaintext = settings(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:59092"),
            ("KAFKA_AUTH_SECRET_ARN", "arn:scram"),
            ("KAFKA_CA_SECRET_ARN", "arn:ca"),
        ])
        .unwrap();
        let client = plaintext.resolve_locally().expect("nothing to look up");
        assert_eq!(client.properties["security.protocol"], "PLAINTEXT");
        let tls = settings(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9094"),
            ("KAFKA_AUTH", "tls"),
            ("KAFKA_AUTH_SECRET_ARN", "arn:scram"),
        ])
        .unwrap();
        assert!(tls.resolve_locally().is_ok(), "tls has no credentials");
    }

    #[test]
    fn a_refusal_names_the_setting_to_fix() {
        let scram = settings(&[
            ("KAFKA_AUTH", "scram"),
            ("KAFKA_AUTH_SECRET_ARN", "arn:s"),
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9096"),
        ])
        .unwrap()
        .client_settings("b:9096", None);
        let error = scram.refused("SASL authentication error: invalid credentials".into());
        assert!(
            error.to_string().contains("KAFKA_AUTH_SECRET_ARN"),
            "{error}"
        );
        let error = scram.refused("SSL handshake failed: certificate verify failed".into());
        assert!(error.to_string().contains("KAFKA_CA_SECRET_ARN"), "{error}");
    }

    #[test]
    fn iam_tokens_are_presigned_connect_urls_for_the_region_signed_by_the_role() {
        let credentials = aws_credential_types::Credentials::from_keys(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
        );
        let tokens = IamTokens::new(
            aws_config::Region::new("eu-central-1"),
            SharedCredentialsProvider::new(credentials),
        );
        let (token, expires_ms) = tokens.token().unwrap();
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&token)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://kafka.eu-central-1.amazonaws.com/?Action=kafka-cluster%3AConnect"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F"), "{url}");
        assert!(url.contains("X-Amz-Security-Token=session-token"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(
            expires_ms > now_ms && expires_ms <= now_ms + 900_000 + 5_000,
            "the token lives 15 minutes: {expires_ms} vs now {now_ms}"
        );
    }
}
