//! SQL for contractors (rows of `users` with role contractor).

use crate::view::ContractorView;
use servicehub_domain::contractors::{ContractorStanding, Verification};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

const COLUMNS: &str = "id, display_name, email, phone, regions, categories, verification_status,
    access_revoked, active, created_at";

fn from_row(row: &PgRow) -> Result<ContractorView, sqlx::Error> {
    Ok(ContractorView {
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        regions: row.try_get("regions")?,
        categories: row.try_get("categories")?,
        verification_status: row.try_get("verification_status")?,
        access_revoked: row.try_get("access_revoked")?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
    })
}

pub fn standing_of(view: &ContractorView) -> Result<ContractorStanding, sqlx::Error> {
    Ok(ContractorStanding {
        verification: Verification::parse(&view.verification_status).ok_or_else(|| {
            sqlx::Error::ColumnDecode {
                index: "verification_status".into(),
                source: format!("unknown value {:?}", view.verification_status).into(),
            }
        })?,
        access_revoked: view.access_revoked,
    })
}

/// A contractor, row-locked for a decision; `None` for an unknown id or another role.
pub async fn find_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ContractorView>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1 AND role = 'contractor' FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn set_standing(
    conn: &mut PgConnection,
    id: Uuid,
    standing: ContractorStanding,
) -> Result<ContractorView, sqlx::Error> {
    let row = sqlx::query(&format!(
        "UPDATE users SET verification_status = $2, access_revoked = $3, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(standing.verification.as_str())
    .bind(standing.access_revoked)
    .fetch_one(conn)
    .await?;
    from_row(&row)
}

/// Contractors, oldest first, optionally of one verification status.
pub async fn list(
    conn: &mut PgConnection,
    status: Option<Verification>,
) -> Result<Vec<ContractorView>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM users
         WHERE role = 'contractor' AND ($1::text IS NULL OR verification_status = $1)
         ORDER BY created_at, id LIMIT 1000"
    ))
    .bind(status.map(|s| s.as_str()))
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
