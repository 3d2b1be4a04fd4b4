//! What the workflow endpoints receive, parsed into types that only hold valid values, and who
//! may issue each command on which request.

use crate::access::{RequestParties, can_view};
use crate::request::{
    Address, Category, City, RequestDescription, RequestTitle, parse_money, parse_time_window,
    parse_urgency,
};
use crate::request::{MoneyBody, SLUG, TimeWindowBody};
use crate::validation::{MULTI_LINE, ONE_LINE, ObjectReader, ValidationErrors, text};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use servicehub_events::values::{Money, RequestStatus, Role, TimeWindow, Urgency};
use uuid::Uuid;

/// One command on an existing request, each behind its own endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `PATCH /requests/{id}`: the customer edits (or answers a clarification question).
    Update,
    /// `POST /requests/{id}/cancel`
    Cancel,
    /// `POST /requests/{id}/clarification`
    AskClarification,
    /// `POST /requests/{id}/dispatch`
    Dispatch,
    /// `POST /requests/{id}/accept`: an offered contractor takes the request.
    Accept,
    /// `POST /requests/{id}/assign`: the manager picks one of the offered contractors.
    AssignContractor,
    /// `POST /requests/{id}/start`
    StartWork,
    /// `POST /requests/{id}/complete`
    CompleteWork,
}

impl Command {
    pub const ALL: [Command; 8] = [
        Command::Update,
        Command::Cancel,
        Command::AskClarification,
        Command::Dispatch,
        Command::Accept,
        Command::AssignContractor,
        Command::StartWork,
        Command::CompleteWork,
    ];
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user_id: Uuid,
    pub role: Role,
    pub regions: &'a [String],
}

/// Whether a caller may issue a command on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// They may see the request but not do this (403).
    Forbidden(&'static str),
    /// They may not even see it (404: existence must not leak).
    Hidden,
}

/// `offered` says whether the request was offered to the caller (contractors see those).
/// Only the role and ownership are judged here; whether the request's status allows the command
/// is the state machine's call (409).
pub fn decide(
    command: Command,
    caller: Caller<'_>,
    request: &RequestParties<'_>,
    offered: bool,
) -> Decision {
    if !can_view(
        caller.user_id,
        caller.role,
        caller.regions,
        request,
        offered,
    ) {
        return Decision::Hidden;
    }
    let own_customer = caller.role == Role::Customer && request.customer_id == caller.user_id;
    // Managers act on the requests of their regions, and on those assigned to them.
    let managing = caller.role == Role::Manager
        && (request.manager_id == Some(caller.user_id)
            || caller.regions.iter().any(|r| r == request.region));
    let assigned_contractor =
        caller.role == Role::Contractor && request.contractor_id == Some(caller.user_id);
    let (allowed, why) = match command {
        Command::Update => (
            own_customer,
            "only the customer who filed it edits a request",
        ),
        Command::Cancel => (
            own_customer || managing,
            "only its customer or its manager cancels a request",
        ),
        Command::AskClarification => (managing, "only a manager asks for clarification"),
        Command::Dispatch => (managing, "only a manager sends a request to contractors"),
        Command::Accept => (
            caller.role == Role::Contractor && offered,
            "only a contractor the request was offered to accepts it",
        ),
        Command::AssignContractor => (managing, "only a manager assigns a contractor"),
        Command::StartWork | Command::CompleteWork => (
            assigned_contractor,
            "only the assigned contractor starts and completes the work",
        ),
    };
    if allowed {
        Decision::Allowed
    } else {
        Decision::Forbidden(why)
    }
}

/// Statuses in which the customer may still edit the request.
pub fn editable(status: RequestStatus) -> bool {
    matches!(
        status,
        RequestStatus::New | RequestStatus::ClarificationNeeded
    )
}

fn body_object<'a>(
    body: &'a Value,
    errors: &mut ValidationErrors,
) -> Option<&'a Map<String, Value>> {
    let object = body.as_object();
    if object.is_none() {
        errors.add("", "invalid_type", "the body must be a JSON object");
    }
    object
}

/// A body of one required text field and nothing else.
fn single_text(body: &Value, name: &'static str, max: usize) -> Result<String, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let Some(object) = body_object(body, &mut errors) else {
        return Err(errors);
    };
    let mut reader = ObjectReader::new(object, "");
    let value = reader
        .required_str(name, &mut errors)
        .and_then(|v| text(v, name, 1, max, true, &mut errors));
    reader.reject_unknown(&mut errors);
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(errors),
    }
}

/// `POST /requests/{id}/cancel`: `{"reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelInput {
    pub reason: String,
}

impl CancelInput {
    pub fn parse(body: &Value) -> Result<CancelInput, ValidationErrors> {
        single_text(body, "reason", 1000).map(|reason| CancelInput { reason })
    }
}

/// `POST /requests/{id}/clarification`: `{"question": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClarificationInput {
    pub question: String,
}

impl ClarificationInput {
    pub fn parse(body: &Value) -> Result<ClarificationInput, ValidationErrors> {
        single_text(body, "question", 2000).map(|question| ClarificationInput { question })
    }
}

/// `POST /requests/{id}/assign`: `{"contractor_id": "<uuid>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignInput {
    pub contractor_id: Uuid,
}

impl AssignInput {
    pub fn parse(body: &Value) -> Result<AssignInput, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Some(object) = body_object(body, &mut errors) else {
            return Err(errors);
        };
        let mut reader = ObjectReader::new(object, "");
        let id = reader
            .required_str("contractor_id", &mut errors)
            .and_then(|v| {
                let parsed = Uuid::parse_str(v).ok();
                if parsed.is_none() {
                    errors.add(
                        "contractor_id",
                        "invalid_format",
                        "contractor_id must be a UUID",
                    );
                }
                parsed
            });
        reader.reject_unknown(&mut errors);
        match id {
            Some(contractor_id) if errors.is_empty() => Ok(AssignInput { contractor_id }),
            _ => Err(errors),
        }
    }
}

/// `POST /requests/{id}/complete`: `{"completion_report": "...", "final_price": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionInput {
    pub completion_report: String,
    pub final_price: Money,
}

impl CompletionInput {
    pub fn parse(body: &Value) -> Result<CompletionInput, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Some(object) = body_object(body, &mut errors) else {
            return Err(errors);
        };
        let mut reader = ObjectReader::new(object, "");
        let report = reader
            .required_str("completion_report", &mut errors)
            .and_then(|v| text(v, "completion_report", 1, 5000, true, &mut errors));
        let price = reader
            .required("final_price", &mut errors)
            .and_then(|v| parse_money(v, "final_price", &mut errors));
        reader.reject_unknown(&mut errors);
        match (report, price) {
            (Some(completion_report), Some(final_price)) if errors.is_empty() => {
                Ok(CompletionInput {
                    completion_report,
                    final_price,
                })
            }
            _ => Err(errors),
        }
    }
}

/// `PATCH /requests/{id}`: the fields to change (at least one), and the answer when the request
/// waits for a clarification. Region is not editable: it decided the manager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestPatch {
    pub title: Option<RequestTitle>,
    pub description: Option<RequestDescription>,
    pub category: Option<Category>,
    pub urgency: Option<Urgency>,
    pub city: Option<City>,
    pub address: Option<Address>,
    pub preferred_time_window: Option<TimeWindow>,
    pub budget: Option<Money>,
    pub clarification_answer: Option<String>,
}

impl RequestPatch {
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<RequestPatch, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Some(object) = body_object(body, &mut errors) else {
            return Err(errors);
        };
        let mut r = ObjectReader::new(object, "");
        let e = &mut errors;
        let patch = RequestPatch {
            title: r
                .optional_str("title", e)
                .and_then(|v| RequestTitle::parse(v, "title", e)),
            description: r
                .optional_str("description", e)
                .and_then(|v| RequestDescription::parse(v, "description", e)),
            category: r
                .optional_str("category", e)
                .and_then(|v| Category::parse(v, "category", e)),
            urgency: r
                .optional_str("urgency", e)
                .and_then(|v| parse_urgency(v, "urgency", e)),
            city: r
                .optional_str("city", e)
                .and_then(|v| City::parse(v, "city", e)),
            address: r
                .optional_str("address", e)
                .and_then(|v| Address::parse(v, "address", e)),
            preferred_time_window: r
                .optional("preferred_time_window")
                .and_then(|v| parse_time_window(v, "preferred_time_window", now, e)),
            budget: r
                .optional("budget")
                .and_then(|v| parse_money(v, "budget", e)),
            clarification_answer: r
                .optional_str("clarification_answer", e)
                .and_then(|v| text(v, "clarification_answer", 1, 2000, true, e)),
        };
        if object.contains_key("region") {
            e.add(
                "region",
                "not_editable",
                "the region cannot change: cancel and file a new request",
            );
        } else {
            r.reject_unknown(e);
        }
        if errors.is_empty() && patch == RequestPatch::default() {
            errors.add("", "empty_patch", "the body changes nothing");
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// Whether anything besides the clarification answer changes.
    pub fn changes_fields(&self) -> bool {
        RequestPatch {
            clarification_answer: None,
            ..self.clone()
        } != RequestPatch::default()
    }
}

// The bodies as the OpenAPI document shows them, beside their parsers; the tests hold each parser
// to its type (`check_parser_against_schema`).

/// `PATCH /requests/{id}`: at least one field; the region cannot change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPatchBody {
    #[schemars(length(min = 3, max = 200), regex(pattern = ONE_LINE))]
    pub title: Option<String>,
    #[schemars(length(min = 1, max = 5000), regex(pattern = MULTI_LINE))]
    pub description: Option<String>,
    #[schemars(regex(pattern = SLUG), length(min = 2, max = 64))]
    pub category: Option<String>,
    pub urgency: Option<Urgency>,
    #[schemars(length(min = 1, max = 100), regex(pattern = ONE_LINE))]
    pub city: Option<String>,
    #[schemars(length(min = 3, max = 300), regex(pattern = ONE_LINE))]
    pub address: Option<String>,
    pub preferred_time_window: Option<TimeWindowBody>,
    pub budget: Option<MoneyBody>,
    /// Only while the request is clarification_needed.
    #[schemars(length(min = 1, max = 2000), regex(pattern = MULTI_LINE))]
    pub clarification_answer: Option<String>,
}

/// `POST /requests/{id}/cancel`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[schemars(length(min = 1, max = 1000), regex(pattern = MULTI_LINE))]
    pub reason: String,
}

/// `POST /requests/{id}/clarification`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClarificationBody {
    #[schemars(length(min = 1, max = 2000), regex(pattern = MULTI_LINE))]
    pub question: String,
}

/// `POST /requests/{id}/assign`: one of the contractors the request was offered to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub contractor_id: Uuid,
}

/// `POST /requests/{id}/complete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionBody {
    #[schemars(length(min = 1, max = 5000), regex(pattern = MULTI_LINE))]
    pub completion_report: String,
    pub final_price: MoneyBody,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_parsers_follow_their_documented_bodies() {
        use crate::validation::check_parser_against_schema as check;
        let now = chrono::Utc::now();
        check::<RequestPatchBody>(|body| RequestPatch::parse(body, now).map(drop)).unwrap();
        check::<CancelBody>(|body| CancelInput::parse(body).map(drop)).unwrap();
        check::<ClarificationBody>(|body| ClarificationInput::parse(body).map(drop)).unwrap();
        check::<AssignBody>(|body| AssignInput::parse(body).map(drop)).unwrap();
        check::<CompletionBody>(|body| CompletionInput::parse(body).map(drop)).unwrap();
    }

    const REGION: &str = "moscow";

    fn parties(
        customer: Uuid,
        manager: Option<Uuid>,
        contractor: Option<Uuid>,
    ) -> RequestParties<'static> {
        RequestParties {
            customer_id: customer,
            region: REGION,
            manager_id: manager,
            contractor_id: contractor,
        }
    }

    #[test]
    fn each_command_is_allowed_to_its_roles_only() {
        let (customer, manager, contractor, other) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let regions = vec![REGION.to_owned()];
        let request = parties(customer, Some(manager), Some(contractor));
        let caller = |user_id, role, regions: &'static [String]| Caller {
            user_id,
            role,
            regions,
        };
        let regions: &'static [String] = Box::leak(regions.into_boxed_slice());
        for command in Command::ALL {
            let as_customer = decide(
                command,
                caller(customer, Role::Customer, &[]),
                &request,
                false,
            );
            let as_manager = decide(
                command,
                caller(manager, Role::Manager, regions),
                &request,
                false,
            );
            let as_contractor = decide(
                command,
                caller(contractor, Role::Contractor, &[]),
                &request,
                true,
            );
            let as_stranger = decide(command, caller(other, Role::Customer, &[]), &request, false);
            let as_admin = decide(command, caller(other, Role::Admin, &[]), &request, false);
            let allowed = |d: &Decision| *d == Decision::Allowed;
            use Command::*;
            assert_eq!(
                allowed(&as_customer),
                matches!(command, Update | Cancel),
                "{command:?} customer"
            );
            assert_eq!(
                allowed(&as_manager),
                matches!(
                    command,
                    Cancel | AskClarification | Dispatch | AssignContractor
                ),
                "{command:?} manager"
            );
            assert_eq!(
                allowed(&as_contractor),
                matches!(command, Accept | StartWork | CompleteWork),
                "{command:?} contractor"
            );
            assert_eq!(as_stranger, Decision::Hidden, "{command:?} stranger");
            assert!(
                matches!(as_admin, Decision::Forbidden(_)),
                "{command:?} admin sees but does not act"
            );
        }
    }

    #[test]
    fn contractors_see_offered_requests_and_others_do_not_exist_for_them() {
        let contractor = Uuid::now_v7();
        let request = parties(Uuid::now_v7(), Some(Uuid::now_v7()), None);
        let caller = Caller {
            user_id: contractor,
            role: Role::Contractor,
            regions: &[],
        };
        assert_eq!(
            decide(Command::Accept, caller, &request, true),
            Decision::Allowed
        );
        assert_eq!(
            decide(Command::Accept, caller, &request, false),
            Decision::Hidden
        );
        assert!(matches!(
            decide(Command::StartWork, caller, &request, true),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn a_manager_of_another_region_does_not_see_the_request() {
        let request = parties(Uuid::now_v7(), Some(Uuid::now_v7()), None);
        let regions = vec!["kazan".to_owned()];
        let caller = Caller {
            user_id: Uuid::now_v7(),
            role: Role::Manager,
            regions: &regions,
        };
        assert_eq!(
            decide(Command::Dispatch, caller, &request, false),
            Decision::Hidden
        );
    }

    #[test]
    fn single_field_bodies_report_missing_unknown_and_empty_fields() {
        assert_eq!(
            CancelInput::parse(&json!({"reason": "  передумал  "}))
                .unwrap()
                .reason,
            "передумал"
        );
        let errors = CancelInput::parse(&json!({"reason": " ", "why": 1})).unwrap_err();
        let codes: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(codes, [("reason", "empty"), ("why", "unknown_field")]);
        let errors = ClarificationInput::parse(&json!([])).unwrap_err();
        assert_eq!(errors.0[0].code, "invalid_type");
        assert_eq!(
            ClarificationInput::parse(&json!({})).unwrap_err().0[0].code,
            "required"
        );
    }

    #[test]
    fn assign_and_completion_bodies_parse_their_types() {
        let id = Uuid::now_v7();
        assert_eq!(
            AssignInput::parse(&json!({"contractor_id": id.to_string()})).unwrap(),
            AssignInput { contractor_id: id }
        );
        assert_eq!(
            AssignInput::parse(&json!({"contractor_id": "nope"}))
                .unwrap_err()
                .0[0]
                .code,
            "invalid_format"
        );
        let done = CompletionInput::parse(&json!({
            "completion_report": "Заменён компрессор",
            "final_price": {"amount_minor": 750000, "currency": "RUB"}
        }))
        .unwrap();
        assert_eq!(done.final_price.amount_minor, 750_000);
        let errors =
            CompletionInput::parse(&json!({"final_price": {"amount_minor": 0, "currency": "RUB"}}))
                .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["completion_report", "final_price.amount_minor"]);
    }

    #[test]
    fn a_patch_changes_something_and_never_the_region() {
        let now = Utc::now();
        let patch =
            RequestPatch::parse(&json!({"title": "Течёт кран", "urgency": "high"}), now).unwrap();
        assert_eq!(patch.title.unwrap().as_str(), "Течёт кран");
        assert_eq!(patch.urgency, Some(Urgency::High));
        assert_eq!(
            RequestPatch::parse(&json!({}), now).unwrap_err().0[0].code,
            "empty_patch"
        );
        assert_eq!(
            RequestPatch::parse(&json!({"region": "kazan"}), now)
                .unwrap_err()
                .0[0]
                .code,
            "not_editable"
        );
        let answer =
            RequestPatch::parse(&json!({"clarification_answer": "Bosch KGN39"}), now).unwrap();
        assert!(!answer.changes_fields());
        let errors = RequestPatch::parse(&json!({"title": "x", "colour": "red"}), now).unwrap_err();
        let codes: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(codes, [("title", "too_short"), ("colour", "unknown_field")]);
    }
}
