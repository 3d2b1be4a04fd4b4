//! Every route of the API (the OpenAPI route table, itself one to one with template.yaml) x every
//! kind of caller x their relation to the resource, through the real function binaries: who gets
//! through, who gets 403 (may see but not act), and to whom the resource does not exist (404).

use serde_json::{Value, json};
use servicehub_openapi::{Access, routes};
use servicehub_tests::apigw::{claims, invoke, request, with_query};
use servicehub_tests::{TestDatabase, aws_env, insert_user, repo_root, start_function};
use std::collections::HashMap;
use uuid::Uuid;

const REGION: &str = "matrix-region";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Owner,
    OtherCustomer,
    RegionManager,
    AssignedManager,
    ForeignManager,
    OfferedContractor,
    AssignedContractor,
    OtherContractor,
    Security,
    Admin,
}

const EVERYONE: [Who; 10] = [
    Who::Owner,
    Who::OtherCustomer,
    Who::RegionManager,
    Who::AssignedManager,
    Who::ForeignManager,
    Who::OfferedContractor,
    Who::AssignedContractor,
    Who::OtherContractor,
    Who::Security,
    Who::Admin,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past authorization: whatever the handler then answers (2xx, 409, 422), never 401/403/404.
    Through,
    Forbidden,
    Hidden,
}

/// The access rules of the API, as the README and docs/architecture.md state them.
fn expected(function: &str, who: Who) -> Expect {
    use Expect::*;
    use Who::*;
    let sees_request = !matches!(who, OtherCustomer | ForeignManager | OtherContractor);
    let on_request = |allowed: &[Who]| {
        if allowed.contains(&who) {
            Through
        } else if sees_request {
            Forbidden
        } else {
            Hidden
        }
    };
    let only = |allowed: &[Who]| {
        if allowed.contains(&who) {
            Through
        } else {
            Forbidden
        }
    };
    match function {
        "get-request" | "get-request-history" => {
            if sees_request {
                Through
            } else {
                Hidden
            }
        }
        "update-request" => on_request(&[Owner]),
        "cancel-request" => on_request(&[Owner, RegionManager, AssignedManager]),
        "ask-clarification" | "dispatch-request" | "assign-contractor" => {
            on_request(&[RegionManager, AssignedManager])
        }
        "accept-request" => on_request(&[OfferedContractor, AssignedContractor]),
        "start-work" | "complete-work" => on_request(&[AssignedContractor]),
        "create-request" => only(&[Owner, OtherCustomer]),
        "list-requests" | "get-me" | "auth-logout" => Through,
        // Every account proves its own contacts.
        "send-contact-code"
        | "verify-contact"
        | "get-notification-settings"
        | "update-notification-settings" => Through,
        "create-user" | "update-user" => only(&[Admin]),
        "list-contractors" => only(&[Security, Admin]),
        "get-audit" => only(&[Admin]),
        // Managers: their own regions (no region named here).
        "get-analytics" => only(&[RegionManager, AssignedManager, ForeignManager, Admin]),
        "list-documents" | "list-payments" => Through,
        // The world's document is a completion act between Owner and AssignedContractor: who
        // sees the request sees it, except a contractor who was only offered the request.
        "get-document" | "sign-document" => {
            let sees_document = sees_request && who != OfferedContractor;
            let signs = function == "get-document" || matches!(who, Owner | AssignedContractor);
            match (sees_document, signs) {
                (false, _) => Hidden,
                (true, true) => Through,
                (true, false) => Forbidden,
            }
        }
        "verify-contractor"
        | "reject-contractor"
        | "grant-contractor-access"
        | "revoke-contractor-access" => only(&[Security]),
        other => panic!("no access rule for {other}: add one"),
    }
}

struct World {
    db: TestDatabase,
    users: HashMap<Who, (Uuid, &'static str, Vec<&'static str>)>,
}

impl World {
    async fn new() -> World {
        let db = TestDatabase::new().await;
        let mut users = HashMap::new();
        for who in EVERYONE {
            let (role, regions): (&str, Vec<&str>) = match who {
                Who::Owner | Who::OtherCustomer => ("customer", vec![]),
                Who::RegionManager => ("manager", vec![REGION]),
                Who::AssignedManager => ("manager", vec!["another-region"]),
                Who::ForeignManager => ("manager", vec!["elsewhere"]),
                Who::OfferedContractor | Who::AssignedContractor | Who::OtherContractor => {
                    ("contractor", vec![REGION])
                }
                Who::Security => ("security", vec![]),
                Who::Admin => ("admin", vec![]),
            };
            let id = insert_user(&db.pool, role, &regions).await;
            if role == "contractor" {
                // Only a verified contractor may work on a request, as in life.
                sqlx::query("UPDATE users SET verification_status = 'verified' WHERE id = $1")
                    .bind(id)
                    .execute(&db.pool)
                    .await
                    .unwrap();
            }
            users.insert(who, (id, role, regions));
        }
        World { db, users }
    }

    fn id(&self, who: Who) -> Uuid {
        self.users[&who].0
    }

    /// A request of Owner in REGION, managed by AssignedManager, offered to OfferedContractor
    /// and AssignedContractor, assigned to AssignedContractor.
    async fn request(&self) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region,
                 city, address, status, manager_id, contractor_id, created_at, updated_at)
             VALUES ($1, $2, 'Течёт кран', 'Капает', 'plumbing', 'normal', $3, 'Москва', 'ул. Ленина, 1',
                 'contractor_assigned', $4, $5, now(), now())",
        )
        .bind(id)
        .bind(self.id(Who::Owner))
        .bind(REGION)
        .bind(self.id(Who::AssignedManager))
        .bind(self.id(Who::AssignedContractor))
        .execute(&self.db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO request_offers (request_id, contractor_id, offered_at)
             VALUES ($1, $2, now()), ($1, $3, now())",
        )
        .bind(id)
        .bind(self.id(Who::OfferedContractor))
        .bind(self.id(Who::AssignedContractor))
        .execute(&self.db.pool)
        .await
        .unwrap();
        id
    }

    /// A completion act of a fresh request, between Owner and AssignedContractor.
    async fn document(&self) -> Uuid {
        let request = self.request().await;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO documents (id, kind, request_id, contractor_id, customer_id, title, amount_minor,
                 currency, s3_bucket, s3_key, sha256, size_bytes, source_event_id, created_at)
             VALUES ($1, 'completion_act', $2, $3, $4, 'Акт', 100000, 'RUB', 'b', 'documents/x.pdf',
                 '00', 1, $1, now())",
        )
        .bind(id)
        .bind(request)
        .bind(self.id(Who::AssignedContractor))
        .bind(self.id(Who::Owner))
        .execute(&self.db.pool)
        .await
        .unwrap();
        id
    }
}

fn sample_body(function: &str) -> Option<String> {
    let path = repo_root().join("events").join(format!("{function}.json"));
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    event["body"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_every_caller_as_the_access_rules_say() {
    let world = World::new().await;
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for route in routes().iter().filter(|r| r.access != Access::Public) {
        let aws = aws_env();
        let env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let function = start_function(route.function, &world.db.url, &env).await;
        for who in EVERYONE {
            let id = if route.path.starts_with("/requests/{id}") {
                Some(world.request().await)
            } else if route.path.starts_with("/contractors/{id}") {
                Some(world.id(Who::OtherContractor))
            } else if route.path.starts_with("/documents/{id}") {
                Some(world.document().await)
            } else if route.path.starts_with("/users/{id}") {
                Some(world.id(Who::OtherCustomer))
            } else {
                None
            };
            let path = match id {
                Some(id) => route.path.replace("{id}", &id.to_string()),
                None => route.path.to_owned(),
            };
            let body = sample_body(route.function);
            let (user, role, regions) = &world.users[&who];
            let mut event = request(
                route.method,
                &format!("{} {}", route.method, route.path),
                &path,
                id.map(|id| json!({"id": id.to_string()})),
                body.as_ref().map(|_| "application/json"),
                body.as_deref(),
                Some(claims(*user, role, regions)),
            );
            with_query(&mut event, "");
            let response = invoke(&function, &event).await;
            let got = match response.status {
                403 => Expect::Forbidden,
                404 => Expect::Hidden,
                401 => panic!("{} as {who:?}: 401 with a valid identity", route.function),
                _ => Expect::Through,
            };
            let want = expected(route.function, who);
            checked += 1;
            if got != want {
                mismatches.push(format!(
                    "{} {} as {who:?}: expected {want:?}, got {} {}",
                    route.method, route.path, response.status, response.body
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(checked >= 200, "{checked} combinations");
}
