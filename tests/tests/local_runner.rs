//! The foundation's slice driven through the `local-runner` binary: real HTTP into its API Gateway
//! emulation, a Lambda REQUEST authorizer, the real function binaries in their environments, the
//! outbox publishing to the real Kafka, and the runner's own self-managed Kafka trigger invoking
//! assign-manager. Template: tests/fixtures/runner-template.yaml.

use reqwest::StatusCode;
use serde_json::{Value, json};
use servicehub_tests::moto::{is_code_subject, mails_to};
use servicehub_tests::runner::LocalRunner;
use servicehub_tests::stack::Stack;
use servicehub_tests::{TestDatabase, insert_user, new_request};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TEMPLATE: &str = "tests/fixtures/runner-template.yaml";

async fn start_runner(db: &TestDatabase) -> LocalRunner {
    let group = format!("local-runner-e2e-{}", Uuid::new_v4().simple());
    LocalRunner::start(
        TEMPLATE,
        &[("ConsumerGroupId", &group)],
        &[("DATABASE_URL", &db.url)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_posted_over_http_reaches_manager_assigned_through_the_runners_kafka_trigger() {
    let db = TestDatabase::new().await;
    let region = format!("e2e-{}", Uuid::new_v4().simple());
    let manager = insert_user(&db.pool, "manager", &[&region]).await;
    let customer = Uuid::now_v7();
    let runner = start_runner(&db).await;
    let http = reqwest::Client::new();
    let customer_token = format!("Bearer {customer} customer {region}");

    let created = http
        .post(format!("{}/requests", runner.base_url))
        .header("authorization", &customer_token)
        .json(&new_request(&region))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/requests/{id}"));
    assert_eq!(body["status"], "new");

    // request.created goes to Kafka; the runner's trigger invokes assign-manager with it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let assigned = loop {
        let response = http
            .get(format!("{}{location}", runner.base_url))
            .header("authorization", &customer_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let view: Value = response.json().await.unwrap();
        if view["status"] == "manager_assigned" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "still {} after 60 s; runner output:\n{}",
            view["status"],
            runner.output().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(assigned["manager_id"], manager.to_string());

    // The runner logs the invocation once the function answered, just after its commit.
    let kafka = loop {
        let logged = runner
            .invocations()
            .into_iter()
            .find(|line| line["trigger"] == "kafka" && line["outcome"] == "ok");
        match logged {
            Some(line) => break line,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            None => panic!(
                "no Kafka invocation logged:\n{}",
                runner.output().join("\n")
            ),
        }
    };
    let invocations = runner.invocations();
    assert_eq!(kafka["function"], "AssignManagerFunction");
    assert!(kafka["lambda_request_id"].as_str().is_some());
    let post = invocations
        .iter()
        .find(|line| line["trigger"] == "http" && line["route"] == "POST /requests")
        .expect("a logged HTTP invocation");
    assert_eq!(post["status"], 201);
    assert_eq!(post["function"], "CreateRequestFunction");

    assert!(runner.stop().await.success(), "the runner exits cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runner_answers_401_without_a_token_404_for_unknown_routes_and_stops_on_sigterm() {
    let db = TestDatabase::new().await;
    let runner = start_runner(&db).await;
    let http = reqwest::Client::new();

    let anonymous = http
        .post(format!("{}/requests", runner.base_url))
        .json(&new_request("moscow"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap(),
        json!({"message": "Unauthorized"})
    );

    let denied = http
        .get(format!("{}/requests/{}", runner.base_url, Uuid::now_v7()))
        .header("authorization", "Bearer deny")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    let unknown = http
        .get(format!("{}/nowhere", runner.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let not_found = http
        .get(format!("{}/requests/{}", runner.base_url, Uuid::now_v7()))
        .header(
            "authorization",
            format!("Bearer {} customer moscow", Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        not_found.headers()["content-type"],
        "application/problem+json"
    );

    let status = runner.stop().await;
    assert!(status.success(), "exit status {status}");
}

/// The README's main flow on the real template.yaml: the first admin logs in, creates a
/// manager, a customer registers and logs in, files a request with its JWT, and the request
/// reaches manager_assigned through the template's own Kafka trigger.
#[tokio::test(flavor = "multi_thread")]
async fn the_real_template_runs_the_slice_behind_its_jwt_authorizer() {
    let db = TestDatabase::new().await;
    let stack = Stack::start(&db.url, &[]).await;
    seed_scenario_1(&stack).await;
    assert!(stack.runner.stop().await.success());
}

/// Seed scenario 1 on a secured cluster, as on MSK: every function's producer and every trigger's
/// poller reach Kafka only through the dev services' SASL_SSL listener, authenticating with
/// SCRAM-SHA-512 from the Secrets Manager secret the self-managed trigger names and verifying the
/// brokers with the private CA of KafkaServerRootCaSecretArn (KafkaProducerAuth auto).
#[tokio::test(flavor = "multi_thread")]
async fn seed_scenario_1_runs_with_every_producer_and_trigger_on_sasl_ssl() {
    let db = TestDatabase::new().await;
    let sasl_ssl = servicehub_tests::required_env("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS");
    let scram = servicehub_tests::required_env("KAFKA_SCRAM_SECRET_ARN");
    let ca = servicehub_tests::required_env("KAFKA_CA_SECRET_ARN");
    let stack = Stack::start_with_parameters(
        &db.url,
        // Where the runner's pollers and (through the template) the producers connect.
        &[("KAFKA_BOOTSTRAP_SERVERS", &sasl_ssl)],
        &[
            ("KafkaMode", "self-managed"),
            ("KafkaBootstrapServers", &sasl_ssl),
            ("SelfManagedKafkaSecretArn", &scram),
            ("SelfManagedKafkaAuthType", "SASL_SCRAM_512_AUTH"),
            ("KafkaServerRootCaSecretArn", &ca),
            ("KafkaProducerAuth", "auto"),
        ],
    )
    .await;
    seed_scenario_1(&stack).await;
    let output = stack.runner.output().join("\n");
    assert!(
        !output.contains("Authentication failed") && !output.contains("SSL handshake failed"),
        "{output}"
    );
    assert!(stack.runner.stop().await.success());
}

/// A customer files a request behind the JWT authorizer; it reaches manager_assigned through the
/// template's Kafka trigger, and the customer and the manager get their e-mails (moto's SES).
async fn seed_scenario_1(stack: &Stack) {
    let region = format!("runner-{}", stack.id);
    let admin = stack.admin().await;
    let manager = stack.create_manager(&admin, &[&region]).await;
    let (customer, customer_email) = stack.verified_customer_with_email().await;
    let http = &stack.http;

    let anonymous = http
        .post(stack.url("/requests"))
        .json(&new_request(&region))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let tampered = http
        .post(stack.url("/requests"))
        .header("authorization", format!("{customer}x"))
        .json(&new_request(&region))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::FORBIDDEN);

    let created = http
        .post(stack.url("/requests"))
        .header("authorization", &customer)
        .json(&new_request(&region))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let view = stack
        .wait_for_status(
            &customer,
            location.trim_start_matches("/requests/"),
            "manager_assigned",
        )
        .await;
    assert_eq!(view["manager_id"], manager["id"]);
    // Seed scenario 1's notifications, through the template's notify trigger and moto's SES:
    // the customer's confirmation and the manager's new-request notice.
    let manager_email = manager["email"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Besides the code that proved the customer's address.
        let to_customer: Vec<_> = mails_to(&customer_email)
            .await
            .into_iter()
            .filter(|(subject, _)| !is_code_subject(subject))
            .collect();
        let to_manager = mails_to(&manager_email).await;
        if !to_customer.is_empty() && !to_manager.is_empty() {
            assert_eq!(to_customer.len(), 1, "{to_customer:?}");
            assert_eq!(to_manager.len(), 1, "{to_manager:?}");
            // The mails name the request by the last 8 hex digits of its id (the random part
            // of a UUIDv7; the first ones are the creation time).
            let id = location.trim_start_matches("/requests/").replace('-', "");
            let short = id[id.len() - 8..].to_owned();
            assert!(
                to_customer[0].1.contains(&short),
                "the confirmation names the request: {to_customer:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mails after 60 s: customer {to_customer:?}, manager {to_manager:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// API Gateway runs an integration to its end whatever the client does, and Lambda keeps the
/// environment warm. A client that hangs up right after sending its request (as `wrk` does at the
/// end of a round) must find the request committed, its event published, and the next request
/// served by the same environment.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_hanging_up_mid_request_loses_no_write_and_kills_no_environment() {
    use servicehub_tests::procstat::children_named;
    use tokio::io::AsyncWriteExt as _;

    let db = TestDatabase::new().await;
    let region = format!("hangup-{}", Uuid::new_v4().simple());
    insert_user(&db.pool, "manager", &[&region]).await;
    let customer = Uuid::now_v7();
    let token = format!("Bearer {customer} customer {region}");
    let runner = start_runner(&db).await;
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!("{}/requests", runner.base_url))
            .header("authorization", &token)
            .json(&new_request(&region))
            .send()
    };
    assert_eq!(post().await.unwrap().status(), StatusCode::CREATED);
    let environments = children_named(runner.pid(), "create-request");
    assert!(!environments.is_empty(), "no create-request environment");

    let body = serde_json::to_vec(&new_request(&region)).unwrap();
    let address = runner.base_url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /requests HTTP/1.1\r\nhost: {address}\r\nauthorization: {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    drop(socket);

    // Both requests committed, their events published and consumed (manager assigned).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (assigned, unpublished): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM service_requests
                      WHERE customer_id = $1 AND status = 'manager_assigned'),
                    (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
        )
        .bind(customer)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if assigned == 2 && unpublished == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s: {assigned} of 2 requests assigned, {unpublished} events unpublished; \
             runner output:\n{}",
            runner.output().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        children_named(runner.pid(), "create-request"),
        environments,
        "the hang-up cost an environment"
    );
    assert_eq!(post().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(
        children_named(runner.pid(), "create-request"),
        environments,
        "the next request did not reuse the warm environment"
    );
    assert!(runner.stop().await.success());
}
