//! SQL for service requests. Statuses and enums are stored as their wire strings.

use crate::view::ServiceRequestView;
use chrono::{DateTime, Utc};
use servicehub_domain::assignment::ManagerCandidate;
use servicehub_events::values::{Actor, Money, Priority, RequestStatus, TimeWindow, Urgency};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

const COLUMNS: &str =
    "id, customer_id, title, description, category, urgency, region, city, address,
    preferred_from, preferred_to, budget_amount_minor, budget_currency, status, priority,
    manager_id, contractor_id, created_at, updated_at";

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown value {value:?}").into(),
    }
}

fn from_row(row: &PgRow) -> Result<ServiceRequestView, sqlx::Error> {
    let urgency: String = row.try_get("urgency")?;
    let status: String = row.try_get("status")?;
    let priority: Option<String> = row.try_get("priority")?;
    let from: Option<DateTime<Utc>> = row.try_get("preferred_from")?;
    let to: Option<DateTime<Utc>> = row.try_get("preferred_to")?;
    let amount: Option<i64> = row.try_get("budget_amount_minor")?;
    let currency: Option<String> = row.try_get("budget_currency")?;
    Ok(ServiceRequestView {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        category: row.try_get("category")?,
        urgency: Urgency::parse(&urgency).ok_or_else(|| decode_error("urgency", &urgency))?,
        region: row.try_get("region")?,
        city: row.try_get("city")?,
        address: row.try_get("address")?,
        preferred_time_window: from.zip(to).map(|(from, to)| TimeWindow { from, to }),
        budget: amount.zip(currency).map(|(amount_minor, currency)| Money {
            amount_minor,
            currency,
        }),
        status: RequestStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        priority: match priority {
            Some(p) => Some(Priority::parse(&p).ok_or_else(|| decode_error("priority", &p))?),
            None => None,
        },
        manager_id: row.try_get("manager_id")?,
        contractor_id: row.try_get("contractor_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn insert(
    conn: &mut PgConnection,
    request: &ServiceRequestView,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO service_requests (id, customer_id, title, description, category, urgency, region, city,
            address, preferred_from, preferred_to, budget_amount_minor, budget_currency, status, priority,
            manager_id, contractor_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(request.id)
    .bind(request.customer_id)
    .bind(&request.title)
    .bind(&request.description)
    .bind(&request.category)
    .bind(request.urgency.as_str())
    .bind(&request.region)
    .bind(&request.city)
    .bind(&request.address)
    .bind(request.preferred_time_window.map(|w| w.from))
    .bind(request.preferred_time_window.map(|w| w.to))
    .bind(request.budget.as_ref().map(|b| b.amount_minor))
    .bind(request.budget.as_ref().map(|b| b.currency.clone()))
    .bind(request.status.as_str())
    .bind(request.priority.map(|p| p.as_str()))
    .bind(request.manager_id)
    .bind(request.contractor_id)
    .bind(request.created_at)
    .bind(request.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn find(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ServiceRequestView>, sqlx::Error> {
    fetch(conn, id, "").await
}

/// Loads and row-locks a request for a state change.
pub async fn find_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ServiceRequestView>, sqlx::Error> {
    fetch(conn, id, "FOR UPDATE").await
}

async fn fetch(
    conn: &mut PgConnection,
    id: Uuid,
    locking: &str,
) -> Result<Option<ServiceRequestView>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM service_requests WHERE id = $1 {locking}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// One row of a request's history.
pub struct StatusChange<'a> {
    pub request_id: Uuid,
    pub from: Option<RequestStatus>,
    pub to: RequestStatus,
    pub actor: &'a Actor,
    pub reason: Option<&'a str>,
    pub event_id: Uuid,
    pub at: DateTime<Utc>,
}

pub async fn record_status_change(
    conn: &mut PgConnection,
    change: &StatusChange<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO request_status_history
            (request_id, from_status, to_status, actor_user_id, actor_role, actor_service, reason, event_id, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(change.request_id)
    .bind(change.from.map(|s| s.as_str()))
    .bind(change.to.as_str())
    .bind(change.actor.user_id)
    .bind(change.actor.role.map(|r| r.as_str()))
    .bind(&change.actor.service)
    .bind(change.reason)
    .bind(change.event_id)
    .bind(change.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The active managers serving `region` with their load, row-locked so that concurrent
/// assignments in one region see each other's effect instead of all picking the same manager.
pub async fn lock_manager_candidates(
    conn: &mut PgConnection,
    region: &str,
) -> Result<Vec<ManagerCandidate>, sqlx::Error> {
    let manager_ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE role = 'manager' AND active AND $1 = ANY(regions) ORDER BY id FOR UPDATE",
    )
    .bind(region)
    .fetch_all(&mut *conn)
    .await?;
    if manager_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT m.id,
                count(r.id) FILTER (WHERE r.status NOT IN ('completed', 'cancelled')) AS open_requests,
                max(r.manager_assigned_at) AS last_assigned_at
         FROM unnest($1::uuid[]) AS m(id)
         LEFT JOIN service_requests r ON r.manager_id = m.id
         GROUP BY m.id",
    )
    .bind(&manager_ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ManagerCandidate {
                manager_id: row.try_get("id")?,
                open_requests: row.try_get("open_requests")?,
                last_assigned_at: row.try_get("last_assigned_at")?,
            })
        })
        .collect()
}

pub async fn assign_manager(
    conn: &mut PgConnection,
    request_id: Uuid,
    manager_id: Uuid,
    priority: Priority,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE service_requests
         SET status = 'manager_assigned', manager_id = $2, priority = $3, manager_assigned_at = $4, updated_at = $4
         WHERE id = $1",
    )
    .bind(request_id)
    .bind(manager_id)
    .bind(priority.as_str())
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
