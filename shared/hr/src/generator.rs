//! The `hr-documents` consumer of `security-events`, `workflow-events` and `hr-events`:
//! - `security.contractor_verified` -> the contractor's contract (`hr.contract_generated`);
//! - `workflow.work_completed` -> the completion act and the payment order
//!   (`hr.document_created` each, with the final price);
//! - `hr.document_signed` of a fully signed completion act -> the payment (`hr.payment_processed`).
//!
//! PDFs go to S3 under a key derived from the event, with a document id derived from the event
//! (UUIDv5), so a redelivery rewrites the same object and the row insert is a no-op; the row,
//! the events and the `(consumer, event id)` mark commit together.

use crate::files::DocumentFiles;
use crate::pdf::{DocumentText, render};
use crate::store::{self, NewDocument, PaymentView};
use crate::texts::{self, ContractFacts, WorkFacts};
use chrono::Utc;
use servicehub_events::catalog::{
    ContractGenerated, ContractorVerified, DocumentCreated, DocumentSigned, PaymentProcessed,
    StoredFile, WorkCompleted,
};
use servicehub_events::values::DocumentKind;
use servicehub_events::{DomainEvent, Envelope};
use servicehub_platform::consumer::{EventHandler, HandlerError, Outcome};
use servicehub_platform::{Services, idempotency};
use uuid::Uuid;

pub struct DocumentGenerator<'a> {
    pub services: &'a Services,
    pub files: &'a DocumentFiles,
}

/// The id of the document of `kind` that event `event_id` produces, the same on every delivery.
pub fn document_id(event_id: Uuid, kind: DocumentKind) -> Uuid {
    Uuid::new_v5(&event_id, kind.as_str().as_bytes())
}

fn short_number(id: Uuid) -> String {
    id.simple().to_string()[..8].to_uppercase()
}

impl DocumentGenerator<'_> {
    async fn store_pdf(
        &self,
        kind: DocumentKind,
        id: Uuid,
        text: &DocumentText,
    ) -> Result<StoredFile, HandlerError> {
        let pdf = render(text).map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let key = format!("documents/{}/{id}.pdf", kind.as_str());
        // S3 being unreachable is worth retrying; the batch is retried as a whole.
        self.files
            .put_pdf(&key, pdf)
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))
    }

    async fn contract(
        &self,
        envelope: &Envelope,
        verified: &ContractorVerified,
    ) -> Result<Option<Vec<Envelope>>, HandlerError> {
        let me = self.services.config.service_name.as_str();
        let mut conn = self.services.pool.acquire().await?;
        let Some((name, _, _)) = store::user_facts(&mut conn, verified.contractor_id).await? else {
            return Err(HandlerError::Permanent(format!(
                "contractor {} does not exist",
                verified.contractor_id
            )));
        };
        drop(conn);
        let id = document_id(envelope.meta.id, DocumentKind::Contract);
        let number = short_number(id);
        let text = texts::contract(&ContractFacts {
            number: &number,
            contractor_name: &name,
            regions: &verified.regions,
            categories: &verified.categories,
            valid_from: verified.verified_at,
        });
        let file = self.store_pdf(DocumentKind::Contract, id, &text).await?;
        let now = Utc::now();
        let new = NewDocument {
            id,
            kind: DocumentKind::Contract,
            title: &text.title,
            request_id: None,
            contractor_id: verified.contractor_id,
            customer_id: None,
            amount: None,
            bucket: &file.bucket,
            key: &file.key,
            sha256: &file.sha256,
            size_bytes: file.size_bytes,
            source_event_id: envelope.meta.id,
            at: now,
        };
        let event = Envelope::caused_by(
            me,
            &envelope.meta,
            ContractGenerated {
                document_id: id,
                contractor_id: verified.contractor_id,
                file: file.clone(),
                valid_from: verified.verified_at,
                generated_at: now,
            },
        );
        self.commit(envelope, &[new], vec![event]).await
    }

    async fn work_documents(
        &self,
        envelope: &Envelope,
        done: &WorkCompleted,
    ) -> Result<Option<Vec<Envelope>>, HandlerError> {
        let me = self.services.config.service_name.as_str();
        let mut conn = self.services.pool.acquire().await?;
        let (title, address) = store::request_facts(&mut conn, done.request_id)
            .await?
            .ok_or_else(|| {
                HandlerError::Permanent(format!("request {} does not exist", done.request_id))
            })?;
        let name = |facts: Option<(String, Vec<String>, Vec<String>)>| {
            facts.map(|f| f.0).unwrap_or_else(|| "—".into())
        };
        let customer = name(store::user_facts(&mut conn, done.customer_id).await?);
        let contractor = name(store::user_facts(&mut conn, done.contractor_id).await?);
        drop(conn);
        let now = Utc::now();
        let mut rows = Vec::new();
        let mut events = Vec::new();
        let mut stored = Vec::new();
        for kind in [DocumentKind::CompletionAct, DocumentKind::PaymentOrder] {
            let id = document_id(envelope.meta.id, kind);
            let number = short_number(id);
            let facts = WorkFacts {
                number: &number,
                request_title: &title,
                address: &address,
                customer_name: &customer,
                contractor_name: &contractor,
                report: &done.completion_report,
                price: &done.final_price,
                completed_at: done.completed_at,
            };
            let text = match kind {
                DocumentKind::CompletionAct => texts::completion_act(&facts),
                _ => texts::payment_order(&facts),
            };
            let file = self.store_pdf(kind, id, &text).await?;
            events.push(Envelope::caused_by(
                me,
                &envelope.meta,
                DocumentCreated {
                    document_id: id,
                    kind,
                    request_id: Some(done.request_id),
                    contractor_id: done.contractor_id,
                    customer_id: Some(done.customer_id),
                    file: file.clone(),
                    amount: Some(done.final_price.clone()),
                    created_at: now,
                },
            ));
            stored.push((id, kind, text.title, file));
        }
        for (id, kind, title, file) in &stored {
            rows.push(NewDocument {
                id: *id,
                kind: *kind,
                title,
                request_id: Some(done.request_id),
                contractor_id: done.contractor_id,
                customer_id: Some(done.customer_id),
                amount: Some(&done.final_price),
                bucket: &file.bucket,
                key: &file.key,
                sha256: &file.sha256,
                size_bytes: file.size_bytes,
                source_event_id: envelope.meta.id,
                at: now,
            });
        }
        self.commit(envelope, &rows, events).await
    }

    async fn payment(
        &self,
        envelope: &Envelope,
        signed: &DocumentSigned,
    ) -> Result<Option<Vec<Envelope>>, HandlerError> {
        if signed.kind != DocumentKind::CompletionAct || !signed.fully_signed {
            return Ok(Some(Vec::new()));
        }
        let me = self.services.config.service_name.as_str();
        let mut conn = self.services.pool.acquire().await?;
        let act = store::find_document(&mut conn, signed.document_id, false)
            .await?
            .ok_or_else(|| {
                HandlerError::Permanent(format!("document {} does not exist", signed.document_id))
            })?;
        drop(conn);
        // The event says what happened; the database says what holds. Only an act whose
        // signatures are all in the database is paid, whatever an event on the topic claims.
        if act.kind != DocumentKind::CompletionAct || !act.fully_signed {
            tracing::warn!(
                document_id = %act.id,
                event_id = %envelope.meta.id,
                "hr.document_signed says the act is fully signed; its signatures say otherwise: no payment"
            );
            return Ok(Some(Vec::new()));
        }
        let (Some(request_id), Some(customer_id), Some(amount)) =
            (act.request_id, act.customer_id, act.amount.clone())
        else {
            return Err(HandlerError::Permanent(format!(
                "act {} has no request, customer or amount",
                act.id
            )));
        };
        let payment = PaymentView {
            id: Uuid::new_v5(&envelope.meta.id, b"payment"),
            document_id: act.id,
            request_id,
            contractor_id: act.contractor_id,
            customer_id,
            amount: amount.clone(),
            processed_at: Utc::now(),
        };
        let Some(mut tx) = self.begin(envelope).await? else {
            return Ok(None);
        };
        let events = if store::insert_payment(&mut tx, &payment).await? {
            vec![Envelope::caused_by(
                me,
                &envelope.meta,
                PaymentProcessed {
                    payment_id: payment.id,
                    document_id: act.id,
                    request_id,
                    contractor_id: act.contractor_id,
                    amount,
                    processed_at: payment.processed_at,
                },
            )]
        } else {
            Vec::new()
        };
        self.services.commit_with_events(tx, &events).await?;
        Ok(Some(events))
    }

    async fn begin(
        &self,
        envelope: &Envelope,
    ) -> Result<Option<sqlx::Transaction<'static, sqlx::Postgres>>, HandlerError> {
        let me = self.services.config.service_name.as_str();
        Ok(idempotency::begin_once(&self.services.pool, me, envelope.meta.id).await?)
    }

    /// Inserts the rows and enqueues the events with the consumer's mark; a duplicate delivery
    /// (the mark exists) changes nothing.
    async fn commit(
        &self,
        envelope: &Envelope,
        rows: &[NewDocument<'_>],
        events: Vec<Envelope>,
    ) -> Result<Option<Vec<Envelope>>, HandlerError> {
        let Some(mut tx) = self.begin(envelope).await? else {
            return Ok(None);
        };
        for row in rows {
            store::insert_document(&mut tx, row).await?;
        }
        self.services.commit_with_events(tx, &events).await?;
        Ok(Some(events))
    }
}

impl EventHandler for DocumentGenerator<'_> {
    async fn handle(&self, envelope: &Envelope) -> Result<Outcome, HandlerError> {
        let me = self.services.config.service_name.as_str();
        let relevant = matches!(
            envelope.data,
            DomainEvent::ContractorVerified(_)
                | DomainEvent::WorkCompleted(_)
                | DomainEvent::DocumentSigned(_)
        );
        // Rendering and uploading PDFs is the expensive part: skip it for a known redelivery.
        if relevant && idempotency::handled(&self.services.pool, me, envelope.meta.id).await? {
            return Ok(Outcome::Duplicate);
        }
        let events = match &envelope.data {
            DomainEvent::ContractorVerified(verified) => self.contract(envelope, verified).await?,
            DomainEvent::WorkCompleted(done) => self.work_documents(envelope, done).await?,
            DomainEvent::DocumentSigned(signed) => self.payment(envelope, signed).await?,
            _ => return Ok(Outcome::Ignored),
        };
        Ok(match events {
            Some(_) => Outcome::Applied,
            None => Outcome::Duplicate,
        })
    }
}
