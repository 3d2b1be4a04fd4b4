//! Property test of the workflow through the real function binaries: random sequences of
//! commands by the right people; each succeeds exactly when the state machine allows it (else
//! 409 with the current status), and the history left behind is exactly the successful moves.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use servicehub_domain::workflow::{Action, next_status};
use servicehub_events::values::RequestStatus;
use servicehub_tests::apigw::{HttpResponse, claims, invoke, request};
use servicehub_tests::{TestDatabase, insert_user, start_function};
use std::collections::HashMap;
use uuid::Uuid;

const REGION: &str = "prop-region";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Ask,
    Answer,
    Dispatch,
    Accept,
    Assign,
    Start,
    Complete,
    Cancel,
}

const STEPS: [Step; 8] = [
    Step::Ask,
    Step::Answer,
    Step::Dispatch,
    Step::Accept,
    Step::Assign,
    Step::Start,
    Step::Complete,
    Step::Cancel,
];

impl Step {
    fn action(self) -> Action {
        match self {
            Step::Ask => Action::AskClarification,
            Step::Answer => Action::AnswerClarification,
            Step::Dispatch => Action::SendToContractors,
            Step::Accept | Step::Assign => Action::AssignContractor,
            Step::Start => Action::StartWork,
            Step::Complete => Action::CompleteWork,
            Step::Cancel => Action::Cancel,
        }
    }

    fn function(self) -> &'static str {
        match self {
            Step::Ask => "ask-clarification",
            Step::Answer => "update-request",
            Step::Dispatch => "dispatch-request",
            Step::Accept => "accept-request",
            Step::Assign => "assign-contractor",
            Step::Start => "start-work",
            Step::Complete => "complete-work",
            Step::Cancel => "cancel-request",
        }
    }
}

struct People {
    customer: Uuid,
    manager: Uuid,
    contractor: Uuid,
}

fn event(step: Step, id: Uuid, people: &People) -> Value {
    let (who, role, regions): (Uuid, &str, &[&str]) = match step {
        Step::Answer | Step::Cancel => (people.customer, "customer", &[]),
        Step::Ask | Step::Dispatch | Step::Assign => (people.manager, "manager", &[REGION]),
        Step::Accept | Step::Start | Step::Complete => (people.contractor, "contractor", &[]),
    };
    let body = match step {
        Step::Ask => Some(json!({"question": "Какая модель?"})),
        Step::Answer => Some(json!({"clarification_answer": "Bosch"})),
        Step::Assign => Some(json!({"contractor_id": people.contractor})),
        Step::Complete => Some(json!({"completion_report": "Готово", "final_price": {"amount_minor": 100000, "currency": "RUB"}})),
        Step::Cancel => Some(json!({"reason": "передумал"})),
        Step::Dispatch | Step::Accept | Step::Start => None,
    }
    .map(|b| b.to_string());
    let (method, suffix) = match step {
        Step::Answer => ("PATCH", ""),
        Step::Ask => ("POST", "/clarification"),
        Step::Dispatch => ("POST", "/dispatch"),
        Step::Accept => ("POST", "/accept"),
        Step::Assign => ("POST", "/assign"),
        Step::Start => ("POST", "/start"),
        Step::Complete => ("POST", "/complete"),
        Step::Cancel => ("POST", "/cancel"),
    };
    request(
        method,
        &format!("{method} /requests/{{id}}{suffix}"),
        &format!("/requests/{id}{suffix}"),
        Some(json!({"id": id.to_string()})),
        body.as_ref().map(|_| "application/json"),
        body.as_deref(),
        Some(claims(who, role, regions)),
    )
}

#[test]
fn random_command_sequences_follow_the_state_machine_and_the_history_records_every_move() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (db, people, functions) = runtime.block_on(async {
        let db = TestDatabase::new().await;
        let people = People {
            customer: insert_user(&db.pool, "customer", &[]).await,
            manager: insert_user(&db.pool, "manager", &[REGION]).await,
            contractor: insert_user(&db.pool, "contractor", &[REGION]).await,
        };
        sqlx::query("UPDATE users SET categories = '{plumbing}', verification_status = 'verified' WHERE id = $1")
            .bind(people.contractor)
            .execute(&db.pool)
            .await
            .unwrap();
        let mut functions = HashMap::new();
        for step in STEPS {
            if !functions.contains_key(step.function()) {
                functions.insert(step.function(), start_function(step.function(), &db.url, &[]).await);
            }
        }
        (db, people, functions)
    });

    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let strategy = prop::collection::vec(prop::sample::select(STEPS.to_vec()), 1..14);
    runner
        .run(&strategy, |steps| {
            runtime.block_on(async {
                let id = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO service_requests (id, customer_id, title, description, category, urgency,
                         region, city, address, status, manager_id, created_at, updated_at)
                     VALUES ($1, $2, 'Течёт кран', 'Капает', 'plumbing', 'normal', $3, 'Москва',
                         'ул. Ленина, 1', 'manager_assigned', $4, now(), now())",
                )
                .bind(id)
                .bind(people.customer)
                .bind(REGION)
                .bind(people.manager)
                .execute(&db.pool)
                .await
                .unwrap();
                let mut status = RequestStatus::ManagerAssigned;
                // What the contractor may see: nothing until the request is offered to them.
                let (mut offered, mut assigned) = (false, false);
                let mut moves = Vec::new();
                for step in &steps {
                    let response: HttpResponse =
                        invoke(&functions[step.function()], &event(*step, id, &people)).await;
                    let by_contractor = matches!(step, Step::Accept | Step::Start | Step::Complete);
                    let needs_assignment = matches!(step, Step::Start | Step::Complete);
                    if by_contractor && !offered {
                        prop_assert_eq!(response.status, 404, "{:?}: not offered, not visible", step);
                        continue;
                    }
                    if needs_assignment && !assigned {
                        prop_assert_eq!(response.status, 403, "{:?}: offered, not assigned", step);
                        continue;
                    }
                    match next_status(status, step.action()) {
                        Ok(next) => {
                            prop_assert_eq!(response.status, 200, "{:?} from {}: {}", step, status, response.body);
                            prop_assert_eq!(&response.body["status"], next.as_str());
                            moves.push((status.as_str().to_owned(), next.as_str().to_owned()));
                            status = next;
                            offered |= *step == Step::Dispatch;
                            assigned |= matches!(step, Step::Accept | Step::Assign);
                        }
                        Err(_) => {
                            prop_assert_eq!(response.status, 409, "{:?} from {}: {}", step, status, response.body);
                            prop_assert_eq!(&response.body["current_status"], status.as_str());
                        }
                    }
                }
                let history: Vec<(String, String)> = sqlx::query_as(
                    "SELECT from_status, to_status FROM request_status_history WHERE request_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(&db.pool)
                .await
                .unwrap();
                prop_assert_eq!(history, moves, "the history is exactly the successful moves");
                let stored: String = sqlx::query_scalar("SELECT status FROM service_requests WHERE id = $1")
                    .bind(id)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                prop_assert_eq!(stored, status.as_str());
                Ok(())
            })
        })
        .unwrap();
}
