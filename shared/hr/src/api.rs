//! `GET /documents`, `GET /documents/{id}` (with a short-lived download link),
//! `POST /documents/{id}/sign` and `GET /payments`: use cases that know nothing of HTTP (the
//! caller, the document's id or the query pairs in; a view or a [`DocumentError`] out). Their
//! routes are `http_main!` lines; [`DocumentError`]'s answers are its `From` impl below.

use crate::files::{DocumentFiles, FileError};
use crate::store::{self, DocumentView, PaymentView};
use crate::texts::{fully_signed, required_signers};
use chrono::Utc;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use servicehub_domain::commands;
use servicehub_domain::listing::unknown_parameter;
use servicehub_domain::validation::ValidationErrors;
use servicehub_events::Envelope;
use servicehub_events::catalog::{DocumentSigned, UserAction};
use servicehub_events::values::{Actor, AuditOutcome, DocumentKind, Role};
use servicehub_platform::function::Environment;
use servicehub_platform::http::{ApiError, Caller, Identity};
use servicehub_platform::report::Reporter;
use servicehub_platform::{BoxError, Services};
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

/// Why a use case on documents or payments did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Missing, or hidden from the caller: existence must not leak.
    #[error("no document with id {0}")]
    NoSuchDocument(Uuid),
    /// The caller sees the document but is not a party who signs it.
    #[error("a {0} is signed by its {signers}", signers = signer_names(*.0))]
    NotASigner(DocumentKind),
    /// A contractor revoked, rejected or disabled since the document was made: their signature
    /// on an act would still release the payment.
    #[error("your contractor access is revoked, rejected or disabled")]
    NotInGoodStanding,
    #[error("you have signed this document already")]
    AlreadySigned,
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The download link could not be made.
    #[error(transparent)]
    Files(#[from] FileError),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl From<DocumentError> for ApiError {
    fn from(error: DocumentError) -> ApiError {
        match error {
            DocumentError::NoSuchDocument(_) => ApiError::NotFound(error.to_string()),
            DocumentError::NotASigner(_) | DocumentError::NotInGoodStanding => {
                ApiError::Forbidden(error.to_string())
            }
            DocumentError::AlreadySigned => ApiError::Conflict {
                detail: error.to_string(),
                current_status: None,
            },
            DocumentError::Invalid(errors) => errors.into(),
            DocumentError::Files(failure) => ApiError::Unavailable(failure.to_string()),
            DocumentError::Store(failure) => failure.into(),
        }
    }
}

/// "customer and contractor": who signs a document of `kind`.
fn signer_names(kind: DocumentKind) -> String {
    required_signers(kind)
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The clients of `get-document`: the database, and S3 for the download links.
pub struct HrServices {
    pub services: Services,
    pub files: DocumentFiles,
}

impl HrServices {
    pub async fn from_env(service_name: &str) -> Result<HrServices, BoxError> {
        Ok(HrServices {
            services: Services::from_env(service_name).await?,
            files: DocumentFiles::from_env().await?,
        })
    }
}

impl Environment for HrServices {
    fn reporter(&self) -> &Reporter {
        &self.services.reporter
    }
}

/// Whose documents and payments the caller sees, as the store asks it.
fn viewer(identity: &Identity) -> commands::Caller<'_> {
    commands::Caller {
        user_id: identity.user_id,
        role: identity.role,
        regions: &identity.regions,
    }
}

/// The UUID filters `names` from the query `pairs` (sorted by name), in that order. A repeated
/// filter counts by its first value; every other parameter is an error, once per name.
fn uuid_params(
    pairs: &[(String, String)],
    names: &[&'static str],
) -> Result<Vec<Option<Uuid>>, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let mut unknown: Vec<&str> = pairs
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !names.contains(name))
        .collect();
    unknown.dedup();
    for name in unknown {
        unknown_parameter(name, &mut errors);
    }
    let values = names
        .iter()
        .map(|name| {
            let (_, raw) = pairs.iter().find(|(given, _)| given == name)?;
            let parsed = Uuid::parse_str(raw).ok();
            if parsed.is_none() {
                errors.add(*name, "invalid_format", format!("{name} must be a UUID"));
            }
            parsed
        })
        .collect();
    errors.finish(|| values)
}

/// `GET /documents?request_id=&contractor_id=`: what the caller may see.
pub async fn list(
    services: &Services,
    caller: Caller,
    pairs: Vec<(String, String)>,
) -> Result<DocumentList, DocumentError> {
    let filters = uuid_params(&pairs, &["request_id", "contractor_id"])?;
    let mut conn = services.pool.acquire().await?;
    let items =
        store::list_documents(&mut conn, viewer(&caller.identity), filters[0], filters[1]).await?;
    Ok(DocumentList { items })
}

async fn visible_document(
    conn: &mut sqlx::PgConnection,
    identity: &Identity,
    id: Uuid,
    lock: bool,
) -> Result<DocumentView, DocumentError> {
    let doc = store::find_document(conn, id, lock)
        .await?
        .ok_or(DocumentError::NoSuchDocument(id))?;
    let managed = identity.role == Role::Manager
        && store::manages_request(conn, viewer(identity), doc.request_id).await?;
    if store::may_see(viewer(identity), &doc, managed) {
        Ok(doc)
    } else {
        Err(DocumentError::NoSuchDocument(id))
    }
}

/// `GET /documents/{id}`: the document and a link to its PDF, valid for five minutes.
pub async fn get(
    environment: &HrServices,
    caller: Caller,
    id: Uuid,
) -> Result<DocumentView, DocumentError> {
    let mut conn = environment.services.pool.acquire().await?;
    let mut doc = visible_document(&mut conn, &caller.identity, id, false).await?;
    drop(conn);
    doc.download_url = Some(
        environment
            .files
            .download_url(&doc.s3_key, DOWNLOAD_LINK_TTL)
            .await?,
    );
    Ok(doc)
}

/// `POST /documents/{id}/sign`: a party the document needs signs it, once.
pub async fn sign(
    services: &Services,
    caller: Caller,
    id: Uuid,
) -> Result<DocumentView, DocumentError> {
    let identity = &caller.identity;
    let mut tx = services.pool.begin().await?;
    let doc = visible_document(&mut tx, identity, id, true).await?;
    let party = match identity.role {
        Role::Contractor => doc.contractor_id == identity.user_id,
        Role::Customer => doc.customer_id == Some(identity.user_id),
        _ => false,
    };
    if !party || !required_signers(doc.kind).contains(&identity.role) {
        return Err(DocumentError::NotASigner(doc.kind));
    }
    if identity.role == Role::Contractor
        && !servicehub_platform::standing::contractor_in_good_standing(&mut tx, identity.user_id)
            .await?
    {
        return Err(DocumentError::NotInGoodStanding);
    }
    let now = Utc::now();
    if !store::add_signature(&mut tx, id, identity.user_id, identity.role, now).await? {
        return Err(DocumentError::AlreadySigned);
    }
    let mut roles: Vec<Role> = doc.signatures.iter().map(|s| s.signer_role).collect();
    roles.push(identity.role);
    let complete = fully_signed(doc.kind, &roles);
    let source = services.config.service_name.as_str();
    let signed = caller.trace.stamp(Envelope::new(
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
    ));
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
    // Locked above in this transaction, so it is there: a miss is a failure of the store.
    let updated = store::find_document(&mut tx, id, false)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    services.commit_with_events(tx, &events).await?;
    Ok(updated)
}

/// `GET /payments`: a customer's and a contractor's own, a manager's requests', all for
/// security and admins. It takes no parameters.
pub async fn payments(
    services: &Services,
    caller: Caller,
    pairs: Vec<(String, String)>,
) -> Result<PaymentList, DocumentError> {
    uuid_params(&pairs, &[])?;
    let mut conn = services.pool.acquire().await?;
    let items = store::list_payments(&mut conn, viewer(&caller.identity)).await?;
    Ok(PaymentList { items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn a_repeated_filter_counts_by_its_first_value_and_an_unknown_name_is_reported_once() {
        let id = Uuid::now_v7();
        let given = pairs(&[
            ("colour", "red"),
            ("colour", "blue"),
            ("request_id", &id.to_string()),
            ("request_id", "bob"),
        ]);
        let errors = uuid_params(&given, &["request_id", "contractor_id"]).unwrap_err();
        let reported: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(reported, [("colour", "unknown_parameter")]);
        let filters = uuid_params(&given[2..], &["request_id", "contractor_id"]).unwrap();
        assert_eq!(filters, [Some(id), None]);
        let bad = uuid_params(
            &pairs(&[("contractor_id", "bob")]),
            &["request_id", "contractor_id"],
        );
        assert_eq!(bad.unwrap_err().0[0].code, "invalid_format");
    }

    #[test]
    fn a_refused_signature_names_who_signs() {
        let refused = DocumentError::NotASigner(DocumentKind::CompletionAct);
        assert_eq!(
            refused.to_string(),
            "a completion_act is signed by its customer and contractor"
        );
    }
}
