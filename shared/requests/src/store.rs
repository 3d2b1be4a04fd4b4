//! SQL for service requests. Statuses and enums are stored as their wire strings.

use crate::view::ServiceRequestView;
use chrono::{DateTime, Utc};
use servicehub_domain::assignment::ManagerCandidate;
use servicehub_domain::commands::{Caller, RequestPatch};
use servicehub_domain::contractors::{Assignee, ContractorStanding, Verification};
use servicehub_domain::listing::ListQuery;
use servicehub_events::values::{Actor, Money, Priority, RequestStatus, Role, TimeWindow, Urgency};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

const COLUMNS: &str =
    "id, customer_id, title, description, category, urgency, region, city, address,
    preferred_from, preferred_to, budget_amount_minor, budget_currency, status, priority,
    manager_id, contractor_id, created_at, updated_at, clarification_question, completion_report,
    final_price_minor, final_price_currency";

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
        clarification_question: row.try_get("clarification_question")?,
        completion_report: row.try_get("completion_report")?,
        final_price: {
            let amount: Option<i64> = row.try_get("final_price_minor")?;
            let currency: Option<String> = row.try_get("final_price_currency")?;
            amount.zip(currency).map(|(amount_minor, currency)| Money {
                amount_minor,
                currency,
            })
        },
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

/// The active managers serving `region` with their load (`manager_workload`, which a trigger
/// keeps), row-locked so that concurrent assignments in one region see each other's effect
/// instead of all picking the same manager. One indexed read, however many requests they hold.
pub async fn lock_manager_candidates(
    conn: &mut PgConnection,
    region: &str,
) -> Result<Vec<ManagerCandidate>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT u.id, COALESCE(w.open_requests, 0) AS open_requests, w.last_assigned_at
         FROM users u LEFT JOIN manager_workload w ON w.manager_id = u.id
         WHERE u.role = 'manager' AND u.active AND $1 = ANY(u.regions)
         ORDER BY u.id FOR UPDATE OF u",
    )
    .bind(region)
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

/// Moves a request to `to` (the caller checked the transition).
pub async fn set_status(
    conn: &mut PgConnection,
    request_id: Uuid,
    to: RequestStatus,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE service_requests SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(request_id)
        .bind(to.as_str())
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Applies a customer's edit; absent fields stay as they are.
pub async fn apply_patch(
    conn: &mut PgConnection,
    request_id: Uuid,
    patch: &RequestPatch,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE service_requests SET
            title = coalesce($2, title),
            description = coalesce($3, description),
            category = coalesce($4, category),
            urgency = coalesce($5, urgency),
            city = coalesce($6, city),
            address = coalesce($7, address),
            preferred_from = CASE WHEN $8::timestamptz IS NULL THEN preferred_from ELSE $8 END,
            preferred_to = CASE WHEN $8::timestamptz IS NULL THEN preferred_to ELSE $9 END,
            budget_amount_minor = coalesce($10, budget_amount_minor),
            budget_currency = CASE WHEN $10::bigint IS NULL THEN budget_currency ELSE $11 END,
            updated_at = $12
         WHERE id = $1",
    )
    .bind(request_id)
    .bind(patch.title.as_ref().map(|t| t.as_str()))
    .bind(patch.description.as_ref().map(|d| d.as_str()))
    .bind(patch.category.as_ref().map(|c| c.as_str()))
    .bind(patch.urgency.map(|u| u.as_str()))
    .bind(patch.city.as_ref().map(|c| c.as_str()))
    .bind(patch.address.as_ref().map(|a| a.as_str()))
    .bind(patch.preferred_time_window.map(|w| w.from))
    .bind(patch.preferred_time_window.map(|w| w.to))
    .bind(patch.budget.as_ref().map(|b| b.amount_minor))
    .bind(patch.budget.as_ref().map(|b| b.currency.clone()))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_clarification_question(
    conn: &mut PgConnection,
    request_id: Uuid,
    question: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE service_requests SET clarification_question = $2 WHERE id = $1")
        .bind(request_id)
        .bind(question)
        .execute(conn)
        .await?;
    Ok(())
}

/// Contractors who may get the request: active, verified, access not revoked, serving its
/// region and category. Row-locked against a concurrent revocation.
pub async fn eligible_contractors(
    conn: &mut PgConnection,
    region: &str,
    category: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM users
         WHERE role = 'contractor' AND active AND verification_status = 'verified'
           AND NOT access_revoked AND $1 = ANY(regions) AND $2 = ANY(categories)
         ORDER BY id FOR SHARE",
    )
    .bind(region)
    .bind(category)
    .fetch_all(conn)
    .await
}

/// The user an assignment names, as the assignment rule
/// (`servicehub_domain::contractors::assignment_refusal`) needs them; `None` for an unknown id.
/// Share-locked until the transaction ends, so a security decision about them waits for it (and
/// one already made is what this reads).
pub async fn find_assignee(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<Option<Assignee>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT role, verification_status, access_revoked, active, regions FROM users
         WHERE id = $1 FOR SHARE",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        let role: String = row.try_get("role")?;
        let verification: String = row.try_get("verification_status")?;
        Ok(Assignee {
            role: Role::parse(&role).ok_or_else(|| decode_error("role", &role))?,
            standing: ContractorStanding {
                verification: Verification::parse(&verification)
                    .ok_or_else(|| decode_error("verification_status", &verification))?,
                access_revoked: row.try_get("access_revoked")?,
            },
            active: row.try_get("active")?,
            regions: row.try_get("regions")?,
        })
    })
    .transpose()
}

pub async fn insert_offers(
    conn: &mut PgConnection,
    request_id: Uuid,
    contractor_ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO request_offers (request_id, contractor_id, offered_at)
         SELECT $1, unnest($2::uuid[]), $3 ON CONFLICT DO NOTHING",
    )
    .bind(request_id)
    .bind(contractor_ids)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Withdraws every offer made to `contractor_id` (security rejected them or revoked their
/// access: they may take no request); the requests they already hold stay theirs. The number
/// withdrawn.
pub async fn withdraw_offers(
    conn: &mut PgConnection,
    contractor_id: Uuid,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM request_offers WHERE contractor_id = $1")
        .bind(contractor_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn is_offered(
    conn: &mut PgConnection,
    request_id: Uuid,
    contractor_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM request_offers WHERE request_id = $1 AND contractor_id = $2)",
    )
    .bind(request_id)
    .bind(contractor_id)
    .fetch_one(conn)
    .await
}

pub async fn set_contractor(
    conn: &mut PgConnection,
    request_id: Uuid,
    contractor_id: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE service_requests SET contractor_id = $2 WHERE id = $1")
        .bind(request_id)
        .bind(contractor_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn record_completion(
    conn: &mut PgConnection,
    request_id: Uuid,
    report: &str,
    final_price: &Money,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE service_requests
         SET completion_report = $2, final_price_minor = $3, final_price_currency = $4
         WHERE id = $1",
    )
    .bind(request_id)
    .bind(report)
    .bind(final_price.amount_minor)
    .bind(&final_price.currency)
    .execute(conn)
    .await?;
    Ok(())
}

/// One page of the requests `caller` may see, newest first, matching `query`.
pub async fn list(
    conn: &mut PgConnection,
    caller: Caller<'_>,
    query: &ListQuery,
) -> Result<Vec<ServiceRequestView>, sqlx::Error> {
    // The visibility rule of `servicehub_domain::access::can_view`, as SQL.
    let visible = match caller.role {
        Role::Customer => "r.customer_id = $1",
        Role::Manager => "(r.manager_id = $1 OR r.region = ANY($2))",
        Role::Contractor => {
            "(r.contractor_id = $1 OR EXISTS (SELECT 1 FROM request_offers o
                WHERE o.request_id = r.id AND o.contractor_id = $1))"
        }
        Role::Security | Role::Admin => "true",
    };
    let columns = COLUMNS
        .split(',')
        .map(|c| format!("r.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let statuses: Vec<&str> = query.statuses.iter().map(|s| s.as_str()).collect();
    let rows = sqlx::query(&format!(
        "SELECT {columns} FROM service_requests r
         WHERE {visible}
           AND (cardinality($3::text[]) = 0 OR r.status = ANY($3))
           AND ($4::text IS NULL OR r.region = $4)
           AND ($5::text IS NULL OR r.urgency = $5)
           AND ($6::timestamptz IS NULL OR r.created_at >= $6)
           AND ($7::timestamptz IS NULL OR r.created_at < $7)
           AND ($8::timestamptz IS NULL OR (r.created_at, r.id) < ($8, $9))
         ORDER BY r.created_at DESC, r.id DESC
         LIMIT $10"
    ))
    .bind(caller.user_id)
    .bind(caller.regions)
    .bind(&statuses)
    .bind(query.region.as_deref())
    .bind(query.urgency.map(|u| u.as_str()))
    .bind(query.created_from)
    .bind(query.created_to)
    .bind(query.after.map(|c| c.at))
    .bind(query.after.map(|c| c.id))
    .bind(i64::from(query.limit))
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One status change of a request, as `GET /requests/{id}/history` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    pub from: Option<RequestStatus>,
    pub to: RequestStatus,
    pub actor: Actor,
    pub reason: Option<String>,
    pub event_id: Uuid,
    pub changed_at: DateTime<Utc>,
}

pub async fn history(
    conn: &mut PgConnection,
    request_id: Uuid,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT from_status, to_status, actor_user_id, actor_role, actor_service, reason, event_id, changed_at
         FROM request_status_history WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            let from: Option<String> = row.try_get("from_status")?;
            let to: String = row.try_get("to_status")?;
            let role: Option<String> = row.try_get("actor_role")?;
            Ok(HistoryEntry {
                from: match from {
                    Some(s) => Some(
                        RequestStatus::parse(&s).ok_or_else(|| decode_error("from_status", &s))?,
                    ),
                    None => None,
                },
                to: RequestStatus::parse(&to).ok_or_else(|| decode_error("to_status", &to))?,
                actor: Actor {
                    user_id: row.try_get("actor_user_id")?,
                    role: match role {
                        Some(r) => {
                            Some(Role::parse(&r).ok_or_else(|| decode_error("actor_role", &r))?)
                        }
                        None => None,
                    },
                    service: row.try_get("actor_service")?,
                },
                reason: row.try_get("reason")?,
                event_id: row.try_get("event_id")?,
                changed_at: row.try_get("changed_at")?,
            })
        })
        .collect()
}
