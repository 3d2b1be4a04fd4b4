//! Producers on a secured cluster, as on Amazon MSK: the dev services' SASL_SSL listener
//! (SCRAM-SHA-512 over TLS, a local CA), bootstrap discovery with GetBootstrapBrokers against a
//! fake of the MSK control plane in its real JSON shape (`AWS_ENDPOINT_URL_KAFKA`), and refusals
//! that name the setting to fix. Each case runs `servicehub-admin kafka-check`, which connects
//! exactly as a function's init does (`EventProducer::connect`). Seed scenario 1 with every
//! producer and trigger on SASL_SSL is in local_runner.rs.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use servicehub_tests::stack::{create_secret, delete_secret};
use servicehub_tests::{required_env, run_admin};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// A fake of the MSK control plane's GetBootstrapBrokers (`GET /v1/clusters/{arn}/bootstrap-brokers`)
/// that answers `listeners` for `cluster` and records each call's decoded path and whether it was
/// SigV4-signed.
struct FakeMsk {
    base_url: String,
    calls: Arc<Mutex<Vec<(String, bool)>>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeMsk {
    async fn start(cluster: &str, listeners: Value) -> FakeMsk {
        let calls: Arc<Mutex<Vec<(String, bool)>>> = Default::default();
        let expected = format!("/v1/clusters/{cluster}/bootstrap-brokers");
        let recorded = calls.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let (recorded, expected, listeners) =
                (recorded.clone(), expected.clone(), listeners.clone());
            async move {
                let path = percent_decode(uri.path());
                let signed = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 Credential="));
                recorded.lock().unwrap().push((path.clone(), signed));
                if path == expected {
                    (StatusCode::OK, axum::Json(listeners)).into_response()
                } else {
                    // What the service answers for a cluster it does not have.
                    (
                        StatusCode::NOT_FOUND,
                        [("x-amzn-errortype", "NotFoundException")],
                        axum::Json(json!({"message": "The specified cluster was not found."})),
                    )
                        .into_response()
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeMsk {
            base_url,
            calls,
            server,
        }
    }

    fn calls(&self) -> Vec<(String, bool)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Drop for FakeMsk {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn cluster_arn() -> String {
    format!(
        "arn:aws:kafka:eu-central-1:000000000000:cluster/servicehub-tests/{}-1",
        Uuid::new_v4()
    )
}

/// Runs `servicehub-admin kafka-check` with a function's Kafka settings `env` (and nothing of the
/// dev services' `KAFKA_BOOTSTRAP_SERVERS` unless given); its exit status and stdout + stderr.
fn kafka_check(env: &[(&str, &str)]) -> (bool, String) {
    let mut env = env.to_vec();
    env.extend([("RUST_LOG", "error"), ("RUST_BACKTRACE", "0")]);
    run_admin(
        &["kafka-check"],
        &env,
        // The dev services' env file names their SCRAM and CA secrets with the variables the
        // functions read: each case gives exactly the settings it means.
        &[
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_CA_SECRET_ARN",
            "KAFKA_AUTH_SECRET_ARN",
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_producer_finds_the_msk_listener_of_its_auth_mode_and_authenticates_over_sasl_ssl() {
    let sasl_ssl = required_env("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS");
    let (scram, ca) = (
        required_env("KAFKA_SCRAM_SECRET_ARN"),
        required_env("KAFKA_CA_SECRET_ARN"),
    );
    let cluster = cluster_arn();
    // As MSK answers for a cluster with plaintext and SASL/SCRAM listeners and no IAM.
    let msk = FakeMsk::start(
        &cluster,
        json!({
            "bootstrapBrokerString": required_env("KAFKA_BOOTSTRAP_SERVERS"),
            "bootstrapBrokerStringSaslScram": sasl_ssl,
        }),
    )
    .await;
    let settings = |auth| {
        [
            ("MSK_CLUSTER_ARN", cluster.as_str()),
            ("AWS_ENDPOINT_URL_KAFKA", msk.base_url.as_str()),
            ("KAFKA_AUTH", auth),
            ("KAFKA_AUTH_SECRET_ARN", scram.as_str()),
            ("KAFKA_CA_SECRET_ARN", ca.as_str()),
        ]
    };

    let (ok, output) = kafka_check(&settings("scram"));
    assert!(ok, "{output}");
    assert!(
        output.contains(&format!(
            "connected to {sasl_ssl} with KAFKA_AUTH=scram (bootstrap string of {cluster})"
        )),
        "{output}"
    );
    let calls = msk.calls();
    assert_eq!(
        calls,
        [(format!("/v1/clusters/{cluster}/bootstrap-brokers"), true)],
        "one signed GetBootstrapBrokers per execution environment"
    );

    // The cluster has no IAM listener: the error says which field is empty and what to do.
    let (ok, output) = kafka_check(&settings("iam"));
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "MSK cluster {cluster} has no listener for KAFKA_AUTH=iam (BootstrapBrokerStringSaslIam is empty)"
        )),
        "{output}"
    );

    // A cluster the control plane does not know.
    let unknown = cluster_arn();
    let (ok, output) = kafka_check(&[
        ("MSK_CLUSTER_ARN", &unknown),
        ("AWS_ENDPOINT_URL_KAFKA", &msk.base_url),
        ("KAFKA_AUTH", "tls"),
    ]);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "GetBootstrapBrokers for MSK_CLUSTER_ARN {unknown} failed"
        )) && output.contains("NotFoundException"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_or_an_unknown_ca_fail_the_init_naming_the_setting_to_fix() {
    let sasl_ssl = required_env("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS");
    let ca = required_env("KAFKA_CA_SECRET_ARN");
    let wrong = format!("servicehub-tests/kafka-scram-wrong-{}", Uuid::new_v4());
    create_secret(
        &wrong,
        &json!({"username": "servicehub", "password": "not-the-password"}).to_string(),
    )
    .await;
    let (ok, output) = kafka_check(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &sasl_ssl),
        ("KAFKA_AUTH", "scram"),
        ("KAFKA_AUTH_SECRET_ARN", &wrong),
        ("KAFKA_CA_SECRET_ARN", &ca),
    ]);
    assert!(!ok, "{output}");
    assert!(
        output.contains(
            "the Kafka cluster refused the producer: check KAFKA_AUTH_SECRET_ARN (the SCRAM username and password)"
        ) && output.contains("invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{output}"
    );

    // The right credentials, but the brokers' certificate checked against the public trust
    // store instead of the local CA: a TLS refusal, named as such.
    let (ok, output) = kafka_check(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &sasl_ssl),
        ("KAFKA_AUTH", "scram"),
        (
            "KAFKA_AUTH_SECRET_ARN",
            &required_env("KAFKA_SCRAM_SECRET_ARN"),
        ),
    ]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("check KAFKA_CA_SECRET_ARN (the brokers' certificate did not verify)"),
        "{output}"
    );

    // A secret without the fields its mode needs.
    let shapeless = format!("servicehub-tests/kafka-scram-shapeless-{}", Uuid::new_v4());
    create_secret(&shapeless, "{\"user\": \"servicehub\"}").await;
    let (ok, output) = kafka_check(&[
        ("KAFKA_BOOTSTRAP_SERVERS", &sasl_ssl),
        ("KAFKA_AUTH", "scram"),
        ("KAFKA_AUTH_SECRET_ARN", &shapeless),
    ]);
    assert!(!ok, "{output}");
    assert!(
        output.contains(&format!(
            "reading KAFKA_AUTH_SECRET_ARN {shapeless} failed: its JSON has no string field \"username\""
        )),
        "{output}"
    );
    for secret in [wrong, shapeless] {
        delete_secret(&secret).await;
    }
}

/// The operator's commands reach a secured cluster the way the functions do (`KAFKA_AUTH` and
/// its secrets from the environment): topics, dead letters and lag over SASL_SSL.
#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_authenticate_as_the_functions_do() {
    let sasl_ssl = required_env("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS");
    let scram = required_env("KAFKA_SCRAM_SECRET_ARN");
    let run = |args: &[&str]| {
        let (ok, text) = run_admin(
            args,
            &[
                ("KAFKA_BOOTSTRAP_SERVERS", &sasl_ssl),
                ("KAFKA_AUTH", "scram"),
                ("KAFKA_AUTH_SECRET_ARN", &scram),
                ("RUST_BACKTRACE", "0"),
            ],
            &[],
        );
        assert!(ok, "{args:?}: {text}");
        text
    };
    let topics = run(&["topics", "create", "--bootstrap-servers", &sasl_ssl]);
    assert!(topics.contains("exists  request-events\n"), "{topics}");
    let letters = run(&[
        "dlq",
        "list",
        "--topic",
        "request-events.dlq",
        "--limit",
        "1",
    ]);
    assert!(letters.contains("dead letter"), "{letters}");
    let lag = run(&["lag"]);
    assert!(
        lag.contains("mappings,") && lag.contains("total lag"),
        "{lag}"
    );
}
