//! A Kafka trigger's `SourceAccessConfigurations`, turned into the librdkafka settings its
//! poller uses, as Lambda's pollers do: SASL (SCRAM-SHA-512/256, PLAIN) always over TLS, a client
//! certificate for mutual TLS, a private root CA. The secrets are read from Secrets Manager
//! (moto locally, through `AWS_ENDPOINT_URL`) in the shapes Lambda reads.

use crate::template::SourceAccess;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use std::collections::BTreeMap;

/// librdkafka properties (secrets included: never logged).
pub type AccessProperties = BTreeMap<String, String>;

/// Reads the secrets of `access` and returns the properties for the poller's clients. VPC
/// entries mean nothing locally and are skipped.
pub async fn resolve(
    access: &[SourceAccess],
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<AccessProperties, String> {
    let mut properties = AccessProperties::new();
    let mut sasl = false;
    let mut tls = false;
    for entry in access {
        let mechanism = match entry.kind.as_str() {
            "SASL_SCRAM_512_AUTH" => Some("SCRAM-SHA-512"),
            "SASL_SCRAM_256_AUTH" => Some("SCRAM-SHA-256"),
            "BASIC_AUTH" => Some("PLAIN"),
            _ => None,
        };
        if let Some(mechanism) = mechanism {
            let secret = read(secrets, entry).await?;
            properties.insert("sasl.mechanism".into(), mechanism.into());
            properties.insert("sasl.username".into(), field(&secret, entry, "username")?);
            properties.insert("sasl.password".into(), field(&secret, entry, "password")?);
            sasl = true;
            continue;
        }
        match entry.kind.as_str() {
            "CLIENT_CERTIFICATE_TLS_AUTH" => {
                let secret = read(secrets, entry).await?;
                properties.insert(
                    "ssl.certificate.pem".into(),
                    field(&secret, entry, "certificate")?,
                );
                properties.insert("ssl.key.pem".into(), field(&secret, entry, "privateKey")?);
                if let Ok(password) = field(&secret, entry, "privateKeyPassword") {
                    properties.insert("ssl.key.password".into(), password);
                }
                tls = true;
            }
            "SERVER_ROOT_CA_CERTIFICATE" => {
                let secret = read(secrets, entry).await?;
                properties.insert("ssl.ca.pem".into(), field(&secret, entry, "certificate")?);
                tls = true;
            }
            "VPC_SUBNET" | "VPC_SECURITY_GROUP" | "VIRTUAL_HOST" => {}
            other => {
                return Err(format!(
                    "SourceAccessConfigurations type {other} is not known"
                ));
            }
        }
    }
    let protocol = match (sasl, tls) {
        (true, _) => "SASL_SSL",
        (false, true) => "SSL",
        (false, false) => return Ok(properties),
    };
    properties.insert("security.protocol".into(), protocol.into());
    Ok(properties)
}

async fn read(
    secrets: &aws_sdk_secretsmanager::Client,
    entry: &SourceAccess,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let output = secrets
        .get_secret_value()
        .secret_id(&entry.uri)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{} secret {}: {}",
                entry.kind,
                entry.uri,
                DisplayErrorContext(&e)
            )
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| format!("{} secret {} has no SecretString", entry.kind, entry.uri))?;
    serde_json::from_str(text)
        .map_err(|_| format!("{} secret {} is not a JSON object", entry.kind, entry.uri))
}

fn field(
    secret: &serde_json::Map<String, serde_json::Value>,
    entry: &SourceAccess,
    name: &str,
) -> Result<String, String> {
    secret
        .get(name)
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{} secret {} has no {name:?}", entry.kind, entry.uri))
}
