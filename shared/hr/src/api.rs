//! `GET /documents`, `GET /documents/{id}` (with a short-lived download link),
//! `POST /documents/{id}/sign` and `GET /payments`.

use crate::files::DocumentFiles;
use crate::store::{self, DocumentView, PaymentView};
use crate::texts::{fully_signed, required_signers};
use chrono::Utc;
use lambda_http::{Body, Request, RequestExt, Response};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use servicehub_domain::commands::Caller;
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::Envelope;
use servicehub_events::catalog::{DocumentSigned, UserAction};
use servicehub_events::values::{Actor, AuditOutcome, Role};
use servicehub_platform::Services;
use servicehub_platform::http::{ApiError, Identity, RequestInfo, json_response, path_uuid};
use std::time::Duration;
use uuid::Uuid;

/// How long a download link works.
pub const DOWNLOAD_LINK_TTL: Duration = Duration::from_secs(300);

#[derive(Serialize, JsonSchema)]
pub struct DocumentList {
    pub items: Vec<DocumentView>,
}

#[derive(Serialize, JsonSchema)]
pub struct PaymentList {
    pub items: Vec<PaymentView>,
}

fn caller(identity: &Identity) -> Caller<'_> {
    Caller {
        user_id: identity.user_id,
        role: identity.role,
        regions: &identity.regions,
    }
}

fn uuid_params(request: &Request, names: &[&'static str]) -> Result<Vec<Option<Uuid>>, ApiError> {
    let params = request.query_string_parameters();
    let mut errors = ValidationErrors::default();
    let mut seen: Vec<&str> = params.iter().map(|(name, _)| name).collect();
    seen.sort();
    for name in seen {
        if !names.contains(&name) {
            errors.add(
                name,
                "unknown_parameter",
                format!("{name} is not a known query parameter"),
            );
        }
    }
    let values = names
        .iter()
        .map(|name| {
            params.first(name).and_then(|raw| {
                let parsed = Uuid::parse_str(raw).ok();
                if parsed.is_none() {
                    errors.add(*name, "invalid_format", format!("{name} must be a UUID"));
                }
                parsed
            })
        })
        .collect();
    errors.finish(|| values).map_err(ApiError::from)
}

/// `GET /documents?request_id=&contractor_id=`: what the caller may see.
pub async fn list(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let filters = uuid_params(&request, &["request_id", "contractor_id"])?;
    let mut conn = services.pool.acquire().await?;
    let items = store::list_documents(&mut conn, caller(identity), filters[0], filters[1]).await?;
    Ok(json_response(200, &DocumentList { items }, &info, None))
}

async fn visible_document(
    conn: &mut sqlx::PgConnection,
    identity: &Identity,
    id: Uuid,
    lock: bool,
) -> Result<DocumentView, ApiError> {
    let not_found = || ApiError::NotFound(format!("no document with id {id}"));
    let doc = store::find_document(conn, id, lock)
        .await?
        .ok_or_else(not_found)?;
    let managed = identity.role == Role::Manager
        && store::manages_request(conn, caller(identity), doc.request_id).await?;
    if store::may_see(caller(identity), &doc, managed) {
        Ok(doc)
    } else {
        Err(not_found())
    }
}

/// `GET /documents/{id}`: the document and a link to its PDF, valid for five minutes.
pub async fn get(
    services: &Services,
    files: &DocumentFiles,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let id = path_uuid(&request, "id", "document")?;
    let mut conn = services.pool.acquire().await?;
    let mut doc = visible_document(&mut conn, identity, id, false).await?;
    drop(conn);
    doc.download_url = Some(
        files
            .download_url(&doc.s3_key, DOWNLOAD_LINK_TTL)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?,
    );
    Ok(json_response(200, &doc, &info, None))
}

/// `POST /documents/{id}/sign`: a party the document needs signs it (409 when they have).
pub async fn sign(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    let id = path_uuid(&request, "id", "document")?;
    let mut tx = services.pool.begin().await?;
    let doc = visible_document(&mut tx, identity, id, true).await?;
    let party = match identity.role {
        Role::Contractor => doc.contractor_id == identity.user_id,
        Role::Customer => doc.customer_id == Some(identity.user_id),
        _ => false,
    };
    if !party || !required_signers(doc.kind).contains(&identity.role) {
        return Err(ApiError::Forbidden(format!(
            "a {} is signed by its {}",
            doc.kind,
            required_signers(doc.kind)
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        )));
    }
    // A contractor revoked, rejected or disabled since the document was made signs nothing:
    // their signature on an act would still release the payment.
    if identity.role == Role::Contractor
        && !servicehub_platform::standing::contractor_in_good_standing(&mut tx, identity.user_id)
            .await?
    {
        return Err(ApiError::Forbidden(
            "your contractor access is revoked, rejected or disabled".into(),
        ));
    }
    let now = Utc::now();
    if !store::add_signature(&mut tx, id, identity.user_id, identity.role, now).await? {
        return Err(ApiError::Conflict {
            detail: "you have signed this document already".into(),
            current_status: None,
        });
    }
    let mut roles: Vec<Role> = doc.signatures.iter().map(|s| s.signer_role).collect();
    roles.push(identity.role);
    let complete = fully_signed(doc.kind, &roles);
    let source = services.config.service_name.as_str();
    let signed = Envelope::new(
        source,
        DocumentSigned {
            document_id: id,
            kind: doc.kind,
            request_id: doc.request_id,
            signed_by: identity.user_id,
            signer_role: identity.role,
            fully_signed: complete,
            signed_at: now,
        },
    )
    .with_context(info.correlation_id, None, info.traceparent.clone());
    let audit = Envelope::caused_by(
        source,
        &signed.meta,
        UserAction {
            actor: Actor::user(identity.user_id, identity.role),
            action: "document.sign".into(),
            resource_type: "document".into(),
            resource_id: id.to_string(),
            outcome: AuditOutcome::Success,
            details: json!({"kind": doc.kind, "fully_signed": complete}),
            at: now,
        },
    );
    let events = [signed, audit];
    let updated = store::find_document(&mut tx, id, false)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("document {id} vanished")))?;
    services.commit_with_events(tx, &events).await?;
    Ok(json_response(200, &updated, &info, None))
}

/// `GET /payments`: a customer's and a contractor's own, a manager's requests', all for
/// security and admins.
pub async fn payments(
    services: &Services,
    request: Request,
    info: RequestInfo,
) -> Result<Response<Body>, ApiError> {
    let identity = info.require_identity()?;
    uuid_params(&request, &[])?;
    let mut conn = services.pool.acquire().await?;
    let items = store::list_payments(&mut conn, caller(identity)).await?;
    Ok(json_response(200, &PaymentList { items }, &info, None))
}
