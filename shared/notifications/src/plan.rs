//! Who is told what about which event. Pure: the handler loads the request's parties
//! ([`RequestFacts`]) and each recipient's contacts; this module only decides.

use crate::templates::{Template, Vars};
use chrono::{DateTime, Utc};
use servicehub_domain::contractors::AssignmentRefusal;
use servicehub_domain::quiet_hours::QuietHours;
use servicehub_events::DomainEvent;
use servicehub_events::values::{DocumentKind, Money, NotificationChannel, RequestStatus, Role};
use uuid::Uuid;

/// What the database says about the request an event concerns (absent when it is not there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub request_id: Uuid,
    pub title: String,
    pub region: String,
    pub customer_id: Uuid,
    pub manager_id: Option<Uuid>,
    pub contractor_id: Option<Uuid>,
    /// The contractors the request was offered to (offers of a revoked contractor are gone).
    pub offered: Vec<Uuid>,
    /// What an offered contractor needs to decide (never the customer's contact details).
    pub offer: OfferFacts,
}

/// The request's status, category, city, time window and budget.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OfferFacts {
    pub status: String,
    pub category: String,
    pub city: String,
    pub preferred: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub budget: Option<Money>,
}

/// One message to one recipient, before the recipient's channels and language are known.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub recipient: Uuid,
    pub template: Template,
    /// With the recipient and the channel, what makes this message unique: the cause event's id,
    /// or a logical key when two events may lead to the same message (the manager's new-request
    /// notice follows `request.created` or `workflow.manager_assigned`, whichever comes with a
    /// manager first).
    pub dedup_key: String,
    pub request_id: Option<Uuid>,
    pub vars: Vars,
}

/// The request an event concerns, for [`RequestFacts`].
pub fn request_of(event: &DomainEvent) -> Option<Uuid> {
    match event {
        DomainEvent::RequestCreated(e) => Some(e.request_id),
        DomainEvent::RequestUpdated(e) => Some(e.request_id),
        DomainEvent::RequestCancelled(e) => Some(e.request_id),
        DomainEvent::RequestClarificationNeeded(e) => Some(e.request_id),
        DomainEvent::WorkStarted(e) => Some(e.request_id),
        DomainEvent::ManagerAssigned(e) => Some(e.request_id),
        DomainEvent::SentToContractors(e) => Some(e.request_id),
        DomainEvent::ContractorAssigned(e) => Some(e.request_id),
        DomainEvent::WorkCompleted(e) => Some(e.request_id),
        DomainEvent::AccessRevoked(e) => e.request_id,
        DomainEvent::DocumentCreated(e) => e.request_id,
        DomainEvent::DocumentSigned(e) => e.request_id,
        DomainEvent::PaymentProcessed(e) => Some(e.request_id),
        _ => None,
    }
}

fn money(m: &Money) -> String {
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    let abs = m.amount_minor.unsigned_abs();
    format!("{sign}{}.{:02} {}", abs / 100, abs % 100, m.currency)
}

/// The request's number in messages: the last 8 hex digits of its id. Ids are UUIDv7, whose
/// first digits are a timestamp (shared by every request of the same minute); the last ones are
/// random.
fn short(id: Uuid) -> String {
    let hex = id.simple().to_string();
    hex[hex.len() - 8..].to_owned()
}

/// Decides the messages `event` (with id `event_id`) causes. For `workflow.contractor_assigned`,
/// `assignee_refusal` is why security-check will revert the assignment (the same rule,
/// `servicehub_domain::contractors::assignment_refusal`, on the contractor as they stand now);
/// `None` when it will not, and for every other event.
pub fn plan(
    event_id: Uuid,
    event: &DomainEvent,
    request: Option<&RequestFacts>,
    assignee_refusal: Option<&AssignmentRefusal>,
) -> Vec<Intent> {
    let by_event = event_id.to_string();
    let title = |fallback: &str| {
        request
            .map(|r| r.title.clone())
            .unwrap_or_else(|| fallback.to_owned())
    };
    let request_vars = |request_id: Uuid, title: String| {
        let mut vars = Vars::new();
        vars.insert("request_id", request_id.to_string());
        vars.insert("request_ref", short(request_id));
        vars.insert("title", title);
        vars
    };
    let intent = |recipient: Uuid,
                  template: Template,
                  dedup_key: &str,
                  request_id: Option<Uuid>,
                  vars: Vars| Intent {
        recipient,
        template,
        dedup_key: dedup_key.to_owned(),
        request_id,
        vars,
    };
    let new_request_key = |request_id: Uuid| format!("new_request:{request_id}");
    match event {
        DomainEvent::RequestCreated(e) => {
            let mut vars = request_vars(e.request_id, e.title.clone());
            vars.insert("address", format!("{}, {}", e.city, e.address));
            vars.insert("urgency", e.urgency.as_str().to_owned());
            let mut out = vec![intent(
                e.customer_id,
                Template::RequestCreatedCustomer,
                &by_event,
                Some(e.request_id),
                vars.clone(),
            )];
            // The manager is told when one is assigned; if assign-manager was faster than us,
            // the request already names them (workflow.manager_assigned then finds the same key).
            if let Some(manager) = request.and_then(|r| r.manager_id) {
                out.push(intent(
                    manager,
                    Template::NewRequestManager,
                    &new_request_key(e.request_id),
                    Some(e.request_id),
                    vars,
                ));
            }
            out
        }
        DomainEvent::ManagerAssigned(e) => {
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("priority", e.priority.as_str().to_owned());
            vec![intent(
                e.manager_id,
                Template::NewRequestManager,
                &new_request_key(e.request_id),
                Some(e.request_id),
                vars,
            )]
        }
        DomainEvent::RequestClarificationNeeded(e) => {
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("question", e.question.clone());
            vec![intent(
                e.customer_id,
                Template::ClarificationNeededCustomer,
                &by_event,
                Some(e.request_id),
                vars,
            )]
        }
        DomainEvent::SentToContractors(e) => {
            // Offers are news only while the request still waits for a contractor: not once one
            // took it or it was cancelled (a late or redelivered event).
            let Some(facts) = request
                .filter(|r| r.offer.status == "sent_to_contractors" && r.contractor_id.is_none())
            else {
                return vec![];
            };
            let mut vars = request_vars(e.request_id, facts.title.clone());
            vars.insert("category", facts.offer.category.clone());
            vars.insert("region", facts.offer.city.clone());
            if let Some((from, to)) = facts.offer.preferred {
                vars.insert(
                    "window",
                    format!(
                        "{} – {} UTC",
                        from.format("%Y-%m-%d %H:%M"),
                        to.format("%Y-%m-%d %H:%M")
                    ),
                );
            }
            if let Some(budget) = &facts.offer.budget {
                vars.insert("budget", money(budget));
            }
            let mut out: Vec<Intent> = e
                .contractor_ids
                .iter()
                .map(|&contractor| {
                    intent(
                        contractor,
                        Template::OfferContractor,
                        &by_event,
                        Some(e.request_id),
                        vars.clone(),
                    )
                })
                .collect();
            // The customer learns their request is with contractors (no contractor named).
            out.push(intent(
                facts.customer_id,
                Template::DispatchedCustomer,
                &by_event,
                Some(e.request_id),
                request_vars(e.request_id, facts.title.clone()),
            ));
            out
        }
        DomainEvent::ContractorAssigned(e) => {
            // Announced only while it stands: not when security-check reverts it (the
            // contractor hears of that from security.access_revoked), nor once the request no
            // longer has this contractor (reverted before we got here).
            let current = request.is_some_and(|r| r.contractor_id == Some(e.contractor_id));
            if !current || assignee_refusal.is_some() {
                return vec![];
            }
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("region", e.region.clone());
            vars.insert("category", e.category.clone());
            let mut out = vec![
                intent(
                    e.contractor_id,
                    Template::ContractorAssignedContractor,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ),
                intent(
                    e.customer_id,
                    Template::ContractorAssignedCustomer,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ),
            ];
            // A contractor accepting an offer: the manager hears of it (a manager who picked the
            // contractor knows).
            if e.assigned_by.role == Some(Role::Contractor) {
                out.push(intent(
                    e.manager_id,
                    Template::ContractorAcceptedManager,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ));
            }
            // The other offered contractors: the offer is gone.
            for &other in request
                .iter()
                .flat_map(|r| &r.offered)
                .filter(|&&c| c != e.contractor_id)
            {
                out.push(intent(
                    other,
                    Template::OfferTakenContractor,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ));
            }
            out
        }
        DomainEvent::WorkStarted(e) => {
            // Only while this contractor holds the request (not a late event of a revert).
            let Some(facts) = request.filter(|r| r.contractor_id == Some(e.contractor_id)) else {
                return vec![];
            };
            vec![intent(
                facts.customer_id,
                Template::WorkStartedCustomer,
                &by_event,
                Some(e.request_id),
                request_vars(e.request_id, facts.title.clone()),
            )]
        }
        DomainEvent::RequestUpdated(e) => {
            // A plain edit is the customer's own business; an answer to a manager's question is
            // the manager's.
            let (Some(answer), Some(manager)) =
                (&e.clarification_answer, request.and_then(|r| r.manager_id))
            else {
                return vec![];
            };
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("answer", answer.clone());
            vec![intent(
                manager,
                Template::ClarificationAnsweredManager,
                &by_event,
                Some(e.request_id),
                vars,
            )]
        }
        DomainEvent::RequestCancelled(e) => {
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("reason", e.reason.clone());
            let by = e.cancelled_by.user_id;
            let mut out = Vec::new();
            if by != Some(e.customer_id) {
                out.push(intent(
                    e.customer_id,
                    Template::CancelledCustomer,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ));
            }
            let Some(facts) = request else {
                return out;
            };
            if let Some(manager) = facts.manager_id.filter(|m| by != Some(*m)) {
                out.push(intent(
                    manager,
                    Template::CancelledManager,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ));
            }
            // Whoever was offered it or holds it: the work is off.
            let mut contractors: Vec<Uuid> = facts.contractor_id.into_iter().collect();
            if e.previous_status == RequestStatus::SentToContractors {
                contractors.extend(facts.offered.iter().copied());
            }
            contractors.sort();
            contractors.dedup();
            for contractor in contractors {
                out.push(intent(
                    contractor,
                    Template::CancelledContractor,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ));
            }
            out
        }
        DomainEvent::WorkCompleted(e) => {
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("report", e.completion_report.clone());
            vars.insert("price", money(&e.final_price));
            vars.insert("contractor_id", e.contractor_id.to_string());
            vec![
                intent(
                    e.customer_id,
                    Template::WorkCompletedCustomer,
                    &by_event,
                    Some(e.request_id),
                    vars.clone(),
                ),
                intent(
                    e.manager_id,
                    Template::WorkCompletedManager,
                    &by_event,
                    Some(e.request_id),
                    vars,
                ),
            ]
        }
        DomainEvent::ContractorVerified(e) => {
            let mut vars = Vars::new();
            vars.insert("regions", e.regions.join(", "));
            vars.insert("categories", e.categories.join(", "));
            vec![intent(
                e.contractor_id,
                Template::ContractorVerified,
                &by_event,
                None,
                vars,
            )]
        }
        DomainEvent::ContractorRejected(e) => {
            let mut vars = Vars::new();
            vars.insert("reason", e.reason.clone());
            vec![intent(
                e.contractor_id,
                Template::ContractorRejected,
                &by_event,
                None,
                vars,
            )]
        }
        DomainEvent::AccessRevoked(e) => {
            let mut vars = match e.request_id {
                Some(id) => request_vars(id, title(&short(id))),
                None => Vars::new(),
            };
            vars.insert("reason", e.reason.clone());
            // The check's refusals are worded per language from their code (and the region).
            if let Some(code) = &e.reason_code {
                vars.insert("reason_code", code.clone());
            }
            if let Some(r) = request {
                vars.insert("region", r.region.clone());
            }
            let mut out = vec![intent(
                e.contractor_id,
                Template::AccessRevoked,
                &by_event,
                e.request_id,
                vars.clone(),
            )];
            // security-check took the request from the contractor: its manager learns that it
            // waits for a contractor again. (When the request had moved on, to in_progress or
            // cancelled, the check reverts nothing and the contractor still holds it.)
            if let (Some(request_id), Some(r)) = (e.request_id, request)
                && r.contractor_id != Some(e.contractor_id)
                && let Some(manager) = r.manager_id
            {
                out.push(intent(
                    manager,
                    Template::AssignmentWithdrawnManager,
                    &by_event,
                    Some(request_id),
                    vars,
                ));
            }
            out
        }
        DomainEvent::DocumentCreated(e) => {
            let mut vars = match e.request_id {
                Some(id) => request_vars(id, title(&short(id))),
                None => Vars::new(),
            };
            vars.insert("document_id", e.document_id.to_string());
            vars.insert("document_kind", e.kind.as_str().to_owned());
            if let Some(amount) = &e.amount {
                vars.insert("amount", money(amount));
            }
            let mut recipients = vec![e.contractor_id];
            // The customer signs the act of completed work; a payment order is between HR and the contractor.
            if e.kind == DocumentKind::CompletionAct {
                recipients.extend(e.customer_id);
            }
            recipients
                .into_iter()
                .map(|r| {
                    intent(
                        r,
                        Template::DocumentCreated,
                        &by_event,
                        e.request_id,
                        vars.clone(),
                    )
                })
                .collect()
        }
        DomainEvent::DocumentSigned(e) => {
            let mut vars = match e.request_id {
                Some(id) => request_vars(id, title(&short(id))),
                None => Vars::new(),
            };
            vars.insert("document_id", e.document_id.to_string());
            vars.insert("document_kind", e.kind.as_str().to_owned());
            vars.insert("signer_role", e.signer_role.as_str().to_owned());
            // The parties of the request's document: its customer and its contractor.
            let parties: Vec<Uuid> = request
                .into_iter()
                .flat_map(|r| [Some(r.customer_id), r.contractor_id])
                .flatten()
                .collect();
            if e.fully_signed {
                parties
                    .into_iter()
                    .map(|p| {
                        intent(
                            p,
                            Template::DocumentFullySigned,
                            &by_event,
                            e.request_id,
                            vars.clone(),
                        )
                    })
                    .collect()
            } else {
                // The other party is asked to sign too.
                parties
                    .into_iter()
                    .filter(|p| *p != e.signed_by)
                    .map(|p| {
                        intent(
                            p,
                            Template::DocumentAwaitsSignature,
                            &by_event,
                            e.request_id,
                            vars.clone(),
                        )
                    })
                    .collect()
            }
        }
        DomainEvent::ContractGenerated(e) => {
            let mut vars = Vars::new();
            vars.insert("document_id", e.document_id.to_string());
            vars.insert("valid_from", e.valid_from.format("%Y-%m-%d").to_string());
            vec![intent(
                e.contractor_id,
                Template::ContractGenerated,
                &by_event,
                None,
                vars,
            )]
        }
        DomainEvent::PaymentProcessed(e) => {
            let mut vars = request_vars(e.request_id, title(&short(e.request_id)));
            vars.insert("amount", money(&e.amount));
            vec![intent(
                e.contractor_id,
                Template::PaymentProcessed,
                &by_event,
                Some(e.request_id),
                vars,
            )]
        }
        _ => vec![],
    }
}

/// What a recipient's row says about reaching them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub user_id: Uuid,
    pub role: Option<Role>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub telegram_chat_id: Option<i64>,
    /// In the user's order of preference.
    pub channels: Vec<NotificationChannel>,
    /// The channels whose current address is proved (by its owner's code, or vouched for by an
    /// admin): the only ones that get anything but a verification code.
    pub verified: Vec<NotificationChannel>,
    pub language: Language,
    /// Messages that can wait are held back during them.
    pub quiet_hours: Option<QuietHours>,
    pub active: bool,
}

/// Where one message goes on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Email(String),
    Telegram(i64),
    Sms(String),
}

impl Address {
    pub fn channel(&self) -> NotificationChannel {
        match self {
            Address::Email(_) => NotificationChannel::Email,
            Address::Telegram(_) => NotificationChannel::Telegram,
            Address::Sms(_) => NotificationChannel::Sms,
        }
    }
}

/// The address the account holds on `channel`, proved or not.
pub fn address_on(contact: &Contact, channel: NotificationChannel) -> Option<Address> {
    match channel {
        NotificationChannel::Email => contact.email.clone().map(Address::Email),
        NotificationChannel::Telegram => contact.telegram_chat_id.map(Address::Telegram),
        NotificationChannel::Sms => contact.phone.clone().map(Address::Sms),
    }
}

/// The user's preferred channels they can actually be reached on (an address they proved); when
/// none of them is usable (no chat id yet, a phone not proved), e-mail if it is proved. Empty: the
/// user cannot be reached.
pub fn addresses(contact: &Contact) -> Vec<Address> {
    let usable = |channel: NotificationChannel| {
        if !contact.verified.contains(&channel) {
            return None;
        }
        address_on(contact, channel)
    };
    let mut out: Vec<Address> = Vec::new();
    for channel in &contact.channels {
        if let Some(address) = usable(*channel)
            && !out.iter().any(|a| a.channel() == address.channel())
        {
            out.push(address);
        }
    }
    if out.is_empty() {
        out.extend(usable(NotificationChannel::Email));
    }
    out
}

/// The languages templates exist in.
pub use servicehub_events::values::Language;

#[cfg(test)]
mod tests {
    use super::*;
    use servicehub_events::catalog::*;
    use servicehub_events::values::{Actor, Priority, Urgency};

    fn ids() -> (Uuid, Uuid, Uuid, Uuid, Uuid) {
        (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        )
    }

    fn created(request: Uuid, customer: Uuid) -> DomainEvent {
        RequestCreated {
            request_id: request,
            customer_id: customer,
            title: "Не работает холодильник".into(),
            description: "Не морозит".into(),
            category: "appliance-repair".into(),
            urgency: Urgency::Urgent,
            region: "Москва".into(),
            city: "Москва".into(),
            address: "ул. Ленина, 1".into(),
            preferred_time_window: None,
            budget: None,
            created_at: Utc::now(),
        }
        .into()
    }

    fn who(intents: &[Intent]) -> Vec<(Uuid, Template)> {
        intents.iter().map(|i| (i.recipient, i.template)).collect()
    }

    /// The fridge request in Москва, as the database has it.
    fn facts(
        request: Uuid,
        customer: Uuid,
        manager: Option<Uuid>,
        contractor: Option<Uuid>,
    ) -> RequestFacts {
        RequestFacts {
            request_id: request,
            title: "Не работает холодильник".into(),
            region: "Москва".into(),
            customer_id: customer,
            manager_id: manager,
            contractor_id: contractor,
            offered: vec![],
            offer: OfferFacts {
                status: "manager_assigned".into(),
                category: "Ремонт техники".into(),
                city: "Москва".into(),
                preferred: None,
                budget: None,
            },
        }
    }

    #[test]
    fn request_created_confirms_to_the_customer_and_tells_the_manager_once_there_is_one() {
        let (event, request, customer, manager, _) = ids();
        let intents = plan(event, &created(request, customer), None, None);
        assert_eq!(
            who(&intents),
            [(customer, Template::RequestCreatedCustomer)]
        );
        assert_eq!(intents[0].dedup_key, event.to_string());
        assert_eq!(intents[0].vars["title"], "Не работает холодильник");

        let facts = facts(request, customer, Some(manager), None);
        let intents = plan(event, &created(request, customer), Some(&facts), None);
        assert_eq!(
            who(&intents),
            [
                (customer, Template::RequestCreatedCustomer),
                (manager, Template::NewRequestManager)
            ]
        );
        // The same notice from workflow.manager_assigned has the same key: sent once.
        let assigned = ManagerAssigned {
            request_id: request,
            manager_id: manager,
            customer_id: customer,
            region: "Москва".into(),
            priority: Priority::Critical,
            reason: "least loaded".into(),
            assigned_at: Utc::now(),
        };
        let from_assignment = plan(Uuid::now_v7(), &assigned.into(), Some(&facts), None);
        assert_eq!(
            who(&from_assignment),
            [(manager, Template::NewRequestManager)]
        );
        assert_eq!(from_assignment[0].dedup_key, intents[1].dedup_key);
    }

    #[test]
    fn an_offer_reaches_every_offered_contractor_with_what_they_need_while_it_is_open() {
        let (event, request, customer, manager, ivan) = ids();
        let pyotr = Uuid::now_v7();
        let sent = DomainEvent::SentToContractors(SentToContractors {
            request_id: request,
            manager_id: manager,
            contractor_ids: vec![ivan, pyotr],
            region: "Москва".into(),
            category: "Ремонт техники".into(),
            sent_at: Utc::now(),
        });
        let mut open = facts(request, customer, Some(manager), None);
        open.offer.status = "sent_to_contractors".into();
        let from = Utc::now() + chrono::Duration::days(3);
        open.offer.preferred = Some((from, from + chrono::Duration::hours(3)));
        open.offer.budget = Some(Money {
            amount_minor: 500_000,
            currency: "RUB".into(),
        });
        let intents = plan(event, &sent, Some(&open), None);
        assert_eq!(
            who(&intents),
            [
                (ivan, Template::OfferContractor),
                (pyotr, Template::OfferContractor),
                (customer, Template::DispatchedCustomer)
            ]
        );
        let vars = &intents[0].vars;
        assert_eq!(vars["category"], "Ремонт техники");
        assert_eq!(vars["region"], "Москва");
        assert_eq!(vars["budget"], "5000.00 RUB");
        assert!(vars["window"].ends_with(" UTC"), "{vars:?}");
        assert!(
            !vars.contains_key("address"),
            "no customer contact details before assignment"
        );
        let text = crate::templates::render(Template::OfferContractor, Language::En, "Ivan", vars);
        assert!(text.body.contains("5000.00 RUB"), "{text:?}");

        // Taken by someone, cancelled, or gone: no offer goes out (a late or replayed event).
        let mut taken = open.clone();
        taken.contractor_id = Some(ivan);
        taken.offer.status = "contractor_assigned".into();
        let mut cancelled = open.clone();
        cancelled.offer.status = "cancelled".into();
        for facts in [Some(&taken), Some(&cancelled), None] {
            assert_eq!(plan(event, &sent, facts, None), vec![]);
        }
        // Without a window or a budget the message says so rather than leaving a blank.
        open.offer.preferred = None;
        open.offer.budget = None;
        let intents = plan(event, &sent, Some(&open), None);
        let text = crate::templates::render(
            Template::OfferContractor,
            Language::Ru,
            "Иван",
            &intents[0].vars,
        );
        assert!(
            text.body.contains("по договорённости") && text.body.contains("не указан"),
            "{text:?}"
        );
    }

    #[test]
    fn contractor_assigned_tells_the_contractor_and_the_customer_while_the_assignment_stands() {
        let (event, request, customer, manager, contractor) = ids();
        let assigned: DomainEvent = ContractorAssigned {
            request_id: request,
            contractor_id: contractor,
            manager_id: manager,
            customer_id: customer,
            region: "Москва".into(),
            category: "appliance-repair".into(),
            assigned_by: Actor::user(manager, Role::Manager),
            assigned_at: Utc::now(),
        }
        .into();
        let facts = |holder| facts(request, customer, Some(manager), holder);
        let intents = plan(event, &assigned, Some(&facts(Some(contractor))), None);
        assert_eq!(
            who(&intents),
            [
                (contractor, Template::ContractorAssignedContractor),
                (customer, Template::ContractorAssignedCustomer)
            ]
        );
        // security-check will revert it (same rule): nobody is told of it.
        let refused = AssignmentRefusal::VerificationRejected;
        assert!(
            plan(
                event,
                &assigned,
                Some(&facts(Some(contractor))),
                Some(&refused)
            )
            .is_empty()
        );
        // Reverted already, or taken by someone else since, or the request is gone: not either.
        for holder in [None, Some(Uuid::now_v7())] {
            assert!(plan(event, &assigned, Some(&facts(holder)), None).is_empty());
        }
        assert!(plan(event, &assigned, None, None).is_empty());
    }

    #[test]
    fn an_acceptance_tells_the_manager_and_withdraws_the_others_offers() {
        let (event, request, customer, manager, contractor) = ids();
        let other = Uuid::now_v7();
        let accepted: DomainEvent = ContractorAssigned {
            request_id: request,
            contractor_id: contractor,
            manager_id: manager,
            customer_id: customer,
            region: "Москва".into(),
            category: "appliance-repair".into(),
            assigned_by: Actor::user(contractor, Role::Contractor),
            assigned_at: Utc::now(),
        }
        .into();
        let mut held = facts(request, customer, Some(manager), Some(contractor));
        held.offered = vec![contractor, other];
        assert_eq!(
            who(&plan(event, &accepted, Some(&held), None)),
            [
                (contractor, Template::ContractorAssignedContractor),
                (customer, Template::ContractorAssignedCustomer),
                (manager, Template::ContractorAcceptedManager),
                (other, Template::OfferTakenContractor)
            ]
        );
    }

    #[test]
    fn the_customer_hears_the_work_start_while_the_contractor_holds_it() {
        let (event, request, customer, manager, contractor) = ids();
        let started: DomainEvent = WorkStarted {
            request_id: request,
            contractor_id: contractor,
            started_at: Utc::now(),
        }
        .into();
        let held = facts(request, customer, Some(manager), Some(contractor));
        assert_eq!(
            who(&plan(event, &started, Some(&held), None)),
            [(customer, Template::WorkStartedCustomer)]
        );
        let elsewhere = facts(request, customer, Some(manager), Some(Uuid::now_v7()));
        assert!(plan(event, &started, Some(&elsewhere), None).is_empty());
        assert!(plan(event, &started, None, None).is_empty());
    }

    #[test]
    fn an_answer_to_a_question_reaches_the_manager_and_a_plain_edit_nobody() {
        let (event, request, customer, manager, _) = ids();
        let updated = |answer: Option<&str>| -> DomainEvent {
            RequestUpdated {
                request_id: request,
                customer_id: customer,
                changes: RequestChanges::default(),
                clarification_answer: answer.map(str::to_owned),
                updated_at: Utc::now(),
            }
            .into()
        };
        let held = facts(request, customer, Some(manager), None);
        let intents = plan(event, &updated(Some("Bosch KGN")), Some(&held), None);
        assert_eq!(
            who(&intents),
            [(manager, Template::ClarificationAnsweredManager)]
        );
        assert_eq!(intents[0].vars["answer"], "Bosch KGN");
        assert!(plan(event, &updated(None), Some(&held), None).is_empty());
    }

    #[test]
    fn a_cancellation_reaches_every_party_but_the_one_who_cancelled() {
        let (event, request, customer, manager, contractor) = ids();
        let (offered_a, offered_b) = (Uuid::now_v7(), Uuid::now_v7());
        let cancelled = |by: Actor, previous: RequestStatus| -> DomainEvent {
            RequestCancelled {
                request_id: request,
                customer_id: customer,
                cancelled_by: by,
                previous_status: previous,
                reason: "передумал".into(),
                cancelled_at: Utc::now(),
            }
            .into()
        };
        // Cancelled by the customer while offered to two contractors.
        let mut offered = facts(request, customer, Some(manager), None);
        offered.offered = vec![offered_a, offered_b];
        let mut expected = vec![
            (manager, Template::CancelledManager),
            (offered_a, Template::CancelledContractor),
            (offered_b, Template::CancelledContractor),
        ];
        expected[1..].sort_by_key(|(id, _)| *id);
        let by_customer = Actor::user(customer, Role::Customer);
        let intents = plan(
            event,
            &cancelled(by_customer, RequestStatus::SentToContractors),
            Some(&offered),
            None,
        );
        assert_eq!(who(&intents), expected);
        assert_eq!(intents[0].vars["reason"], "передумал");
        // Cancelled by the manager once a contractor held it: the customer and the contractor
        // (not the contractors offered before).
        let mut held = facts(request, customer, Some(manager), Some(contractor));
        held.offered = vec![contractor, offered_a];
        let by_manager = Actor::user(manager, Role::Manager);
        assert_eq!(
            who(&plan(
                event,
                &cancelled(by_manager, RequestStatus::ContractorAssigned),
                Some(&held),
                None
            )),
            [
                (customer, Template::CancelledCustomer),
                (contractor, Template::CancelledContractor)
            ]
        );
    }

    #[test]
    fn work_completed_tells_the_customer_and_reports_to_the_manager() {
        let (event, request, customer, manager, contractor) = ids();
        let completed = WorkCompleted {
            request_id: request,
            contractor_id: contractor,
            manager_id: manager,
            customer_id: customer,
            completion_report: "Заменён компрессор".into(),
            final_price: Money {
                amount_minor: 1_250_050,
                currency: "RUB".into(),
            },
            completed_at: Utc::now(),
        };
        let intents = plan(event, &completed.into(), None, None);
        assert_eq!(
            who(&intents),
            [
                (customer, Template::WorkCompletedCustomer),
                (manager, Template::WorkCompletedManager)
            ]
        );
        assert_eq!(intents[1].vars["price"], "12500.50 RUB");
        assert_eq!(intents[1].vars["report"], "Заменён компрессор");
    }

    #[test]
    fn signatures_reach_the_other_party_then_both() {
        let (event, request, customer, _, contractor) = ids();
        let facts = facts(request, customer, None, Some(contractor));
        let signed = |by: Uuid, fully: bool| -> DomainEvent {
            DocumentSigned {
                document_id: Uuid::now_v7(),
                kind: DocumentKind::CompletionAct,
                request_id: Some(request),
                signed_by: by,
                signer_role: Role::Contractor,
                fully_signed: fully,
                signed_at: Utc::now(),
            }
            .into()
        };
        assert_eq!(
            who(&plan(event, &signed(contractor, false), Some(&facts), None)),
            [(customer, Template::DocumentAwaitsSignature)]
        );
        assert_eq!(
            who(&plan(event, &signed(customer, true), Some(&facts), None)),
            [
                (customer, Template::DocumentFullySigned),
                (contractor, Template::DocumentFullySigned)
            ]
        );
    }

    #[test]
    fn security_and_hr_decisions_reach_the_contractor() {
        let (event, _, _, officer, contractor) = ids();
        let rejected = ContractorRejected {
            contractor_id: contractor,
            rejected_by: officer,
            reason: "документы недействительны".into(),
            rejected_at: Utc::now(),
        };
        let intents = plan(event, &rejected.into(), None, None);
        assert_eq!(who(&intents), [(contractor, Template::ContractorRejected)]);
        assert_eq!(intents[0].vars["reason"], "документы недействительны");
        let status = StatusChanged {
            request_id: Uuid::now_v7(),
            from: None,
            to: servicehub_events::values::RequestStatus::New,
            actor: Actor::system("x"),
            reason: None,
            changed_at: Utc::now(),
        };
        assert!(plan(event, &status.into(), None, None).is_empty());
    }

    #[test]
    fn requests_of_the_same_minute_have_different_numbers() {
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        assert_ne!(short(first), short(second));
        let id = Uuid::parse_str("0190a5a4-7b1e-7cc0-8a2b-4c1d2e3f4a5b").unwrap();
        assert_eq!(short(id), "2e3f4a5b");
        let intents = plan(first, &created(id, Uuid::now_v7()), None, None);
        assert_eq!(intents[0].vars["request_ref"], "2e3f4a5b");
    }

    #[test]
    fn an_access_revoked_by_the_check_carries_its_refusal_code_and_the_region() {
        let (event, request, customer, _, contractor) = ids();
        let revoked = |reason_code: Option<&str>| -> DomainEvent {
            AccessRevoked {
                contractor_id: contractor,
                revoked_by: Actor::system("security-check"),
                request_id: Some(request),
                reason: "the contractor is not verified (rejected)".into(),
                reason_code: reason_code.map(str::to_owned),
                revoked_at: Utc::now(),
            }
            .into()
        };
        let facts = facts(request, customer, None, None);
        let intents = plan(
            event,
            &revoked(Some("verification_rejected")),
            Some(&facts),
            None,
        );
        assert_eq!(who(&intents), [(contractor, Template::AccessRevoked)]);
        let vars = &intents[0].vars;
        assert_eq!(vars["reason_code"], "verification_rejected");
        assert_eq!(vars["reason"], "the contractor is not verified (rejected)");
        assert_eq!(vars["region"], "Москва");
        // An event from before the codes, or an officer's decision: the reason as it is.
        let intents = plan(event, &revoked(None), Some(&facts), None);
        assert!(!intents[0].vars.contains_key("reason_code"));
    }

    #[test]
    fn a_reverted_assignment_is_reported_to_the_requests_manager() {
        let (event, request, customer, manager, contractor) = ids();
        let revoked = |request_id: Option<Uuid>| -> DomainEvent {
            AccessRevoked {
                contractor_id: contractor,
                revoked_by: Actor::system("security-check"),
                request_id,
                reason: "the contractor's access is revoked".into(),
                reason_code: Some("access_revoked".into()),
                revoked_at: Utc::now(),
            }
            .into()
        };
        let facts = |holder| facts(request, customer, Some(manager), holder);
        let intents = plan(event, &revoked(Some(request)), Some(&facts(None)), None);
        assert_eq!(
            who(&intents),
            [
                (contractor, Template::AccessRevoked),
                (manager, Template::AssignmentWithdrawnManager)
            ]
        );
        assert_eq!(intents[1].dedup_key, event.to_string());
        assert_eq!(intents[1].request_id, Some(request));
        assert_eq!(intents[1].vars["reason_code"], "access_revoked");
        assert_eq!(intents[1].vars["title"], "Не работает холодильник");
        // The check found the request moved on and reverted nothing: the contractor keeps it,
        // so there is nothing to tell the manager.
        let kept = plan(
            event,
            &revoked(Some(request)),
            Some(&facts(Some(contractor))),
            None,
        );
        assert_eq!(who(&kept), [(contractor, Template::AccessRevoked)]);
        // An officer's revocation names no request.
        assert_eq!(
            who(&plan(event, &revoked(None), None, None)),
            [(contractor, Template::AccessRevoked)]
        );
    }

    fn contact(channels: &[NotificationChannel]) -> Contact {
        Contact {
            user_id: Uuid::now_v7(),
            role: Some(Role::Contractor),
            display_name: "Иван".into(),
            email: Some("ivan@example.test".into()),
            phone: None,
            telegram_chat_id: Some(42),
            channels: channels.to_vec(),
            verified: vec![
                NotificationChannel::Email,
                NotificationChannel::Telegram,
                NotificationChannel::Sms,
            ],
            language: Language::Ru,
            quiet_hours: None,
            active: true,
        }
    }

    #[test]
    fn addresses_follow_preferences_and_fall_back_to_email() {
        use NotificationChannel::*;
        assert_eq!(
            addresses(&contact(&[Telegram, Email])),
            [
                Address::Telegram(42),
                Address::Email("ivan@example.test".into())
            ]
        );
        // No phone: SMS is impossible, e-mail is the fallback.
        assert_eq!(
            addresses(&contact(&[Sms])),
            [Address::Email("ivan@example.test".into())]
        );
        let mut unreachable = contact(&[Sms]);
        unreachable.email = None;
        assert!(addresses(&unreachable).is_empty());
    }

    #[test]
    fn only_proved_addresses_are_used() {
        use NotificationChannel::*;
        let mut claimed = contact(&[Telegram, Email]);
        claimed.verified = vec![Email];
        assert_eq!(
            addresses(&claimed),
            [Address::Email("ivan@example.test".into())]
        );
        // The preferred chat is not proved and neither is the e-mail: nobody to send to.
        claimed.verified = vec![];
        assert!(addresses(&claimed).is_empty());
        // The fallback is a proved e-mail only.
        claimed.channels = vec![Telegram];
        claimed.verified = vec![Telegram];
        assert_eq!(addresses(&claimed), [Address::Telegram(42)]);
    }
}
