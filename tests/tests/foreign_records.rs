//! Records a consumer does not own. AWS's own MSK fixture (`aws_lambda_events`'
//! `example-kafka-event.json`: topic `AWSKafkaTopic`, a value that is no envelope of ours) is fed
//! to the real binary of every Kafka-triggered function. The topic has no `.dlq` twin, so the
//! record must go to the catch-all `unrouted.dlq` with its reason and source, and the invocation
//! succeed: one record must never block its partition because its dead-letter topic is missing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use servicehub_events::dlq::DeadLetter;
use servicehub_events::topic::UNROUTED_DLQ;
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::telegram::FakeTelegram;
use servicehub_tests::{TestDatabase, audit_database, repo_root, required_env, start_function};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// Every function with a Kafka trigger in template.yaml.
const CONSUMERS: [&str; 5] = [
    "assign-manager",
    "notify",
    "security-check",
    "hr-documents",
    "audit-sink",
];

fn aws_fixture(name: &str) -> Value {
    let path = repo_root()
        .join("tools/local-runner/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_consumer_dead_letters_awss_own_msk_fixture_to_unrouted_and_succeeds() {
    let fixture = aws_fixture("example-kafka-event.json");
    let record = &fixture["records"]["AWSKafkaTopic-0"][0];
    let value = BASE64.decode(record["value"].as_str().unwrap()).unwrap();
    let db = TestDatabase::new().await;
    let clickhouse = audit_database().await;
    let telegram = FakeTelegram::start().await;
    let telegram_secret = telegram.token_secret().await;
    for consumer in CONSUMERS {
        let mut env: Vec<(String, String)> = [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "DOCUMENTS_BUCKET",
            "SES_FROM_ADDRESS",
        ]
        .into_iter()
        .map(|name| (name.to_owned(), required_env(name)))
        .collect();
        env.extend([
            ("TELEGRAM_API_BASE_URL".into(), telegram.base_url.clone()),
            (
                "TELEGRAM_BOT_TOKEN_SECRET_NAME".into(),
                telegram_secret.clone(),
            ),
            ("CLICKHOUSE_URL".into(), clickhouse.config().url.clone()),
            (
                "CLICKHOUSE_DATABASE".into(),
                clickhouse.database().to_owned(),
            ),
        ]);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let unrouted = KafkaProbe::new(UNROUTED_DLQ);
        let function = start_function(consumer, &db.url, &env).await;
        let answer = function.invoke(&fixture).await;
        function.stop().await;
        assert!(answer.is_ok(), "{consumer} failed the batch: {answer:?}");

        let mine = |record: &servicehub_events::lambda_kafka::ConsumedRecord| {
            DeadLetter::parse(&record.message).is_some_and(|letter| letter.consumer == consumer)
        };
        let letters: Vec<DeadLetter> = unrouted
            .read_until(WAIT, |records| records.iter().any(mine))
            .iter()
            .filter(|record| mine(record))
            .filter_map(|record| DeadLetter::parse(&record.message))
            .collect();
        assert_eq!(
            letters.len(),
            1,
            "{consumer}: dead letters in {UNROUTED_DLQ}"
        );
        let letter = &letters[0];
        assert_eq!(letter.source_topic, "AWSKafkaTopic", "{consumer}");
        assert_eq!(
            (letter.source_partition, letter.source_offset),
            (Some(0), Some(0)),
            "{consumer}"
        );
        assert!(!letter.reason.is_empty(), "{consumer}: no reason");
        assert_eq!(letter.original.topic, "AWSKafkaTopic", "{consumer}");
        assert_eq!(
            letter.original.value.as_deref(),
            Some(&value[..]),
            "{consumer}: the value changed"
        );
    }
}
