//! What each document says (Russian: the contracts are Russian), and who must sign it. Pure.

use crate::pdf::DocumentText;
use chrono::{DateTime, Utc};
use servicehub_events::values::{DocumentKind, Money, Role};

/// `450000 RUB` -> `4 500,00 RUB`.
pub fn money(amount: &Money) -> String {
    let whole = amount.amount_minor / 100;
    let cents = amount.amount_minor % 100;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    format!("{grouped},{cents:02} {}", amount.currency)
}

fn date(at: DateTime<Utc>) -> String {
    at.format("%d.%m.%Y").to_string()
}

pub struct ContractFacts<'a> {
    pub number: &'a str,
    pub contractor_name: &'a str,
    pub regions: &'a [String],
    pub categories: &'a [String],
    pub valid_from: DateTime<Utc>,
}

pub fn contract(facts: &ContractFacts<'_>) -> DocumentText {
    DocumentText {
        title: format!("Договор оказания услуг № {}", facts.number),
        lines: vec![
            format!("Дата: {}", date(facts.valid_from)),
            format!("Исполнитель: {}", facts.contractor_name),
            format!("Регионы работы: {}", facts.regions.join(", ")),
            format!("Виды работ: {}", facts.categories.join(", ")),
            "Исполнитель выполняет заявки заказчиков, направленные ему через платформу servicehub,"
                .into(),
            "в сроки и по ценам, согласованным в заявке.".into(),
            "Оплата производится после подписания акта выполненных работ обеими сторонами.".into(),
            String::new(),
            "Подпись исполнителя: ____________________".into(),
        ],
    }
}

pub struct WorkFacts<'a> {
    pub number: &'a str,
    pub request_title: &'a str,
    pub address: &'a str,
    pub customer_name: &'a str,
    pub contractor_name: &'a str,
    pub report: &'a str,
    pub price: &'a Money,
    pub completed_at: DateTime<Utc>,
}

pub fn completion_act(facts: &WorkFacts<'_>) -> DocumentText {
    let mut lines = vec![
        format!("Дата: {}", date(facts.completed_at)),
        format!("Заказчик: {}", facts.customer_name),
        format!("Исполнитель: {}", facts.contractor_name),
        format!("Заявка: {}", facts.request_title),
        format!("Адрес: {}", facts.address),
        "Выполненные работы:".into(),
    ];
    lines.extend(facts.report.lines().map(|l| format!("  {l}")));
    lines.extend([
        format!("Итого: {}", money(facts.price)),
        "Работы выполнены полностью и в срок. Стороны претензий не имеют.".into(),
        String::new(),
        "Подпись заказчика: ____________________".into(),
        "Подпись исполнителя: ____________________".into(),
    ]);
    DocumentText {
        title: format!("Акт выполненных работ № {}", facts.number),
        lines,
    }
}

pub fn payment_order(facts: &WorkFacts<'_>) -> DocumentText {
    DocumentText {
        title: format!("Платёжное поручение № {}", facts.number),
        lines: vec![
            format!("Дата: {}", date(facts.completed_at)),
            format!("Плательщик: {}", facts.customer_name),
            format!("Получатель: {}", facts.contractor_name),
            format!("Сумма: {}", money(facts.price)),
            format!(
                "Назначение платежа: оплата работ по заявке «{}»",
                facts.request_title
            ),
            "Платёж исполняется после подписания акта выполненных работ обеими сторонами.".into(),
        ],
    }
}

/// Who must sign a document of `kind` before it counts as signed.
pub fn required_signers(kind: DocumentKind) -> &'static [Role] {
    match kind {
        DocumentKind::Contract => &[Role::Contractor],
        DocumentKind::CompletionAct => &[Role::Customer, Role::Contractor],
        DocumentKind::PaymentOrder => &[Role::Customer],
    }
}

/// Whether the signatures of `signed` (roles) cover every required signer of `kind`.
pub fn fully_signed(kind: DocumentKind, signed: &[Role]) -> bool {
    required_signers(kind).iter().all(|r| signed.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_a_russian_accountant_writes_it() {
        let rub = |amount_minor| Money {
            amount_minor,
            currency: "RUB".into(),
        };
        assert_eq!(money(&rub(450_000)), "4 500,00 RUB");
        assert_eq!(money(&rub(123_456_789)), "1 234 567,89 RUB");
        assert_eq!(money(&rub(5)), "0,05 RUB");
    }

    #[test]
    fn an_act_needs_both_parties_and_a_contract_the_contractor() {
        use DocumentKind::*;
        assert!(!fully_signed(CompletionAct, &[Role::Customer]));
        assert!(fully_signed(
            CompletionAct,
            &[Role::Contractor, Role::Customer]
        ));
        assert!(fully_signed(Contract, &[Role::Contractor]));
        assert!(!fully_signed(PaymentOrder, &[Role::Contractor]));
    }
}
