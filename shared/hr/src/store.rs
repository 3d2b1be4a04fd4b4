//! SQL for documents, signatures and payments.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use servicehub_domain::commands::Caller;
use servicehub_events::values::{DocumentKind, Money, Role};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Signature {
    pub signer_id: Uuid,
    pub signer_role: Role,
    pub signed_at: DateTime<Utc>,
}

/// A document as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DocumentView {
    pub id: Uuid,
    pub kind: DocumentKind,
    pub title: String,
    pub request_id: Option<Uuid>,
    pub contractor_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub amount: Option<Money>,
    pub sha256: String,
    pub size_bytes: i64,
    pub signatures: Vec<Signature>,
    /// Every required party has signed.
    pub fully_signed: bool,
    pub created_at: DateTime<Utc>,
    /// `GET /documents/{id}` only: a short-lived link to the PDF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    #[serde(skip)]
    pub s3_key: String,
}

pub struct NewDocument<'a> {
    pub id: Uuid,
    pub kind: DocumentKind,
    pub title: &'a str,
    pub request_id: Option<Uuid>,
    pub contractor_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub amount: Option<&'a Money>,
    pub bucket: &'a str,
    pub key: &'a str,
    pub sha256: &'a str,
    pub size_bytes: u64,
    pub source_event_id: Uuid,
    pub at: DateTime<Utc>,
}

fn bad(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown value {value:?}").into(),
    }
}

/// Inserts a document; false when this event already produced one of this kind.
pub async fn insert_document(
    conn: &mut PgConnection,
    doc: &NewDocument<'_>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO documents (id, kind, request_id, contractor_id, customer_id, title, amount_minor,
             currency, s3_bucket, s3_key, sha256, size_bytes, source_event_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (source_event_id, kind) DO NOTHING",
    )
    .bind(doc.id)
    .bind(doc.kind.as_str())
    .bind(doc.request_id)
    .bind(doc.contractor_id)
    .bind(doc.customer_id)
    .bind(doc.title)
    .bind(doc.amount.map(|m| m.amount_minor))
    .bind(doc.amount.map(|m| m.currency.clone()))
    .bind(doc.bucket)
    .bind(doc.key)
    .bind(doc.sha256)
    .bind(doc.size_bytes as i64)
    .bind(doc.source_event_id)
    .bind(doc.at)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

const DOCUMENT_COLUMNS: &str = "d.id, d.kind, d.title, d.request_id, d.contractor_id, d.customer_id,
    d.amount_minor, d.currency, d.sha256, d.size_bytes, d.created_at, d.s3_key,
    coalesce((SELECT json_agg(json_build_object('signer_id', s.signer_id, 'signer_role', s.signer_role,
        'signed_at', s.signed_at) ORDER BY s.signed_at) FROM document_signatures s WHERE s.document_id = d.id),
        '[]'::json) AS signatures";

fn document_from_row(row: &PgRow) -> Result<DocumentView, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let kind = DocumentKind::parse(&kind).ok_or_else(|| bad("kind", &kind))?;
    let amount: Option<i64> = row.try_get("amount_minor")?;
    let currency: Option<String> = row.try_get("currency")?;
    let signatures: serde_json::Value = row.try_get("signatures")?;
    let signatures: Vec<Signature> = signatures
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            Ok(Signature {
                signer_id: s["signer_id"]
                    .as_str()
                    .and_then(|v| Uuid::parse_str(v).ok())
                    .ok_or_else(|| bad("signer_id", &s.to_string()))?,
                signer_role: s["signer_role"]
                    .as_str()
                    .and_then(Role::parse)
                    .ok_or_else(|| bad("signer_role", &s.to_string()))?,
                signed_at: s["signed_at"]
                    .as_str()
                    .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| bad("signed_at", &s.to_string()))?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let roles: Vec<Role> = signatures.iter().map(|s| s.signer_role).collect();
    Ok(DocumentView {
        id: row.try_get("id")?,
        kind,
        title: row.try_get("title")?,
        request_id: row.try_get("request_id")?,
        contractor_id: row.try_get("contractor_id")?,
        customer_id: row.try_get("customer_id")?,
        amount: amount.zip(currency).map(|(amount_minor, currency)| Money {
            amount_minor,
            currency,
        }),
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
        fully_signed: crate::texts::fully_signed(kind, &roles),
        signatures,
        created_at: row.try_get("created_at")?,
        download_url: None,
        s3_key: row.try_get("s3_key")?,
    })
}

pub async fn find_document(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<DocumentView>, sqlx::Error> {
    let locking = if lock { "FOR UPDATE OF d" } else { "" };
    sqlx::query(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = $1 {locking}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(document_from_row)
    .transpose()
}

/// The visibility rule of documents and payments, as SQL over `alias` (which has
/// `contractor_id`, `customer_id`, `request_id`): parties see theirs, managers those of the
/// requests they manage or of their regions, security and admins all.
fn visible(caller: Caller<'_>, alias: &str) -> String {
    match caller.role {
        Role::Customer => format!("{alias}.customer_id = $1"),
        Role::Contractor => format!("{alias}.contractor_id = $1"),
        Role::Manager => format!(
            "EXISTS (SELECT 1 FROM service_requests r WHERE r.id = {alias}.request_id
                 AND (r.manager_id = $1 OR r.region = ANY($2)))"
        ),
        // Everything; the parameters are still named, so that Postgres knows their types.
        Role::Security | Role::Admin => "($1::uuid IS NOT NULL OR $2::text[] IS NOT NULL)".into(),
    }
}

pub fn may_see(caller: Caller<'_>, doc: &DocumentView, request_managed: bool) -> bool {
    match caller.role {
        Role::Customer => doc.customer_id == Some(caller.user_id),
        Role::Contractor => doc.contractor_id == caller.user_id,
        Role::Manager => request_managed,
        Role::Security | Role::Admin => true,
    }
}

/// Whether `caller` (a manager) manages the request or its region.
pub async fn manages_request(
    conn: &mut PgConnection,
    caller: Caller<'_>,
    request_id: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let Some(request_id) = request_id else {
        return Ok(false);
    };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM service_requests WHERE id = $1 AND (manager_id = $2 OR region = ANY($3)))",
    )
    .bind(request_id)
    .bind(caller.user_id)
    .bind(caller.regions)
    .fetch_one(conn)
    .await
}

pub async fn list_documents(
    conn: &mut PgConnection,
    caller: Caller<'_>,
    request_id: Option<Uuid>,
    contractor_id: Option<Uuid>,
) -> Result<Vec<DocumentView>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d
         WHERE {} AND ($3::uuid IS NULL OR d.request_id = $3) AND ($4::uuid IS NULL OR d.contractor_id = $4)
         ORDER BY d.created_at DESC, d.id DESC LIMIT 500",
        visible(caller, "d")
    ))
    .bind(caller.user_id)
    .bind(caller.regions)
    .bind(request_id)
    .bind(contractor_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(document_from_row).collect()
}

/// Records a signature; false when this signer had signed already.
pub async fn add_signature(
    conn: &mut PgConnection,
    document_id: Uuid,
    signer_id: Uuid,
    role: Role,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO document_signatures (document_id, signer_id, signer_role, signed_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(document_id)
    .bind(signer_id)
    .bind(role.as_str())
    .bind(at)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PaymentView {
    pub id: Uuid,
    /// The completion act both parties signed.
    pub document_id: Uuid,
    pub request_id: Uuid,
    pub contractor_id: Uuid,
    pub customer_id: Uuid,
    pub amount: Money,
    pub processed_at: DateTime<Utc>,
}

/// Records the payment of a signed act; `None` when it was recorded before.
pub async fn insert_payment(
    conn: &mut PgConnection,
    payment: &PaymentView,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO payments (id, document_id, request_id, contractor_id, customer_id, amount_minor,
             currency, processed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (document_id) DO NOTHING",
    )
    .bind(payment.id)
    .bind(payment.document_id)
    .bind(payment.request_id)
    .bind(payment.contractor_id)
    .bind(payment.customer_id)
    .bind(payment.amount.amount_minor)
    .bind(&payment.amount.currency)
    .bind(payment.processed_at)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn list_payments(
    conn: &mut PgConnection,
    caller: Caller<'_>,
) -> Result<Vec<PaymentView>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT p.id, p.document_id, p.request_id, p.contractor_id, p.customer_id, p.amount_minor,
             p.currency, p.processed_at
         FROM payments p WHERE {} ORDER BY p.processed_at DESC, p.id DESC LIMIT 500",
        visible(caller, "p")
    ))
    .bind(caller.user_id)
    .bind(caller.regions)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(PaymentView {
                id: row.try_get("id")?,
                document_id: row.try_get("document_id")?,
                request_id: row.try_get("request_id")?,
                contractor_id: row.try_get("contractor_id")?,
                customer_id: row.try_get("customer_id")?,
                amount: Money {
                    amount_minor: row.try_get("amount_minor")?,
                    currency: row.try_get("currency")?,
                },
                processed_at: row.try_get("processed_at")?,
            })
        })
        .collect()
}

/// A user's display name, regions and categories.
pub async fn user_facts(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, Vec<String>, Vec<String>)>, sqlx::Error> {
    sqlx::query_as("SELECT display_name, regions, categories FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A request's title and address.
pub async fn request_facts(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT title, address FROM service_requests WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}
