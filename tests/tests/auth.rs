//! Auth end to end on real PostgreSQL, real Kafka, real moto (Secrets Manager) and the real function
//! binaries: register, login with its lock-out, refresh rotation and reuse detection, logout, /me,
//! admin-only user creation, the bootstrap admin, and the Lambda authorizer's decisions.
//!
//! Every test has its own database and its own JWT signing key, stored in moto under a unique name.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use local_lambda::{FunctionSpec, LambdaEnvironment};
use serde_json::{Value, json};
use servicehub_events::{DomainEvent, Envelope};
use servicehub_tests::apigw::{HttpResponse, claims, invoke, request};
use servicehub_tests::kafka::KafkaProbe;
use servicehub_tests::stack::create_secret;
use servicehub_tests::{TestDatabase, function_spec, start_function};
use sqlx::Row;
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "correct horse battery staple";

/// A JWT signing key of this test's own in moto, and the environment that points functions at it.
struct Keys {
    secret_name: String,
    key: Vec<u8>,
}

impl Keys {
    async fn new() -> Keys {
        Keys::with_key(&format!(
            "{}{}",
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        ))
        .await
    }

    async fn with_key(key: &str) -> Keys {
        let secret_name = format!("servicehub-tests/jwt-{}", Uuid::new_v4());
        let key = key.to_owned();
        create_secret(&secret_name, &key).await;
        Keys {
            secret_name,
            key: key.into_bytes(),
        }
    }

    /// What an auth function needs besides the database and Kafka.
    fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_owned(), v)))
        .collect();
        env.push(("JWT_SECRET_NAME".into(), self.secret_name.clone()));
        env
    }

    async fn start(
        &self,
        function: &str,
        db: &TestDatabase,
        extra: &[(&str, &str)],
    ) -> LambdaEnvironment {
        LambdaEnvironment::start(self.spec(function, db, extra))
            .await
            .expect("starting the function")
    }

    /// How [`Keys::start`] starts `function`: for a pool of its environments.
    fn spec(&self, function: &str, db: &TestDatabase, extra: &[(&str, &str)]) -> FunctionSpec {
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        function_spec(function, &db.url, &env)
    }

    /// A token signed with this test's key, with any claims.
    fn sign(&self, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(&self.key),
        )
        .unwrap()
    }
}

fn post(route: &str, body: &Value, caller: Option<Value>) -> Value {
    request(
        "POST",
        &format!("POST {route}"),
        route,
        None,
        Some("application/json"),
        Some(&body.to_string()),
        caller,
    )
}

fn get_me(caller: Option<Value>) -> Value {
    request("GET", "GET /me", "/me", None, None, None, caller)
}

/// The event API Gateway sends the authorizer for `GET /me` with this Authorization header.
fn authorizer_event(authorization: Option<&str>) -> Value {
    let mut event = request("GET", "GET /me", "/me", None, None, None, None);
    let object = event.as_object_mut().unwrap();
    object.remove("isBase64Encoded");
    object.insert("type".into(), json!("REQUEST"));
    object.insert(
        "routeArn".into(),
        json!("arn:aws:execute-api:eu-central-1:123456789012:local/$default/GET/me"),
    );
    if let Some(value) = authorization {
        event["headers"]["authorization"] = json!(value);
        event["identitySource"] = json!([value]);
    }
    event
}

fn customer_body(email: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "display_name": "Анна Иванова",
        "role": "customer",
    })
}

fn contractor_body(email: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "display_name": "Мастер Иван",
        "phone": "+7 (916) 123-45-67",
        "role": "contractor",
        "regions": ["Москва", "Тверь"],
        "categories": ["appliance-repair", "plumbing"],
        "notifications": {"channels": ["telegram", "email"], "telegram_chat_id": 123456789, "language": "en"}
    })
}

fn email() -> String {
    format!("user-{}@Example.test", Uuid::new_v4().simple())
}

async fn register(register_fn: &LambdaEnvironment, body: &Value) -> HttpResponse {
    invoke(register_fn, &post("/auth/register", body, None)).await
}

async fn login(login_fn: &LambdaEnvironment, email: &str, password: &str) -> HttpResponse {
    invoke(
        login_fn,
        &post(
            "/auth/login",
            &json!({"email": email, "password": password}),
            None,
        ),
    )
    .await
}

async fn refresh(refresh_fn: &LambdaEnvironment, token: &str) -> HttpResponse {
    invoke(
        refresh_fn,
        &post("/auth/refresh", &json!({"refresh_token": token}), None),
    )
    .await
}

/// A bootstrap admin's e-mail and the name of a fresh secret holding the password
/// `the very first admin password`.
async fn bootstrap_admin() -> (String, String) {
    let password_secret = format!("servicehub-tests/bootstrap-{}", Uuid::new_v4());
    create_secret(&password_secret, "the very first admin password").await;
    (email(), password_secret)
}

fn user_actions(
    probe: &KafkaProbe,
    key: &str,
    count: usize,
) -> Vec<servicehub_events::catalog::UserAction> {
    probe
        .read_key(key, count, WAIT)
        .iter()
        .map(|r| Envelope::from_kafka(&r.message).expect("a valid envelope"))
        .filter_map(|e| match e.data {
            DomainEvent::UserAction(action) => Some(action),
            _ => None,
        })
        .collect()
}

/// Asks the authorizer about `token` and returns its answer.
async fn authorize(authorizer: &LambdaEnvironment, authorization: Option<&str>) -> Value {
    authorizer
        .invoke(&authorizer_event(authorization))
        .await
        .expect("the authorizer answers")
}

#[tokio::test]
async fn registration_creates_accounts_with_hashed_passwords_and_audits_them() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let audit = KafkaProbe::new("audit-events");

    let customer_email = email();
    let response = register(&register_fn, &customer_body(&customer_email)).await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    let customer_id = response.body["id"].as_str().unwrap().to_owned();
    assert_eq!(response.body["email"], customer_email.to_lowercase());
    assert_eq!(response.body["role"], "customer");
    assert_eq!(
        response.body["notifications"],
        json!({"channels": ["email"], "telegram_chat_id": null, "language": "ru"})
    );
    assert!(response.body.get("password_hash").is_none());
    assert!(response.body.get("verification_status").is_none());

    let contractor = register(&register_fn, &contractor_body(&email())).await;
    assert_eq!(contractor.status, 201, "{:?}", contractor.body);
    assert_eq!(contractor.body["regions"], json!(["Москва", "Тверь"]));
    assert_eq!(
        contractor.body["categories"],
        json!(["appliance-repair", "plumbing"])
    );
    assert_eq!(contractor.body["phone"], "+79161234567");
    assert_eq!(contractor.body["verification_status"], "pending");
    assert_eq!(
        contractor.body["notifications"]["telegram_chat_id"],
        123456789
    );

    let row = sqlx::query("SELECT password_hash, role, language FROM users WHERE id = $1")
        .bind(Uuid::parse_str(&customer_id).unwrap())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let hash: String = row.get("password_hash");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains(PASSWORD));

    let actions = user_actions(&audit, &customer_id, 1);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].action, "user.register");
    assert_eq!(
        actions[0].actor.user_id.map(|u| u.to_string()),
        Some(customer_id.clone())
    );
    assert_eq!(actions[0].details["role"], "customer");
}

#[tokio::test]
async fn registration_refuses_bad_input_with_field_errors_and_duplicate_emails_with_409() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;

    let bad = json!({
        "email": "not-an-email",
        "password": "short",
        "display_name": "",
        "role": "admin",
        "colour": "red"
    });
    let response = register(&register_fn, &bad).await;
    assert_eq!(response.status, 422, "{:?}", response.body);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        response.field_codes(),
        [
            ("email", "invalid_format"),
            ("password", "too_short"),
            ("display_name", "empty"),
            ("role", "invalid_value"),
            ("colour", "unknown_field"),
        ]
        .map(|(f, c)| (f.to_owned(), c.to_owned()))
    );

    let mut contractor = contractor_body(&email());
    contractor.as_object_mut().unwrap().remove("regions");
    let response = register(&register_fn, &contractor).await;
    assert_eq!(response.status, 422);
    assert_eq!(
        response.field_codes(),
        [("regions".to_owned(), "required".to_owned())]
    );

    let malformed = request(
        "POST",
        "POST /auth/register",
        "/auth/register",
        None,
        Some("application/json"),
        Some("{\"email\": "),
        None,
    );
    assert_eq!(invoke(&register_fn, &malformed).await.status, 400);

    let address = email();
    assert_eq!(
        register(&register_fn, &customer_body(&address))
            .await
            .status,
        201
    );
    let again = register(&register_fn, &customer_body(&address.to_uppercase())).await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(address.to_lowercase())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn login_issues_tokens_the_authorizer_accepts_and_wrong_credentials_get_one_answer() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let authorizer = keys.start("authorizer", &db, &[]).await;
    let me_fn = keys.start("get-me", &db, &[]).await;

    let address = email();
    let registered = register(&register_fn, &contractor_body(&address)).await;
    assert_eq!(registered.status, 201);
    let user_id = registered.body["id"].as_str().unwrap().to_owned();

    // Any case of the e-mail logs in.
    let response = login(&login_fn, &address.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["token_type"], "Bearer");
    assert_eq!(response.body["expires_in"], 900);
    assert_eq!(response.body["user"]["id"], user_id);
    let access = response.body["access_token"].as_str().unwrap();
    let refresh_token = response.body["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_token.len(), 43);

    // The access token's claims.
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["sub"], user_id);
    assert_eq!(payload["role"], "contractor");
    assert_eq!(payload["regions"], json!(["Москва", "Тверь"]));
    assert_eq!(payload["iss"], "servicehub");
    assert_eq!(payload["aud"], "servicehub-api");
    assert_eq!(
        payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(),
        900
    );

    // The authorizer accepts it; its context is what GET /me reads the caller from.
    let answer = authorize(&authorizer, Some(&format!("Bearer {access}"))).await;
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    assert_eq!(
        answer["context"],
        json!({"sub": user_id, "role": "contractor", "regions": ["Москва", "Тверь"]})
    );
    let me = invoke(&me_fn, &get_me(Some(answer["context"].clone()))).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], user_id);
    assert_eq!(me.body["email"], address.to_lowercase());
    assert_eq!(me.body["verification_status"], "pending");

    // Only the SHA-256 of the refresh token is stored.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens WHERE user_id = $1")
            .bind(Uuid::parse_str(&user_id).unwrap())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, refresh_token.as_bytes());

    // Wrong password and unknown e-mail: the same 401, nothing tells them apart.
    let wrong = login(&login_fn, &address, "not the password at all").await;
    let unknown = login(&login_fn, &email(), PASSWORD).await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));

    // Bad input is 422/400, not 401.
    let missing = invoke(
        &login_fn,
        &post("/auth/login", &json!({"email": address}), None),
    )
    .await;
    assert_eq!(missing.status, 422);
    assert_eq!(
        missing.field_codes(),
        [("password".to_owned(), "required".to_owned())]
    );
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_for_everyone_registered_or_not() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let audit = KafkaProbe::new("audit-events");

    let address = email();
    let registered = register(&register_fn, &customer_body(&address)).await;
    let user_id = registered.body["id"].as_str().unwrap().to_owned();
    let stranger = email();
    for attempt in 1..=5 {
        let response = login(&login_fn, &address, &format!("wrong password {attempt}")).await;
        assert_eq!(
            response.status, 401,
            "attempt {attempt}: {:?}",
            response.body
        );
        let response = login(&login_fn, &stranger, &format!("wrong password {attempt}")).await;
        assert_eq!(
            response.status, 401,
            "attempt {attempt}: {:?}",
            response.body
        );
    }
    // Locked: even the right password is refused, with Retry-After; the unknown e-mail alike.
    let locked = login(&login_fn, &address, PASSWORD).await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    assert_eq!(
        locked.header("content-type"),
        Some("application/problem+json")
    );
    let retry_after: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(locked.body["status"], 429);
    let stranger_locked = login(&login_fn, &stranger, PASSWORD).await;
    assert_eq!(stranger_locked.status, 429);

    // Each failure of the real account is audited as denied (after its registration).
    let actions = user_actions(&audit, &user_id, 6);
    let logins: Vec<_> = actions
        .iter()
        .filter(|a| a.action == "auth.login")
        .collect();
    assert_eq!(logins.len(), 5, "{actions:?}");
    assert!(logins.iter().all(|a| a.outcome.as_str() == "denied"));

    // When the lock is over, the right password works and the count starts afresh.
    sqlx::query("UPDATE login_throttle SET locked_until = now() - interval '1 second'")
        .execute(&db.pool)
        .await
        .unwrap();
    let response = login(&login_fn, &address, PASSWORD).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM login_throttle WHERE email = $1")
        .bind(address.to_lowercase())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "a successful login clears the failures");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_whole_family() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let refresh_fn = keys.start("auth-refresh", &db, &[]).await;
    let authorizer = keys.start("authorizer", &db, &[]).await;

    let address = email();
    register(&register_fn, &customer_body(&address)).await;
    let first = login(&login_fn, &address, PASSWORD).await;
    let other_session = login(&login_fn, &address, PASSWORD).await;
    let r1 = first.body["refresh_token"].as_str().unwrap().to_owned();

    let second = refresh(&refresh_fn, &r1).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let access = second.body["access_token"].as_str().unwrap();
    assert_eq!(
        authorize(&authorizer, Some(&format!("Bearer {access}"))).await["isAuthorized"],
        true
    );
    let third = refresh(&refresh_fn, &r2).await;
    assert_eq!(third.status, 200);
    let r3 = third.body["refresh_token"].as_str().unwrap().to_owned();

    // r1 was rotated: presenting it again revokes r1, r2 and r3 alike.
    let reuse = refresh(&refresh_fn, &r1).await;
    assert_eq!(reuse.status, 401, "{:?}", reuse.body);
    assert_eq!(refresh(&refresh_fn, &r3).await.status, 401);
    let reasons: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT revoked_reason FROM refresh_tokens WHERE family_id =
            (SELECT family_id FROM refresh_tokens WHERE token_hash = sha256($1::bytea)) ORDER BY created_at",
    )
    .bind(r1.as_bytes())
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(reasons, vec![Some("reuse".to_owned()); 3]);

    // The other login is another family: untouched.
    let other = refresh(
        &refresh_fn,
        other_session.body["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(other.status, 200, "{:?}", other.body);

    // Tokens we never issued, and bad bodies.
    assert_eq!(
        refresh(&refresh_fn, "not-a-token-we-issued").await.status,
        401
    );
    let empty = invoke(&refresh_fn, &post("/auth/refresh", &json!({}), None)).await;
    assert_eq!(empty.status, 422);
}

#[tokio::test]
async fn logout_ends_one_session_or_all_of_them() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let refresh_fn = keys.start("auth-refresh", &db, &[]).await;
    let logout_fn = keys.start("auth-logout", &db, &[]).await;

    let address = email();
    let user = register(&register_fn, &customer_body(&address)).await;
    let user_id = Uuid::parse_str(user.body["id"].as_str().unwrap()).unwrap();
    let caller = claims(user_id, "customer", &[]);
    let a = login(&login_fn, &address, PASSWORD).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = login(&login_fn, &address, PASSWORD).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without the authorizer's identity: 401.
    let anonymous = invoke(
        &logout_fn,
        &post("/auth/logout", &json!({"refresh_token": a}), None),
    )
    .await;
    assert_eq!(anonymous.status, 401);

    // Somebody else's token: 204, and nothing happens to it.
    let stranger = claims(Uuid::now_v7(), "customer", &[]);
    let response = invoke(
        &logout_fn,
        &post("/auth/logout", &json!({"refresh_token": a}), Some(stranger)),
    )
    .await;
    assert_eq!(response.status, 204);

    let response = invoke(
        &logout_fn,
        &post(
            "/auth/logout",
            &json!({"refresh_token": a}),
            Some(caller.clone()),
        ),
    )
    .await;
    assert_eq!(response.status, 204, "{:?}", response.body);
    assert_eq!(
        refresh(&refresh_fn, &a).await.status,
        401,
        "session a ended"
    );
    let b2 = refresh(&refresh_fn, &b).await;
    assert_eq!(b2.status, 200, "session b lives on");

    let response = invoke(
        &logout_fn,
        &post("/auth/logout", &json!({"all": true}), Some(caller)),
    )
    .await;
    assert_eq!(response.status, 204);
    assert_eq!(
        refresh(&refresh_fn, b2.body["refresh_token"].as_str().unwrap())
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn me_needs_an_identity_and_create_user_is_for_admins_only() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let me_fn = keys.start("get-me", &db, &[]).await;
    let create_fn = keys.start("create-user", &db, &[]).await;
    let audit = KafkaProbe::new("audit-events");

    assert_eq!(invoke(&me_fn, &get_me(None)).await.status, 401);

    let admin_id = servicehub_tests::insert_user(&db.pool, "admin", &[]).await;
    let manager_body = json!({
        "email": email(),
        "password": PASSWORD,
        "display_name": "Менеджер Пётр",
        "role": "manager",
        "regions": ["Москва"],
    });

    // Customers, contractors, managers and security officers may not.
    let customer = register(&register_fn, &customer_body(&email())).await;
    let customer_id = Uuid::parse_str(customer.body["id"].as_str().unwrap()).unwrap();
    for (id, role) in [
        (customer_id, "customer"),
        (Uuid::now_v7(), "contractor"),
        (Uuid::now_v7(), "manager"),
        (Uuid::now_v7(), "security"),
    ] {
        let response = invoke(
            &create_fn,
            &post("/users", &manager_body, Some(claims(id, role, &["Москва"]))),
        )
        .await;
        assert_eq!(response.status, 403, "{role}: {:?}", response.body);
    }
    assert_eq!(
        invoke(&create_fn, &post("/users", &manager_body, None))
            .await
            .status,
        401
    );

    // An admin creates a manager, who can then log in with the regions in the token.
    let admin = Some(claims(admin_id, "admin", &[]));
    let created = invoke(&create_fn, &post("/users", &manager_body, admin.clone())).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["role"], "manager");
    assert_eq!(created.body["regions"], json!(["Москва"]));
    let manager_id = created.body["id"].as_str().unwrap().to_owned();
    let session = login(&login_fn, manager_body["email"].as_str().unwrap(), PASSWORD).await;
    assert_eq!(session.status, 200, "{:?}", session.body);
    assert_eq!(session.body["user"]["role"], "manager");
    assert_eq!(session.body["user"]["regions"], json!(["Москва"]));

    let actions = user_actions(&audit, &manager_id, 1);
    assert_eq!(actions[0].action, "user.create");
    assert_eq!(actions[0].actor.user_id, Some(admin_id));

    // The admin's mistakes: 422 and 409.
    let mut no_regions = manager_body.clone();
    no_regions["email"] = json!(email());
    no_regions.as_object_mut().unwrap().remove("regions");
    let response = invoke(&create_fn, &post("/users", &no_regions, admin.clone())).await;
    assert_eq!(response.status, 422);
    assert_eq!(
        response.field_codes(),
        [("regions".to_owned(), "required".to_owned())]
    );
    let mut customer_role = manager_body.clone();
    customer_role["role"] = json!("customer");
    customer_role["email"] = json!(email());
    customer_role.as_object_mut().unwrap().remove("regions");
    let response = invoke(&create_fn, &post("/users", &customer_role, admin.clone())).await;
    assert_eq!(
        response.field_codes(),
        [("role".to_owned(), "invalid_value".to_owned())]
    );
    let duplicate = invoke(&create_fn, &post("/users", &manager_body, admin)).await;
    assert_eq!(duplicate.status, 409);

    // /me of the customer.
    let me = invoke(&me_fn, &get_me(Some(claims(customer_id, "customer", &[])))).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], customer_id.to_string());
    assert_eq!(me.body["role"], "customer");
}

/// The use cases themselves, called as a library with a trace and a caller made by hand and no
/// Lambda event: each refusal is its own `AccountError` or `SessionError`, which the routes map
/// to 401/403/409.
#[tokio::test]
async fn the_auth_use_cases_need_no_http() {
    use servicehub_auth::account::{self, AccountError};
    use servicehub_auth::secrets::Secrets;
    use servicehub_auth::session::{self, SessionError};
    use servicehub_auth::{AuthConfig, AuthServices};
    use servicehub_events::values::Role;
    use servicehub_platform::http::Trace;

    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let config =
        AuthConfig::from_vars([("JWT_SECRET_NAME".to_owned(), keys.secret_name.clone())]).unwrap();
    let auth = AuthServices::new(
        db.services("auth-tests").await,
        config,
        Secrets::from_env().await,
    );
    let trace = || Trace {
        correlation_id: Uuid::now_v7(),
        traceparent: None,
    };

    let anna = email();
    let created = account::register(&auth, trace(), customer_body(&anna))
        .await
        .unwrap();
    let customer = created.view.id;
    let again = account::register(&auth, trace(), customer_body(&anna)).await;
    assert!(matches!(again, Err(AccountError::EmailTaken)), "{again:?}");

    let wrong = session::login(
        &auth,
        trace(),
        json!({"email": anna, "password": "not the password"}),
    )
    .await;
    assert!(
        matches!(wrong, Err(SessionError::WrongCredentials)),
        "{wrong:?}"
    );
    let tokens = session::login(&auth, trace(), json!({"email": anna, "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(tokens.user.id, customer);

    let as_customer = || TestDatabase::caller(customer, Role::Customer, &[]);
    assert_eq!(
        account::me(&auth, as_customer()).await.unwrap().id,
        customer
    );
    let nobody = TestDatabase::caller(Uuid::now_v7(), Role::Customer, &[]);
    let gone = account::me(&auth, nobody).await;
    assert!(
        matches!(gone, Err(AccountError::NoLongerExists)),
        "{gone:?}"
    );
    let by_a_customer = account::create_user(&auth, as_customer(), customer_body(&email())).await;
    assert!(
        matches!(by_a_customer, Err(AccountError::NotAdmin(_))),
        "{by_a_customer:?}"
    );
}

#[tokio::test]
async fn the_first_admin_comes_from_configuration_once() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let (admin_email, password_secret) = bootstrap_admin().await;
    let bootstrap = [
        ("BOOTSTRAP_ADMIN_EMAIL", admin_email.as_str()),
        (
            "BOOTSTRAP_ADMIN_PASSWORD_SECRET_NAME",
            password_secret.as_str(),
        ),
    ];
    let login_fn = keys.start("auth-login", &db, &bootstrap).await;
    let response = login(&login_fn, &admin_email, "the very first admin password").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["user"]["role"], "admin");
    drop(login_fn);

    // Another execution environment (a cold start) changes nothing.
    let login_fn = keys.start("auth-login", &db, &bootstrap).await;
    assert_eq!(login(&login_fn, &admin_email, "wrong").await.status, 401);
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn the_authorizer_denies_missing_malformed_expired_tampered_and_foreign_tokens() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let authorizer = keys.start("authorizer", &db, &[]).await;
    let user = servicehub_tests::insert_user(&db.pool, "manager", &["Москва"]).await;
    let now = chrono::Utc::now().timestamp();
    let claims_at = |iat: i64, exp: i64, aud: &str| {
        json!({
            "sub": user.to_string(), "iss": "servicehub", "aud": aud, "iat": iat, "nbf": iat,
            "exp": exp, "jti": Uuid::now_v7().to_string(), "role": "manager", "regions": ["Москва"]
        })
    };
    let good = keys.sign(&claims_at(now, now + 900, "servicehub-api"));
    let allowed = authorize(&authorizer, Some(&format!("Bearer {good}"))).await;
    assert_eq!(
        allowed,
        json!({"isAuthorized": true, "context": {"sub": user.to_string(), "role": "manager", "regions": ["Москва"]}})
    );

    let expired = keys.sign(&claims_at(now - 3600, now - 1800, "servicehub-api"));
    let wrong_audience = keys.sign(&claims_at(now, now + 900, "another-api"));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut forged = claims_at(now, now + 900, "servicehub-api");
    forged["role"] = json!("admin");
    parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
    let tampered = parts.join(".");
    let foreign_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims_at(now, now + 900, "servicehub-api"),
        &EncodingKey::from_secret(b"somebody else's key, 32 bytes or more"),
    )
    .unwrap();
    let none_alg = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        good.split('.').nth(1).unwrap()
    );
    let cases = [
        ("missing header", None),
        ("not bearer", Some(format!("Basic {good}"))),
        ("no scheme", Some(good.clone())),
        ("malformed", Some("Bearer not.a.jwt".to_owned())),
        ("garbage", Some("Bearer abc".to_owned())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("tampered", Some(format!("Bearer {tampered}"))),
        ("wrong audience", Some(format!("Bearer {wrong_audience}"))),
        ("foreign key", Some(format!("Bearer {foreign_key}"))),
        ("alg none", Some(format!("Bearer {none_alg}"))),
    ];
    for (case, authorization) in cases {
        let answer = authorize(&authorizer, authorization.as_deref()).await;
        assert_eq!(answer, json!({"isAuthorized": false}), "{case}");
    }
}

/// A genuine token is not enough: the account must still exist and be active, and the role and
/// regions handed on are the account's current ones (issue: a disabled or demoted user kept access
/// until the token expired). API Gateway caches each answer for `AuthorizerCacheSeconds`, so that
/// is how long a change can take to be felt.
#[tokio::test]
async fn the_authorizer_hands_on_the_account_as_it_is_now() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let authorizer = keys.start("authorizer", &db, &[]).await;
    let user = servicehub_tests::insert_user(&db.pool, "manager", &["Москва", "Тверь"]).await;
    let now = chrono::Utc::now().timestamp();
    let token = |sub: Uuid| {
        let claims = json!({
            "sub": sub.to_string(), "iss": "servicehub", "aud": "servicehub-api", "iat": now,
            "nbf": now, "exp": now + 900, "jti": Uuid::now_v7().to_string(), "role": "manager",
            "regions": ["Москва", "Тверь"]
        });
        format!("Bearer {}", keys.sign(&claims))
    };
    let bearer = token(user);
    let answer = authorize(&authorizer, Some(&bearer)).await;
    assert_eq!(answer["isAuthorized"], true, "{answer}");

    // Demoted and moved: the token still says manager of Москва and Тверь.
    sqlx::query("UPDATE users SET role = 'customer', regions = '{Казань}' WHERE id = $1")
        .bind(user)
        .execute(&db.pool)
        .await
        .unwrap();
    let answer = authorize(&authorizer, Some(&bearer)).await;
    assert_eq!(
        answer,
        json!({"isAuthorized": true, "context": {"sub": user.to_string(), "role": "customer", "regions": ["Казань"]}})
    );

    // Disabled: refused, though the token is genuine and unexpired.
    sqlx::query("UPDATE users SET active = false WHERE id = $1")
        .bind(user)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        authorize(&authorizer, Some(&bearer)).await,
        json!({"isAuthorized": false})
    );
    // An account that does not exist (deleted, or never did): refused.
    assert_eq!(
        authorize(&authorizer, Some(&token(Uuid::now_v7()))).await,
        json!({"isAuthorized": false})
    );
}

/// Rotating the signing key with `aws secretsmanager put-secret-value` needs no restart (issue: one
/// key and no `kid`, so a rotation gave random 403s until every environment restarted). Tokens carry
/// the key's version id as `kid`; the authorizer accepts the current and the previous version and
/// looks the secret up again when a token names a version it has not seen.
#[tokio::test]
async fn the_signing_key_rotates_without_restarting_anything() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    // Signers re-read the key every second here (JWT_KEY_REFRESH_SECONDS, default 300).
    let login_fn = keys
        .start("auth-login", &db, &[("JWT_KEY_REFRESH_SECONDS", "1")])
        .await;
    let authorizer = keys.start("authorizer", &db, &[]).await;
    let address = email();
    assert_eq!(
        register(&register_fn, &customer_body(&address))
            .await
            .status,
        201
    );
    let access_token = || async {
        let response = login(&login_fn, &address, PASSWORD).await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        response.body["access_token"].as_str().unwrap().to_owned()
    };
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let accepted = |token: String| {
        let authorizer = &authorizer;
        async move {
            authorize(authorizer, Some(&format!("Bearer {token}"))).await["isAuthorized"] == true
        }
    };

    let first = access_token().await;
    assert!(accepted(first.clone()).await);

    let rotate = || async {
        let new_key = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        servicehub_tests::stack::put_secret_value(&keys.secret_name, &new_key).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        new_key
    };
    let second_key = rotate().await;
    let second = access_token().await;
    assert_ne!(kid(&first), kid(&second), "signed with the new version");
    // The same authorizer environment: the new key is found, the previous one still honoured.
    assert!(accepted(second.clone()).await, "new key");
    assert!(accepted(first.clone()).await, "previous key");

    // A forged key id, or the right id with another key's signature: refused.
    let now = chrono::Utc::now().timestamp();
    let claims = jsonwebtoken::decode::<Value>(
        &second,
        &jsonwebtoken::DecodingKey::from_secret(second_key.as_bytes()),
        &{
            let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
            validation.set_audience(&["servicehub-api"]);
            validation
        },
    )
    .unwrap()
    .claims;
    assert!(claims["exp"].as_i64().unwrap() > now);
    let signed = |kid: &str, key: &[u8]| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key)).unwrap()
    };
    assert!(accepted(signed(&kid(&second), second_key.as_bytes())).await);
    assert!(!accepted(signed(&Uuid::new_v4().to_string(), second_key.as_bytes())).await);
    assert!(
        !accepted(signed(
            &kid(&second),
            b"somebody else's key, 32 bytes or more"
        ))
        .await
    );

    // Rotated again: the first key is neither current nor previous any more.
    rotate().await;
    let third = access_token().await;
    assert!(accepted(third).await, "newest key");
    assert!(accepted(second).await, "previous key");
    assert!(!accepted(first).await, "retired key");
}

/// `PATCH /users/{id}`: an admin disables an account and everything it holds stops working at
/// once (login, refresh, the authorizer's next decision), with the sessions revoked and audited;
/// enabled again, it logs in. Only admins may, and not on themselves.
#[tokio::test]
async fn an_admin_disables_an_account_and_its_sessions_end_at_once() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let refresh_fn = keys.start("auth-refresh", &db, &[]).await;
    let authorizer = keys.start("authorizer", &db, &[]).await;
    let update_fn = keys.start("update-user", &db, &[]).await;
    let audit = KafkaProbe::new("audit-events");
    let patch = |id: &str, body: Value, caller: Option<Value>| {
        request(
            "PATCH",
            "PATCH /users/{id}",
            &format!("/users/{id}"),
            Some(json!({ "id": id })),
            Some("application/json"),
            Some(&body.to_string()),
            caller,
        )
    };

    let address = email();
    let registered = register(&register_fn, &customer_body(&address)).await;
    assert_eq!(registered.status, 201);
    let user_id = registered.body["id"].as_str().unwrap().to_owned();
    let session = login(&login_fn, &address, PASSWORD).await;
    assert_eq!(session.status, 200);
    let access = format!("Bearer {}", session.body["access_token"].as_str().unwrap());
    let refresh_token = session.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        authorize(&authorizer, Some(&access)).await["isAuthorized"],
        true
    );

    let admin_id = servicehub_tests::insert_user(&db.pool, "admin", &[]).await;
    let admin = Some(claims(admin_id, "admin", &[]));
    let disable = json!({"active": false});
    for role in ["customer", "contractor", "manager", "security"] {
        let caller = Some(claims(Uuid::now_v7(), role, &["Москва"]));
        let answer = invoke(&update_fn, &patch(&user_id, disable.clone(), caller)).await;
        assert_eq!(answer.status, 403, "{role}");
    }
    let unknown = invoke(
        &update_fn,
        &patch(&Uuid::now_v7().to_string(), disable.clone(), admin.clone()),
    )
    .await;
    assert_eq!(unknown.status, 404);
    let invalid = invoke(
        &update_fn,
        &patch(&user_id, json!({"active": "no"}), admin.clone()),
    )
    .await;
    assert_eq!(invalid.status, 422);
    let myself = invoke(
        &update_fn,
        &patch(&admin_id.to_string(), disable.clone(), admin.clone()),
    )
    .await;
    assert_eq!(myself.status, 409, "{:?}", myself.body);

    let disabled = invoke(&update_fn, &patch(&user_id, disable.clone(), admin.clone())).await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(disabled.body["active"], false);
    assert_eq!(refresh(&refresh_fn, &refresh_token).await.status, 401);
    assert_eq!(login(&login_fn, &address, PASSWORD).await.status, 401);
    assert_eq!(
        authorize(&authorizer, Some(&access)).await,
        json!({"isAuthorized": false})
    );
    // Registration, the login, then the disabling.
    let actions = user_actions(&audit, &user_id, 3);
    let disable_action = actions
        .iter()
        .find(|a| a.action == "user.disable")
        .expect("audited");
    assert_eq!(disable_action.actor.user_id, Some(admin_id));
    assert_eq!(disable_action.details["sessions_revoked"], 1);
    assert_eq!(disable_action.details["was_active"], true);

    let enabled = invoke(
        &update_fn,
        &patch(&user_id, json!({"active": true}), admin.clone()),
    )
    .await;
    assert_eq!(enabled.status, 200);
    assert_eq!(login(&login_fn, &address, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn without_its_signing_key_the_authorizer_fails_instead_of_guessing() {
    let db = TestDatabase::new().await;
    let missing = format!("servicehub-tests/missing-{}", Uuid::new_v4());
    let mut env: Vec<(String, String)> = Keys {
        secret_name: missing,
        key: Vec::new(),
    }
    .env();
    env.push(("RUST_LOG".into(), "off".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let authorizer = start_function("authorizer", &db.url, &env).await;
    // A well-formed token: there is no key to check it with. (A malformed one needs no key to be
    // refused.)
    let token = Keys {
        secret_name: String::new(),
        key: b"any key of 32 bytes or more, for the shape".to_vec(),
    }
    .sign(&json!({"sub": Uuid::now_v7().to_string(), "exp": 4_000_000_000_i64}));
    let result = authorizer
        .invoke(&authorizer_event(Some(&format!("Bearer {token}"))))
        .await;
    assert!(result.is_err(), "{result:?}");
    let malformed = authorizer
        .invoke(&authorizer_event(Some("Bearer x.y.z")))
        .await;
    assert_eq!(malformed.unwrap(), json!({"isAuthorized": false}));
}

#[tokio::test]
async fn the_sample_payloads_in_events_drive_the_real_functions() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let load = |name: &str| -> Value {
        let path = servicehub_tests::repo_root().join("events").join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let run = |function: &'static str| keys.start(function, &db, &[]);
    let (register_fn, login_fn, refresh_fn) = (
        run("auth-register").await,
        run("auth-login").await,
        run("auth-refresh").await,
    );
    let (logout_fn, me_fn, create_fn) = (
        run("auth-logout").await,
        run("get-me").await,
        run("create-user").await,
    );
    let authorizer = run("authorizer").await;

    let registered = invoke(&register_fn, &load("auth-register.json")).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert_eq!(registered.body["role"], "contractor");
    let logged_in = invoke(&login_fn, &load("auth-login.json")).await;
    assert_eq!(logged_in.status, 200, "{:?}", logged_in.body);
    // The sample refresh token was never issued here; the sample customer does not exist here.
    assert_eq!(
        invoke(&refresh_fn, &load("auth-refresh.json")).await.status,
        401
    );
    assert_eq!(invoke(&me_fn, &load("get-me.json")).await.status, 401);
    assert_eq!(
        invoke(&logout_fn, &load("auth-logout.json")).await.status,
        204
    );
    let created = invoke(&create_fn, &load("create-user.json")).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["role"], "manager");
    // Signed with the sample's own key, not this test's: denied.
    let answer = authorizer.invoke(&load("authorizer.json")).await.unwrap();
    assert_eq!(answer, json!({"isAuthorized": false}));
    // Given the sample's key (SAMPLE_JWT_KEY in events/generate_samples.py), the sample token is
    // still valid today: it expires years ahead, not on the day the sample was written.
    let sample_keys =
        Keys::with_key("sample-only HS256 key for events/authorizer.json, 32+ bytes").await;
    let sample_authorizer = sample_keys.start("authorizer", &db, &[]).await;
    // ... for an account that exists.
    assert_eq!(
        sample_authorizer
            .invoke(&load("authorizer.json"))
            .await
            .unwrap(),
        json!({"isAuthorized": false})
    );
    sqlx::query("INSERT INTO users (id, role, display_name) VALUES ($1, 'customer', 'sample')")
        .bind(Uuid::parse_str("0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b").unwrap())
        .execute(&db.pool)
        .await
        .unwrap();
    let answer = sample_authorizer
        .invoke(&load("authorizer.json"))
        .await
        .unwrap();
    assert_eq!(answer["isAuthorized"], true, "{answer}");
    assert_eq!(
        answer["context"]["sub"],
        "0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b"
    );
}

/// A NUL character cannot be stored and has no use in any field: it is a 422 naming the field,
/// never the 500 PostgreSQL's refusal used to become (issue: `"a\u0000b@x.io"` at login).
#[tokio::test]
async fn a_nul_character_in_a_login_or_registration_is_a_422_naming_the_field() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let login_fn = keys.start("auth-login", &db, &[]).await;
    let register_fn = keys.start("auth-register", &db, &[]).await;

    let response = login(&login_fn, "a\u{0}b@x.io", "whatever password").await;
    assert_eq!(response.status, 422, "{:?}", response.body);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        response.field_codes(),
        [("email".to_owned(), "nul_character".to_owned())]
    );

    let mut body = customer_body(&email());
    body["display_name"] = json!("Ann\u{0}");
    let response = register(&register_fn, &body).await;
    assert_eq!(response.status, 422, "{:?}", response.body);
    assert!(
        response
            .field_codes()
            .contains(&("display_name".to_owned(), "nul_character".to_owned())),
        "{:?}",
        response.body
    );
}

/// 200 wrong-password logins for one account at once, over 8 execution environments: the
/// policy allows 5 failures, so exactly 5 passwords are checked (401) and every other attempt is
/// refused by the lock (429) without one. Before the attempt was counted ahead of argon2, a
/// burst got as many checks as it had concurrent environments.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_concurrent_guesses_gets_exactly_the_allowed_password_checks() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let address = email();
    let registered = register(&register_fn, &customer_body(&address)).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);

    let pool = local_runner::pool::FunctionPool::new(keys.spec("auth-login", &db, &[]), 8);
    let attempts: Vec<_> = (0..200)
        .map(|i| {
            let pool = pool.clone();
            let event = post(
                "/auth/login",
                &json!({"email": address, "password": format!("guess {i}")}),
                None,
            );
            tokio::spawn(async move { pool.invoke_recorded(&event).await.result })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for attempt in attempts {
        let answer = attempt.await.unwrap().expect("the invocation succeeds");
        *statuses
            .entry(answer["statusCode"].as_u64().unwrap())
            .or_insert(0) += 1;
    }
    pool.shutdown().await;
    assert_eq!(
        statuses,
        std::collections::BTreeMap::from([(401, 5), (429, 195)]),
        "answers by status"
    );
}

/// A body with 300,000 unknown keys, one of them 1 MB long: the 422 lists the first 100
/// problems, texts cut short, instead of an answer over Lambda's 6 MB (a 502 at the gateway).
#[tokio::test]
async fn a_422_for_a_huge_hostile_body_stays_small() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let register_fn = keys.start("auth-register", &db, &[]).await;
    let mut body = customer_body(&email());
    let object = body.as_object_mut().unwrap();
    for i in 0..300_000 {
        object.insert(format!("k{i}"), json!(1));
    }
    object.insert("x".repeat(1024 * 1024), json!(1));
    let answer = register_fn
        .invoke(&post("/auth/register", &body, None))
        .await
        .expect("the function answers (not a response over 6 MB)");
    assert_eq!(answer["statusCode"], 422, "{}", &answer.to_string()[..300]);
    let size = answer["body"].as_str().unwrap().len();
    assert!(size < 64 * 1024, "a {size}-byte problem");
    let problem: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(problem["errors"].as_array().unwrap().len(), 100);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the first 100 are listed"),
        "{}",
        problem["detail"]
    );
}

/// Nobody can take the bootstrap admin's e-mail before the first admin login: registering it is
/// refused as a taken e-mail (in any letter case), and the admin still comes into being.
#[tokio::test]
async fn the_bootstrap_admins_email_cannot_be_squatted() {
    let db = TestDatabase::new().await;
    let keys = Keys::new().await;
    let (admin_email, password_secret) = bootstrap_admin().await;
    let bootstrap = [
        ("BOOTSTRAP_ADMIN_EMAIL", admin_email.as_str()),
        (
            "BOOTSTRAP_ADMIN_PASSWORD_SECRET_NAME",
            password_secret.as_str(),
        ),
    ];
    let register_fn = keys.start("auth-register", &db, &bootstrap).await;
    for squatted in [admin_email.clone(), admin_email.to_uppercase()] {
        let response = register(&register_fn, &customer_body(&squatted)).await;
        assert_eq!(response.status, 409, "{squatted}: {:?}", response.body);
    }
    let login_fn = keys.start("auth-login", &db, &bootstrap).await;
    let response = login(&login_fn, &admin_email, "the very first admin password").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["user"]["role"], "admin");
}
