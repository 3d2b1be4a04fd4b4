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
        Self::start_with_parameters(database_url, extra_env, &[]).await
    }

    /// [`Self::start`] with more template parameters (`--parameter NAME=VALUE`), e.g. the
    /// Telegram Bot API's base URL or the ClickHouse database.
    pub async fn start_with_parameters(
        database_url: &str,
        extra_env: &[(&str, &str)],
        extra_parameters: &[(&str, &str)],
    ) -> Stack {
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
        ]
        .into_iter()
        .chain(
            extra_parameters
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        let template = local_runner::template::load(&local_runner::template::TemplateInput {
            path: crate::repo_root().join("template.yaml"),
            parameters: parameters.collect(),
            ..Default::default()
        })
        .expect("template.yaml loads");
        for mapping in &template.kafka_mappings {
            for topic in &mapping.topics {
                start_group_at_the_end(&mapping.consumer_group_id, topic).await;
            }
        }
        let mut env = vec![("DATABASE_URL", database_url)];
        env.extend_from_slice(extra_env);
        let mut runner_parameters = vec![
            // The scenarios read a step's events from Kafka right after its answer. On a loaded
            // 2-core machine the default 200 ms budget can leave them to the relay (a minute
            // away in a fresh stack), so these stacks wait as long as librdkafka would. The
            // budget itself is tested in outbox.rs and by the chaos suite, which sets it back.
            ("OutboxPublishBudgetMs", "10000"),
            ("JwtSecretName", jwt_secret.as_str()),
            ("BootstrapAdminEmail", &admin_email),
            ("BootstrapAdminPasswordSecretName", &admin_password_secret),
            ("KafkaConsumerGroupPrefix", &group_prefix),
        ];
        runner_parameters.extend_from_slice(extra_parameters);
        let runner = LocalRunner::start_with_parameters_file(
            "template.yaml",
            "tools/local-parameters.json",
            &runner_parameters,
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
        self.create_user(admin, "manager", "Менеджер Пётр", regions)
            .await
    }

    /// An admin creates a user of `role` (manager, security or admin) with `regions`, whose
    /// password is [`password_of`] the role; returns the user.
    pub async fn create_user(
        &self,
        admin: &str,
        role: &str,
        display_name: &str,
        regions: &[&str],
    ) -> Value {
        let mut body = json!({
            "email": format!("{role}-{}@example.test", Uuid::new_v4().simple()),
            "password": password_of(role),
            "display_name": display_name,
            "role": role,
        });
        if !regions.is_empty() {
            body["regions"] = json!(regions);
        }
        let (status, user) = self.post(admin, "/users", &body).await;
        assert_eq!(status, 201, "POST /users: {user}");
        user
    }

    /// [`Self::create_user`], logged in: the user and the `Authorization` header value.
    pub async fn staff(
        &self,
        admin: &str,
        role: &str,
        display_name: &str,
        regions: &[&str],
    ) -> (Value, String) {
        let user = self.create_user(admin, role, display_name, regions).await;
        let token = self
            .login(user["email"].as_str().expect("email"), &password_of(role))
            .await;
        (user, token)
    }

    /// One logged-in account of every role (the `Authorization` header values): the bootstrap
    /// admin, a manager and a contractor of a region of this stack's own, a security officer and a
    /// customer.
    pub async fn callers(&self) -> Vec<(&'static str, String)> {
        let admin = self.admin().await;
        let region = format!("callers-{}", self.id);
        let (_, manager) = self.staff(&admin, "manager", "Менеджер", &[&region]).await;
        let (_, security) = self.staff(&admin, "security", "Офицер", &[]).await;
        let customer = self.customer().await;
        let (_, contractor) = self
            .register(json!({
                "role": "contractor",
                "display_name": "Мастер",
                "regions": [region],
                "categories": ["plumbing"],
            }))
            .await;
        vec![
            ("customer", customer),
            ("contractor", contractor),
            ("manager", manager),
            ("security", security),
            ("admin", admin),
        ]
    }

    /// A customer registers and logs in; the `Authorization` header value.
    pub async fn customer(&self) -> String {
        self.customer_with_email().await.0
    }

    /// [`Self::customer`], and the customer's e-mail address.
    pub async fn customer_with_email(&self) -> (String, String) {
        let (user, token) = self
            .register(json!({"role": "customer", "display_name": "Анна Иванова"}))
            .await;
        (token, user["email"].as_str().expect("email").to_owned())
    }

    /// [`Self::verified_customer_with_email`]'s `Authorization` header value.
    pub async fn verified_customer(&self) -> String {
        self.verified_customer_with_email().await.0
    }

    /// A customer registers, proves their e-mail with the code it received, and logs in: the
    /// `Authorization` header value and the e-mail address.
    pub async fn verified_customer_with_email(&self) -> (String, String) {
        let (token, email) = self.customer_with_email().await;
        self.prove_email(&token, &email).await;
        (token, email)
    }

    /// [`Self::register`], then the e-mail proved with the code notify sent to it.
    pub async fn register_verified(&self, body: Value) -> (Value, String) {
        let (user, token) = self.register(body).await;
        self.prove_email(&token, user["email"].as_str().expect("email"))
            .await;
        (user, token)
    }

    /// Waits (at most 60 s) for the verification code notify mails to `email` (moto's SES) and
    /// types it back as the holder of `token`.
    pub async fn prove_email(&self, token: &str, email: &str) {
        let code = crate::eventually(
            &format!("a verification code mailed to {email}"),
            Duration::from_secs(60),
            || async {
                crate::moto::codes_mailed_to(email)
                    .await
                    .pop()
                    .ok_or_else(|| "no code yet".to_owned())
            },
        )
        .await;
        self.prove(token, "email", &code).await;
    }

    /// `POST /me/contact-verifications` with `code` for `channel`; asserts 200.
    pub async fn prove(&self, token: &str, channel: &str, code: &str) -> Value {
        let (status, user) = self
            .post(
                token,
                "/me/contact-verifications",
                &json!({"channel": channel, "code": code}),
            )
            .await;
        assert_eq!(status, 200, "proving the {channel} contact: {user}");
        assert!(
            user["verified_channels"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == channel)),
            "{user}"
        );
        user
    }

    /// Someone registers with `body` (POST /auth/register: at least the role and display name;
    /// a fresh e-mail address and [`password_of`] the role unless given) and logs in: the user
    /// and the `Authorization` header value.
    pub async fn register(&self, mut body: Value) -> (Value, String) {
        let role = body["role"].as_str().expect("a role").to_owned();
        if body.get("email").is_none() {
            body["email"] = json!(format!("{role}-{}@example.test", Uuid::new_v4().simple()));
        }
        if body.get("password").is_none() {
            body["password"] = json!(password_of(&role));
        }
        let response = self
            .http
            .post(self.url("/auth/register"))
            .json(&body)
            .send()
            .await
            .expect("POST /auth/register");
        assert_eq!(response.status(), 201);
        let user: Value = response.json().await.expect("a user");
        let token = self
            .login(
                body["email"].as_str().expect("email"),
                body["password"].as_str().expect("password"),
            )
            .await;
        (user, token)
    }

    /// `POST path` with a JSON body as the holder of `token`: the status and the JSON answer.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let request = self.http.post(self.url(path)).json(body);
        self.call(request, token, path).await
    }

    /// `GET path` as the holder of `token`: the status and the JSON answer.
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call(self.http.get(self.url(path)), token, path).await
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        token: &str,
        path: &str,
    ) -> (u16, Value) {
        let response = request
            .header("authorization", token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Polls `GET /requests/{id}` as the holder of `token` until the request is `status` (at
    /// most 60 s); its view then.
    pub async fn wait_for_status(&self, token: &str, id: &str, status: &str) -> Value {
        let path = format!("/requests/{id}");
        crate::eventually(
            &format!("request {id} {status}"),
            Duration::from_secs(60),
            || async {
                let (code, view) = self.get(token, &path).await;
                if code == 200 && view["status"] == status {
                    Ok(view)
                } else {
                    Err(format!("{code} {view}"))
                }
            },
        )
        .await
    }
}

/// The password [`Stack`] gives users of `role`.
pub fn password_of(role: &str) -> String {
    format!("the {role}'s password")
}

pub async fn create_secret(name: &str, value: &str) {
    secrets_manager()
        .await
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("creating a secret in moto");
}

/// Rotates a secret the way `aws secretsmanager put-secret-value` does: the new value becomes
/// `AWSCURRENT`, the one it replaces `AWSPREVIOUS`.
pub async fn put_secret_value(name: &str, value: &str) {
    secrets_manager()
        .await
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("putting a secret value in moto");
}

/// moto's Secrets Manager (`AWS_ENDPOINT_URL`).
async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    required_env("AWS_ENDPOINT_URL");
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// Deletes a secret a test created (moto keeps every secret for the life of its process).
pub async fn delete_secret(name: &str) {
    secrets_manager()
        .await
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("deleting a test secret");
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
