//! The real template.yaml run by the local runner against a test database, with a JWT key, a
//! bootstrap admin and Kafka consumer groups of its own, and an HTTP client that logs in.

use crate::required_env;
use crate::runner::LocalRunner;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

pub const ADMIN_PASSWORD: &str = "the first admin's password";

pub struct Stack {
    pub runner: LocalRunner,
    pub http: reqwest::Client,
    pub admin_email: String,
    /// Unique per stack, for names that must not collide across runs.
    pub id: String,
}

impl Stack {
    /// Starts the runner on template.yaml with tools/local-parameters.json, `database_url`, a
    /// fresh JWT key and bootstrap admin password in moto, and consumer groups that start at
    /// the end of the (shared) dev topics.
    pub async fn start(database_url: &str, extra_env: &[(&str, &str)]) -> Stack {
        let id = Uuid::new_v4().simple().to_string();
        let jwt_secret = format!("servicehub-tests/runner-jwt-{id}");
        create_secret(&jwt_secret, &format!("{id}{id}")).await;
        let admin_password_secret = format!("servicehub-tests/runner-admin-{id}");
        create_secret(&admin_password_secret, ADMIN_PASSWORD).await;
        let admin_email = format!("admin-{id}@example.test");
        let group_prefix = format!("runner-{id}");
        // Every trigger of the template starts at the end of its topics.
        let parameters = [
            ("KafkaConsumerGroupPrefix".to_owned(), group_prefix.clone()),
            (
                "KafkaBootstrapServers".to_owned(),
                required_env("KAFKA_BOOTSTRAP_SERVERS"),
            ),
            (
                "MskClusterArn".to_owned(),
                "arn:aws:kafka:eu-central-1:000000000000:cluster/local/x".to_owned(),
            ),
        ];
        let template = local_runner::template::load(&local_runner::template::TemplateInput {
            path: crate::repo_root().join("template.yaml"),
            parameters: parameters.into_iter().collect(),
            environment_overrides: Default::default(),
        })
        .expect("template.yaml loads");
        for mapping in &template.kafka_mappings {
            for topic in &mapping.topics {
                start_group_at_the_end(&mapping.consumer_group_id, topic).await;
            }
        }
        let mut env = vec![("DATABASE_URL", database_url)];
        env.extend_from_slice(extra_env);
        let runner = LocalRunner::start_with_parameters_file(
            "template.yaml",
            "tools/local-parameters.json",
            &[
                ("JwtSecretName", &jwt_secret),
                ("BootstrapAdminEmail", &admin_email),
                ("BootstrapAdminPasswordSecretName", &admin_password_secret),
                ("KafkaConsumerGroupPrefix", &group_prefix),
            ],
            &env,
        )
        .await;
        Stack {
            runner,
            http: reqwest::Client::new(),
            admin_email,
            id,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.runner.base_url)
    }

    /// Logs in; the `Authorization` header value.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .http
            .post(self.url("/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("POST /auth/login");
        assert_eq!(response.status(), 200, "logging in {email}");
        let body: Value = response.json().await.expect("a token response");
        format!(
            "Bearer {}",
            body["access_token"].as_str().expect("access_token")
        )
    }

    pub async fn admin(&self) -> String {
        self.login(&self.admin_email, ADMIN_PASSWORD).await
    }

    /// An admin creates a manager of `regions`; returns the manager's id.
    pub async fn create_manager(&self, admin: &str, regions: &[&str]) -> Value {
        let response = self
            .http
            .post(self.url("/users"))
            .header("authorization", admin)
            .json(&json!({
                "email": format!("manager-{}@example.test", Uuid::new_v4().simple()),
                "password": "the manager's password",
                "display_name": "Менеджер Пётр",
                "role": "manager",
                "regions": regions,
            }))
            .send()
            .await
            .expect("POST /users");
        assert_eq!(response.status(), 201);
        response.json().await.expect("a user")
    }

    /// A customer registers and logs in; the `Authorization` header value.
    pub async fn customer(&self) -> String {
        self.customer_with_email().await.0
    }

    /// [`Self::customer`], and the customer's e-mail address.
    pub async fn customer_with_email(&self) -> (String, String) {
        let email = format!("customer-{}@example.test", Uuid::new_v4().simple());
        let response = self
            .http
            .post(self.url("/auth/register"))
            .json(&json!({
                "email": email,
                "password": "the customer's password",
                "display_name": "Анна Иванова",
                "role": "customer",
            }))
            .send()
            .await
            .expect("POST /auth/register");
        assert_eq!(response.status(), 201);
        let token = self.login(&email, "the customer's password").await;
        (token, email)
    }
}

pub async fn create_secret(name: &str, value: &str) {
    required_env("AWS_ENDPOINT_URL");
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("creating a secret in moto");
}

/// Starts consumer group `group` at the end of `topic`: the template's triggers read from
/// TRIM_HORIZON, and the shared dev topic holds every other test's events.
pub async fn start_group_at_the_end(group: &str, topic: &str) {
    let (group, topic) = (group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", required_env("KAFKA_BOOTSTRAP_SERVERS"))
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("a consumer");
        let timeout = Duration::from_secs(10);
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .expect("topic metadata");
        let mut offsets = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition.id(), timeout)
                .expect("watermarks");
            offsets
                .add_partition_offset(&topic, partition.id(), Offset::Offset(high))
                .expect("an offset");
        }
        consumer
            .commit(&offsets, CommitMode::Sync)
            .expect("committing the starting offsets");
    })
    .await
    .expect("the offsets task");
}
