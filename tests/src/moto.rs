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

/// Whether a subject is notify's verification-code e-mail (`contact_code`), ru or en.
pub fn is_code_subject(subject: &str) -> bool {
    subject == "Код подтверждения servicehub" || subject == "Your servicehub verification code"
}

/// The first run of exactly six digits in `text`: a verification code.
pub fn code_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let run = &bytes[i..i + 6];
        let before = i.checked_sub(1).map(|j| bytes[j].is_ascii_digit());
        let after = bytes.get(i + 6).map(|b| b.is_ascii_digit());
        (run.iter().all(u8::is_ascii_digit) && before != Some(true) && after != Some(true))
            .then(|| String::from_utf8_lossy(run).into_owned())
    })
}

/// The verification codes mailed to `to`, oldest first.
pub async fn codes_mailed_to(to: &str) -> Vec<String> {
    mails_to(to)
        .await
        .into_iter()
        .filter(|(subject, _)| is_code_subject(subject))
        .filter_map(|(_, body)| code_in(&body))
        .collect()
}

/// The verification codes texted to `phone`, oldest first.
pub async fn codes_texted_to(phone: &str) -> Vec<String> {
    sms_to(phone)
        .await
        .iter()
        .filter_map(|text| code_in(text))
        .collect()
}

/// How many e-mails moto's SES accepted, per recipient: the notifications, verification codes
/// left out.
pub async fn mails_per_address() -> std::collections::HashMap<String, usize> {
    let data = data().await;
    let mut counts = std::collections::HashMap::new();
    for message in data["ses"]["Message"].as_array().into_iter().flatten() {
        if is_code_subject(message["subject"].as_str().unwrap_or_default()) {
            continue;
        }
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
