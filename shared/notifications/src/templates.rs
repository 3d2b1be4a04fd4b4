//! One small template per message kind and language (ru, en), rendered in code: a subject (the
//! e-mail subject, the first line in Telegram, the whole SMS) and a plain-text body.

use crate::plan::Language;
use servicehub_domain::contractors::RefusalCode;
use std::collections::BTreeMap;

/// The values a template fills in, by name.
pub type Vars = BTreeMap<&'static str, String>;

/// Every kind of message, named `<what happened>.<who is told>` in events and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    RequestCreatedCustomer,
    NewRequestManager,
    ClarificationNeededCustomer,
    OfferContractor,
    ContractorAssignedContractor,
    ContractorAssignedCustomer,
    WorkCompletedCustomer,
    WorkCompletedManager,
    ContractorVerified,
    ContractorRejected,
    AccessRevoked,
    AssignmentWithdrawnManager,
    DocumentCreated,
    DocumentAwaitsSignature,
    DocumentFullySigned,
    ContractGenerated,
    PaymentProcessed,
    DispatchedCustomer,
    ContractorAcceptedManager,
    OfferTakenContractor,
    WorkStartedCustomer,
    ClarificationAnsweredManager,
    CancelledCustomer,
    CancelledManager,
    CancelledContractor,
    /// The code proving a contact: the only message a contact gets before it is proved, so it
    /// carries no text anyone could choose (no name, no request).
    ContactCode,
}

impl Template {
    pub const ALL: [Template; 26] = [
        Template::RequestCreatedCustomer,
        Template::NewRequestManager,
        Template::ClarificationNeededCustomer,
        Template::OfferContractor,
        Template::ContractorAssignedContractor,
        Template::ContractorAssignedCustomer,
        Template::WorkCompletedCustomer,
        Template::WorkCompletedManager,
        Template::ContractorVerified,
        Template::ContractorRejected,
        Template::AccessRevoked,
        Template::AssignmentWithdrawnManager,
        Template::DocumentCreated,
        Template::DocumentAwaitsSignature,
        Template::DocumentFullySigned,
        Template::ContractGenerated,
        Template::PaymentProcessed,
        Template::DispatchedCustomer,
        Template::ContractorAcceptedManager,
        Template::OfferTakenContractor,
        Template::WorkStartedCustomer,
        Template::ClarificationAnsweredManager,
        Template::CancelledCustomer,
        Template::CancelledManager,
        Template::CancelledContractor,
        Template::ContactCode,
    ];

    /// Whether the message goes out even during the recipient's quiet hours: a code, which its
    /// owner is waiting for. Everything else waits for the window's end.
    pub const fn ignores_quiet_hours(self) -> bool {
        matches!(self, Template::ContactCode)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Template::RequestCreatedCustomer => "request_created.customer",
            Template::NewRequestManager => "request_created.manager",
            Template::ClarificationNeededCustomer => "clarification_needed.customer",
            Template::OfferContractor => "offer.contractor",
            Template::ContractorAssignedContractor => "contractor_assigned.contractor",
            Template::ContractorAssignedCustomer => "contractor_assigned.customer",
            Template::WorkCompletedCustomer => "work_completed.customer",
            Template::WorkCompletedManager => "work_completed.manager",
            Template::ContractorVerified => "contractor_verified.contractor",
            Template::ContractorRejected => "contractor_rejected.contractor",
            Template::AccessRevoked => "access_revoked.contractor",
            Template::AssignmentWithdrawnManager => "access_revoked.manager",
            Template::DocumentCreated => "document_created.party",
            Template::DocumentAwaitsSignature => "document_signed.other_party",
            Template::DocumentFullySigned => "document_signed.parties",
            Template::ContractGenerated => "contract_generated.contractor",
            Template::PaymentProcessed => "payment_processed.contractor",
            Template::DispatchedCustomer => "sent_to_contractors.customer",
            Template::ContractorAcceptedManager => "contractor_assigned.manager",
            Template::OfferTakenContractor => "offer_taken.contractor",
            Template::WorkStartedCustomer => "work_started.customer",
            Template::ClarificationAnsweredManager => "clarification_answered.manager",
            Template::CancelledCustomer => "request_cancelled.customer",
            Template::CancelledManager => "request_cancelled.manager",
            Template::CancelledContractor => "request_cancelled.contractor",
            Template::ContactCode => "contact_code",
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    /// The SMS text when it is not the subject (a code, which the subject must not carry: the
    /// subject is in `notification.email.sent` and so in the audit log).
    pub sms: Option<String>,
}

impl Rendered {
    /// The Telegram text: the subject, a blank line, the body.
    pub fn telegram_text(&self) -> String {
        format!("{}\n\n{}", self.subject, self.body)
    }

    /// The SMS text: short, the subject only.
    pub fn sms_text(&self) -> String {
        if let Some(sms) = &self.sms {
            return sms.clone();
        }
        format!("servicehub: {}", self.subject)
    }
}

fn document_kind(kind: &str, language: Language) -> &'static str {
    match (kind, language) {
        ("contract", Language::Ru) => "договор",
        ("contract", Language::En) => "contract",
        ("completion_act", Language::Ru) => "акт выполненных работ",
        ("completion_act", Language::En) => "act of completed work",
        ("payment_order", Language::Ru) => "платёжный документ",
        ("payment_order", Language::En) => "payment document",
        (_, Language::Ru) => "документ",
        (_, Language::En) => "document",
    }
}

/// The reason a message gives: the assignment check's refusal (`reason_code`) worded in
/// `language`, else `reason` as given (a security officer's own words, in whatever language they
/// wrote them).
fn reason(vars: &Vars, language: Language) -> String {
    let v = |key: &str| vars.get(key).map(String::as_str).unwrap_or("");
    let Some(code) = RefusalCode::parse(v("reason_code")) else {
        return v("reason").to_owned();
    };
    let region = v("region");
    use Language::{En, Ru};
    use RefusalCode::*;
    match (code, language) {
        (UnknownUser, Ru) => "исполнитель не найден".to_owned(),
        (UnknownUser, En) => "the contractor does not exist".to_owned(),
        (NotAContractor, Ru) => "назначенный пользователь не исполнитель".to_owned(),
        (NotAContractor, En) => "the assignee is not a contractor".to_owned(),
        (AccountDisabled, Ru) => "учётная запись исполнителя отключена".to_owned(),
        (AccountDisabled, En) => "the contractor's account is disabled".to_owned(),
        (VerificationPending, Ru) => {
            "профиль исполнителя ещё не проверен службой безопасности".to_owned()
        }
        (VerificationPending, En) => {
            "security has not verified the contractor's profile yet".to_owned()
        }
        (VerificationRejected, Ru) => {
            "профиль исполнителя не прошёл проверку службы безопасности".to_owned()
        }
        (VerificationRejected, En) => {
            "the contractor's profile did not pass the security check".to_owned()
        }
        (AccessRevoked, Ru) => "доступ исполнителя к заявкам отозван".to_owned(),
        (AccessRevoked, En) => "the contractor's access to requests is revoked".to_owned(),
        (OutsideRegion, Ru) if region.is_empty() => {
            "исполнитель не работает в регионе заявки".to_owned()
        }
        (OutsideRegion, Ru) => format!("исполнитель не работает в регионе «{region}»"),
        (OutsideRegion, En) if region.is_empty() => {
            "the contractor does not serve the request's region".to_owned()
        }
        (OutsideRegion, En) => format!("the contractor does not serve the region \"{region}\""),
    }
}

/// Renders `template` for `name` in `language`. A missing value renders empty: templates only
/// use what the plan puts in for them, and the tests render every one of them.
pub fn render(template: Template, language: Language, name: &str, vars: &Vars) -> Rendered {
    let v = |key: &str| vars.get(key).map(String::as_str).unwrap_or("");
    fn or<'a>(value: &'a str, otherwise: &'a str) -> &'a str {
        if value.is_empty() { otherwise } else { value }
    }
    let title = v("title");
    let reference = v("request_ref");
    let kind = document_kind(v("document_kind"), language);
    let reason = reason(vars, language);
    use Language::{En, Ru};
    use Template::*;
    let (subject, body) = match (template, language) {
        (RequestCreatedCustomer, Ru) => (
            format!("Заявка «{title}» принята"),
            format!(
                "Здравствуйте, {name}!\n\nМы получили вашу заявку «{title}» (№ {reference}, адрес: {}). \
                 Менеджер свяжется с вами в ближайшее время.",
                v("address")
            ),
        ),
        (RequestCreatedCustomer, En) => (
            format!("Your request \"{title}\" has been received"),
            format!(
                "Hello {name},\n\nwe have received your request \"{title}\" (no. {reference}, address: {}). \
                 A manager will contact you shortly.",
                v("address")
            ),
        ),
        (NewRequestManager, Ru) => (
            format!("Новая заявка: «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nВам назначена новая заявка «{title}» (№ {reference}). \
                 Проверьте её и отправьте исполнителям."
            ),
        ),
        (NewRequestManager, En) => (
            format!("New request: \"{title}\""),
            format!(
                "Hello {name},\n\nthe new request \"{title}\" (no. {reference}) is yours. \
                 Please check it and send it to contractors."
            ),
        ),
        (ClarificationNeededCustomer, Ru) => (
            format!("Уточните заявку «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nМенеджеру нужно уточнение по заявке «{title}» (№ {reference}):\n\n{}",
                v("question")
            ),
        ),
        (ClarificationNeededCustomer, En) => (
            format!("Please clarify your request \"{title}\""),
            format!(
                "Hello {name},\n\nthe manager needs a clarification of your request \"{title}\" (no. {reference}):\n\n{}",
                v("question")
            ),
        ),
        (OfferContractor, Ru) => (
            format!("Новая заявка для вас: «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nМенеджер предлагает вам заявку «{title}» (№ {reference}): {}, {}. \
                 Время: {}. Бюджет: {}.\nПримите её в приложении, пока её не взял другой исполнитель.",
                v("category"),
                v("region"),
                or(v("window"), "по договорённости"),
                or(v("budget"), "не указан")
            ),
        ),
        (OfferContractor, En) => (
            format!("A new request for you: \"{title}\""),
            format!(
                "Hello {name},\n\na manager offers you the request \"{title}\" (no. {reference}): {}, {}. \
                 Time: {}. Budget: {}.\nAccept it in the app before another contractor takes it.",
                v("category"),
                v("region"),
                or(v("window"), "by arrangement"),
                or(v("budget"), "not given")
            ),
        ),
        (ContractorAssignedContractor, Ru) => (
            format!("Вам назначена заявка «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nВы назначены исполнителем заявки «{title}» (№ {reference}, {}, {}).",
                v("region"),
                v("category")
            ),
        ),
        (ContractorAssignedContractor, En) => (
            format!("You are assigned to \"{title}\""),
            format!(
                "Hello {name},\n\nyou are the contractor of the request \"{title}\" (no. {reference}, {}, {}).",
                v("region"),
                v("category")
            ),
        ),
        (ContractorAssignedCustomer, Ru) => (
            format!("По заявке «{title}» назначен исполнитель"),
            format!(
                "Здравствуйте, {name}!\n\nПо вашей заявке «{title}» (№ {reference}) назначен исполнитель. \
                 Он свяжется с вами, чтобы договориться о времени."
            ),
        ),
        (ContractorAssignedCustomer, En) => (
            format!("A contractor is assigned to \"{title}\""),
            format!(
                "Hello {name},\n\na contractor has been assigned to your request \"{title}\" (no. {reference}). \
                 They will contact you to agree on a time."
            ),
        ),
        (WorkCompletedCustomer, Ru) => (
            format!("Работы по заявке «{title}» завершены"),
            format!(
                "Здравствуйте, {name}!\n\nРаботы по вашей заявке «{title}» (№ {reference}) завершены. \
                 Итоговая стоимость: {}. Акт выполненных работ придёт на подпись отдельно.",
                v("price")
            ),
        ),
        (WorkCompletedCustomer, En) => (
            format!("The work on \"{title}\" is completed"),
            format!(
                "Hello {name},\n\nthe work on your request \"{title}\" (no. {reference}) is completed. \
                 Final price: {}. The act of completed work follows for your signature.",
                v("price")
            ),
        ),
        (WorkCompletedManager, Ru) => (
            format!("Отчёт: заявка «{title}» выполнена"),
            format!(
                "Здравствуйте, {name}!\n\nЗаявка «{title}» (№ {reference}) выполнена.\n\
                 Исполнитель: {}\nСтоимость: {}\nОтчёт исполнителя:\n{}",
                v("contractor_id"),
                v("price"),
                v("report")
            ),
        ),
        (WorkCompletedManager, En) => (
            format!("Report: \"{title}\" is done"),
            format!(
                "Hello {name},\n\nthe request \"{title}\" (no. {reference}) is done.\n\
                 Contractor: {}\nPrice: {}\nContractor's report:\n{}",
                v("contractor_id"),
                v("price"),
                v("report")
            ),
        ),
        (ContractorVerified, Ru) => (
            "Ваш профиль исполнителя подтверждён".to_owned(),
            format!(
                "Здравствуйте, {name}!\n\nСлужба безопасности подтвердила ваш профиль. \
                 Регионы: {}; категории: {}. Договор придёт отдельно.",
                v("regions"),
                v("categories")
            ),
        ),
        (ContractorVerified, En) => (
            "Your contractor profile is verified".to_owned(),
            format!(
                "Hello {name},\n\nsecurity has verified your profile. Regions: {}; categories: {}. \
                 Your contract follows separately.",
                v("regions"),
                v("categories")
            ),
        ),
        (ContractorRejected, Ru) => (
            "Ваш профиль исполнителя не подтверждён".to_owned(),
            format!(
                "Здравствуйте, {name}!\n\nСлужба безопасности не подтвердила ваш профиль. Причина: {reason}"
            ),
        ),
        (ContractorRejected, En) => (
            "Your contractor profile was not verified".to_owned(),
            format!("Hello {name},\n\nsecurity could not verify your profile. Reason: {reason}"),
        ),
        (AccessRevoked, Ru) => (
            "Ваш доступ к заявкам отозван".to_owned(),
            if reference.is_empty() {
                format!("Здравствуйте, {name}!\n\nВаш доступ к заявкам отозван. Причина: {reason}")
            } else {
                format!(
                    "Здравствуйте, {name}!\n\nВаш доступ к заявке «{title}» (№ {reference}) отозван. Причина: {reason}"
                )
            },
        ),
        (AccessRevoked, En) => (
            "Your access has been revoked".to_owned(),
            if reference.is_empty() {
                format!(
                    "Hello {name},\n\nyour access to requests has been revoked. Reason: {reason}"
                )
            } else {
                format!(
                    "Hello {name},\n\nyour access to the request \"{title}\" (no. {reference}) has been revoked. Reason: {reason}"
                )
            },
        ),
        (AssignmentWithdrawnManager, Ru) => (
            format!("Исполнитель снят с заявки «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nСлужба безопасности сняла исполнителя с заявки «{title}» (№ {reference}). \
                 Причина: {reason}\n\nЗаявка снова ждёт исполнителя."
            ),
        ),
        (AssignmentWithdrawnManager, En) => (
            format!("The contractor was withdrawn from \"{title}\""),
            format!(
                "Hello {name},\n\nsecurity withdrew the contractor from the request \"{title}\" (no. {reference}). \
                 Reason: {reason}\n\nThe request is waiting for a contractor again."
            ),
        ),
        (DocumentCreated, Ru) => (
            format!("Новый документ: {kind}"),
            format!(
                "Здравствуйте, {name}!\n\nПодготовлен документ «{kind}»{}{}. Пожалуйста, ознакомьтесь и подпишите его.",
                if reference.is_empty() {
                    String::new()
                } else {
                    format!(" по заявке «{title}» (№ {reference})")
                },
                if v("amount").is_empty() {
                    String::new()
                } else {
                    format!(" на сумму {}", v("amount"))
                },
            ),
        ),
        (DocumentCreated, En) => (
            format!("New document: {kind}"),
            format!(
                "Hello {name},\n\na {kind}{}{} is ready. Please review and sign it.",
                if reference.is_empty() {
                    String::new()
                } else {
                    format!(" for the request \"{title}\" (no. {reference})")
                },
                if v("amount").is_empty() {
                    String::new()
                } else {
                    format!(" for {}", v("amount"))
                },
            ),
        ),
        (DocumentAwaitsSignature, Ru) => (
            format!("Документ ждёт вашей подписи: {kind}"),
            format!(
                "Здравствуйте, {name}!\n\nДругая сторона подписала документ «{kind}» по заявке «{title}» (№ {reference}). \
                 Осталась ваша подпись."
            ),
        ),
        (DocumentAwaitsSignature, En) => (
            format!("A {kind} awaits your signature"),
            format!(
                "Hello {name},\n\nthe other party has signed the {kind} for the request \"{title}\" (no. {reference}). \
                 Only your signature is missing."
            ),
        ),
        (DocumentFullySigned, Ru) => (
            format!("Документ подписан: {kind}"),
            format!(
                "Здравствуйте, {name}!\n\nДокумент «{kind}» по заявке «{title}» (№ {reference}) подписан всеми сторонами."
            ),
        ),
        (DocumentFullySigned, En) => (
            format!("The {kind} is signed"),
            format!(
                "Hello {name},\n\nthe {kind} for the request \"{title}\" (no. {reference}) is signed by every party."
            ),
        ),
        (ContractGenerated, Ru) => (
            "Ваш договор готов".to_owned(),
            format!(
                "Здравствуйте, {name}!\n\nВаш договор исполнителя подготовлен и действует с {}.",
                v("valid_from")
            ),
        ),
        (ContractGenerated, En) => (
            "Your contract is ready".to_owned(),
            format!(
                "Hello {name},\n\nyour contractor agreement is ready and valid from {}.",
                v("valid_from")
            ),
        ),
        (PaymentProcessed, Ru) => (
            format!("Оплата по заявке «{title}» проведена"),
            format!(
                "Здравствуйте, {name}!\n\nОплата {} по заявке «{title}» (№ {reference}) проведена.",
                v("amount")
            ),
        ),
        (PaymentProcessed, En) => (
            format!("Payment for \"{title}\" processed"),
            format!(
                "Hello {name},\n\nthe payment of {} for the request \"{title}\" (no. {reference}) has been processed.",
                v("amount")
            ),
        ),
        (DispatchedCustomer, Ru) => (
            format!("Заявка «{title}» передана исполнителям"),
            format!(
                "Здравствуйте, {name}!\n\nМенеджер передал вашу заявку «{title}» (№ {reference}) \
                 исполнителям. Мы сообщим, когда один из них возьмёт её."
            ),
        ),
        (DispatchedCustomer, En) => (
            format!("\"{title}\" has been sent to contractors"),
            format!(
                "Hello {name},\n\nthe manager has sent your request \"{title}\" (no. {reference}) \
                 to contractors. We will let you know when one of them takes it."
            ),
        ),
        (ContractorAcceptedManager, Ru) => (
            format!("Исполнитель взял заявку «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nИсполнитель принял заявку «{title}» (№ {reference}, \
                 регион {}, категория {}).",
                v("region"),
                v("category")
            ),
        ),
        (ContractorAcceptedManager, En) => (
            format!("A contractor took \"{title}\""),
            format!(
                "Hello {name},\n\na contractor has accepted the request \"{title}\" (no. {reference}, \
                 region {}, category {}).",
                v("region"),
                v("category")
            ),
        ),
        (OfferTakenContractor, Ru) => (
            format!("Заявка «{title}» уже взята"),
            format!(
                "Здравствуйте, {name}!\n\nЗаявку «{title}» (№ {reference}) взял другой исполнитель; \
                 предложение больше не действует."
            ),
        ),
        (OfferTakenContractor, En) => (
            format!("\"{title}\" has been taken"),
            format!(
                "Hello {name},\n\nanother contractor has taken the request \"{title}\" (no. {reference}); \
                 the offer no longer stands."
            ),
        ),
        (WorkStartedCustomer, Ru) => (
            format!("Работы по заявке «{title}» начаты"),
            format!(
                "Здравствуйте, {name}!\n\nИсполнитель приступил к работам по вашей заявке «{title}» \
                 (№ {reference})."
            ),
        ),
        (WorkStartedCustomer, En) => (
            format!("Work on \"{title}\" has started"),
            format!(
                "Hello {name},\n\nthe contractor has started work on your request \"{title}\" \
                 (no. {reference})."
            ),
        ),
        (ClarificationAnsweredManager, Ru) => (
            format!("Клиент ответил по заявке «{title}»"),
            format!(
                "Здравствуйте, {name}!\n\nКлиент ответил на ваш вопрос по заявке «{title}» \
                 (№ {reference}):\n{}",
                v("answer")
            ),
        ),
        (ClarificationAnsweredManager, En) => (
            format!("The customer answered about \"{title}\""),
            format!(
                "Hello {name},\n\nthe customer has answered your question about the request \
                 \"{title}\" (no. {reference}):\n{}",
                v("answer")
            ),
        ),
        (CancelledCustomer, Ru) => (
            format!("Заявка «{title}» отменена"),
            format!(
                "Здравствуйте, {name}!\n\nВаша заявка «{title}» (№ {reference}) отменена. \
                 Причина: {}",
                v("reason")
            ),
        ),
        (CancelledCustomer, En) => (
            format!("Your request \"{title}\" has been cancelled"),
            format!(
                "Hello {name},\n\nyour request \"{title}\" (no. {reference}) has been cancelled. \
                 Reason: {}",
                v("reason")
            ),
        ),
        (CancelledManager, Ru) => (
            format!("Заявка «{title}» отменена"),
            format!(
                "Здравствуйте, {name}!\n\nЗаявка «{title}» (№ {reference}) отменена. Причина: {}",
                v("reason")
            ),
        ),
        (CancelledManager, En) => (
            format!("\"{title}\" has been cancelled"),
            format!(
                "Hello {name},\n\nthe request \"{title}\" (no. {reference}) has been cancelled. \
                 Reason: {}",
                v("reason")
            ),
        ),
        (CancelledContractor, Ru) => (
            format!("Заявка «{title}» отменена"),
            format!(
                "Здравствуйте, {name}!\n\nЗаявка «{title}» (№ {reference}) отменена; работы по ней \
                 не будет."
            ),
        ),
        (CancelledContractor, En) => (
            format!("\"{title}\" has been cancelled"),
            format!(
                "Hello {name},\n\nthe request \"{title}\" (no. {reference}) has been cancelled; \
                 there is no work on it."
            ),
        ),
        (ContactCode, Ru) => (
            "Код подтверждения servicehub".to_owned(),
            format!(
                "Ваш код подтверждения: {}\n\nОн действует {} минут. Если вы не указывали этот \
                 адрес в servicehub, просто проигнорируйте сообщение.",
                v("code"),
                v("minutes")
            ),
        ),
        (ContactCode, En) => (
            "Your servicehub verification code".to_owned(),
            format!(
                "Your verification code: {}\n\nIt is valid for {} minutes. If you did not give \
                 this address to servicehub, ignore this message.",
                v("code"),
                v("minutes")
            ),
        ),
    };
    let sms = (template == ContactCode).then(|| match language {
        Ru => format!("servicehub: код {}", v("code")),
        En => format!("servicehub: code {}", v("code")),
    });
    Rendered { subject, body, sms }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut vars = Vars::new();
        for (k, v) in [
            ("title", "Не работает холодильник"),
            ("request_ref", "0190a5a4"),
            ("request_id", "0190a5a4-7b1e-7cc0-8a2b-000000000001"),
            ("address", "Москва, ул. Ленина, 1"),
            ("question", "Какая модель?"),
            ("region", "Москва"),
            ("category", "appliance-repair"),
            ("price", "12500.00 RUB"),
            ("report", "Заменён компрессор"),
            ("contractor_id", "c"),
            ("regions", "Москва"),
            ("categories", "appliance-repair"),
            ("reason", "документы"),
            ("document_kind", "completion_act"),
            ("amount", "12500.00 RUB"),
            ("valid_from", "2026-11-21"),
        ] {
            vars.insert(k, v.to_owned());
        }
        vars
    }

    #[test]
    fn a_contact_code_is_in_the_body_and_the_sms_never_in_the_subject() {
        let mut vars = vars();
        vars.insert("code", "042137".to_owned());
        vars.insert("minutes", "15".to_owned());
        for language in [Language::Ru, Language::En] {
            let r = render(Template::ContactCode, language, "Анна", &vars);
            assert!(r.body.contains("042137") && r.body.contains("15"), "{r:?}");
            assert!(r.sms_text().contains("042137"), "{r:?}");
            assert!(r.telegram_text().contains("042137"), "{r:?}");
            assert!(!r.subject.contains("042137"), "{r:?}");
            assert!(!r.body.contains("Анна") && !r.body.contains("Не работает"));
        }
        let other = render(Template::PaymentProcessed, Language::En, "Анна", &vars);
        assert_eq!(other.sms, None);
    }

    #[test]
    fn every_template_renders_in_both_languages_with_its_values() {
        for template in Template::ALL {
            for language in [Language::Ru, Language::En] {
                let r = render(template, language, "Анна", &vars());
                assert!(!r.subject.is_empty() && !r.body.is_empty(), "{template:?}");
                // The code goes to contacts not proved yet: no name anyone could choose.
                assert_eq!(
                    r.body.contains("Анна"),
                    template != Template::ContactCode,
                    "{template:?} {language:?}"
                );
                let cyrillic = r.subject.chars().any(|c| ('а'..='я').contains(&c));
                let is_ru = language == Language::Ru;
                // English subjects only carry Cyrillic through the request's own title.
                if !is_ru {
                    assert!(
                        !cyrillic || r.subject.contains("Не работает"),
                        "{template:?}: {}",
                        r.subject
                    );
                } else {
                    assert!(cyrillic, "{template:?}: {}", r.subject);
                }
            }
        }
        let names: std::collections::HashSet<_> = Template::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), Template::ALL.len());
    }

    #[test]
    fn the_checks_refusals_are_worded_in_the_recipients_language() {
        let mut vars = vars();
        vars.insert("reason", "the contractor is not verified (rejected)".into());
        vars.insert("reason_code", "verification_rejected".into());
        let ru = render(Template::AccessRevoked, Language::Ru, "Пётр", &vars);
        assert!(
            ru.body.ends_with(
                "отозван. Причина: профиль исполнителя не прошёл проверку службы безопасности"
            ),
            "{}",
            ru.body
        );
        assert!(!ru.body.contains("not verified"), "{}", ru.body);
        let en = render(Template::AccessRevoked, Language::En, "Peter", &vars);
        assert!(
            en.body
                .ends_with("Reason: the contractor's profile did not pass the security check"),
            "{}",
            en.body
        );
        let manager = render(
            Template::AssignmentWithdrawnManager,
            Language::Ru,
            "Марк",
            &vars,
        );
        assert_eq!(
            manager.subject,
            "Исполнитель снят с заявки «Не работает холодильник»"
        );
        assert!(
            manager.body.contains(
                "(№ 0190a5a4). Причина: профиль исполнителя не прошёл проверку службы безопасности"
            ),
            "{}",
            manager.body
        );
        assert!(manager.body.ends_with("Заявка снова ждёт исполнителя."));
        // Every code has its words in both languages; the region is named when known.
        for code in RefusalCode::ALL {
            vars.insert("reason_code", code.as_str().into());
            for language in [Language::Ru, Language::En] {
                let text = reason(&vars, language);
                let cyrillic = text.chars().any(|c| ('а'..='я').contains(&c));
                assert_eq!(
                    cyrillic,
                    language == Language::Ru || text.contains("Москва")
                );
                assert_ne!(text, vars["reason"], "{code:?} {language:?}");
            }
        }
        vars.insert("reason_code", "outside_region".into());
        assert_eq!(
            reason(&vars, Language::Ru),
            "исполнитель не работает в регионе «Москва»"
        );
        // An officer's own words, and codes this version does not know, are given as they are.
        for code in ["", "some_future_code"] {
            vars.insert("reason_code", code.into());
            vars.insert("reason", "поддельные документы".into());
            let ru = render(Template::AccessRevoked, Language::Ru, "Пётр", &vars);
            assert!(
                ru.body.ends_with("Причина: поддельные документы"),
                "{}",
                ru.body
            );
        }
    }

    #[test]
    fn the_confirmation_reads_as_expected() {
        let ru = render(
            Template::RequestCreatedCustomer,
            Language::Ru,
            "Анна",
            &vars(),
        );
        assert_eq!(ru.subject, "Заявка «Не работает холодильник» принята");
        assert!(ru.body.contains("№ 0190a5a4"));
        let en = render(
            Template::RequestCreatedCustomer,
            Language::En,
            "Ann",
            &vars(),
        );
        assert_eq!(
            en.subject,
            "Your request \"Не работает холодильник\" has been received"
        );
        assert!(en.body.starts_with("Hello Ann,"));
        assert_eq!(
            en.sms_text(),
            "servicehub: Your request \"Не работает холодильник\" has been received"
        );
    }
}
