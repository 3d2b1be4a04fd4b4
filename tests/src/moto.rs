//! What moto (the AWS emulator of the dev services) accepted: sent e-mails and SMS, read back
//! through its `/moto-api/data.json`.

use crate::required_env;
use serde_json::Value;

pub async fn data() -> Value {
    reqwest::get(format!(
        "{}/moto-api/data.json",
        required_env("AWS_ENDPOINT_URL")
    ))
    .await
    .expect("moto's data")
    .json()
    .await
    .expect("moto's data as JSON")
}

/// How many e-mails moto's SES accepted, per recipient.
pub async fn mails_per_address() -> std::collections::HashMap<String, usize> {
    let data = data().await;
    let mut counts = std::collections::HashMap::new();
    for message in data["ses"]["Message"].as_array().into_iter().flatten() {
        for to in message["destinations"]["ToAddresses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            *counts
                .entry(to.as_str().unwrap_or_default().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

/// The e-mails moto's SES accepted for `to`: (subject, body).
pub async fn mails_to(to: &str) -> Vec<(String, String)> {
    let data = data().await;
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == to))
        })
        .map(|m| {
            (
                m["subject"].as_str().unwrap_or_default().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The SMS moto's SNS accepted for `phone`.
pub async fn sms_to(phone: &str) -> Vec<String> {
    let data = data().await;
    data["sns"]["SMS"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["phone_number"] == phone)
        .map(|m| m["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}
