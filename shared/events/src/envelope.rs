//! The CloudEvents 1.0 envelope (structured JSON mode) with our extension attributes:
//! `correlationid`, `causationid` and the distributed-tracing `traceparent`.

use crate::catalog::{DomainEvent, dataschema_uri};
use crate::error::RecordError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

pub const SPEC_VERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/json";

/// The attributes of an event, everything but its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    /// UUIDv7: unique, and sortable by creation time.
    pub id: Uuid,
    /// The function that produced the event, e.g. `create-request`.
    pub source: String,
    pub event_type: String,
    pub time: DateTime<Utc>,
    /// The aggregate id; also the Kafka record key.
    pub subject: String,
    pub dataschema: String,
    /// Shared by every event that follows from one original action.
    pub correlation_id: Uuid,
    /// The event (or request) that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// W3C trace context of the work that produced the event.
    pub traceparent: Option<Traceparent>,
}

/// An event with its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub meta: EventMeta,
    pub data: DomainEvent,
}

impl Envelope {
    /// A new event that starts a causal chain (its correlation id is its own id).
    pub fn new(source: &str, data: impl Into<DomainEvent>) -> Envelope {
        let data = data.into();
        let id = Uuid::now_v7();
        Envelope {
            meta: EventMeta {
                id,
                source: source.to_owned(),
                event_type: data.event_type().to_owned(),
                time: Utc::now(),
                subject: data.subject(),
                dataschema: dataschema_uri(data.event_type(), data.version()),
                correlation_id: id,
                causation_id: None,
                traceparent: Some(Traceparent::new_root()),
            },
            data,
        }
    }

    /// A new event caused by `cause`: same correlation id, causation = the cause's id, and a child
    /// span of the cause's trace.
    pub fn caused_by(source: &str, cause: &EventMeta, data: impl Into<DomainEvent>) -> Envelope {
        Envelope::caused_by_parts(
            source,
            cause.id,
            cause.correlation_id,
            cause.traceparent.as_ref(),
            data,
        )
    }

    /// [`Self::caused_by`] from the cause's id, correlation id and trace context alone, for a
    /// cause kept in a store rather than at hand.
    pub fn caused_by_parts(
        source: &str,
        cause_id: Uuid,
        correlation_id: Uuid,
        cause_trace: Option<&Traceparent>,
        data: impl Into<DomainEvent>,
    ) -> Envelope {
        let mut envelope = Envelope::new(source, data);
        envelope.meta.correlation_id = correlation_id;
        envelope.meta.causation_id = Some(cause_id);
        envelope.meta.traceparent = Some(match cause_trace {
            Some(parent) => parent.child(),
            None => Traceparent::new_root(),
        });
        envelope
    }

    /// Sets the correlation and causation ids and the trace context, e.g. from an HTTP request.
    pub fn with_context(
        mut self,
        correlation_id: Uuid,
        causation_id: Option<Uuid>,
        traceparent: Option<Traceparent>,
    ) -> Envelope {
        self.meta.correlation_id = correlation_id;
        self.meta.causation_id = causation_id;
        if let Some(traceparent) = traceparent {
            self.meta.traceparent = Some(traceparent);
        }
        self
    }

    /// The CloudEvents structured-mode JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = Wire {
            specversion: SPEC_VERSION.into(),
            id: self.meta.id,
            source: self.meta.source.clone(),
            event_type: self.meta.event_type.clone(),
            time: self.meta.time,
            subject: self.meta.subject.clone(),
            dataschema: self.meta.dataschema.clone(),
            datacontenttype: Some(CONTENT_TYPE.into()),
            correlationid: self.meta.correlation_id,
            causationid: self.meta.causation_id,
            traceparent: self.meta.traceparent.as_ref().map(|t| t.0.clone()),
            data: &self.data,
        };
        serde_json::to_vec(&wire).expect("an envelope always serializes")
    }

    /// Parses CloudEvents structured-mode JSON into a typed envelope.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, RecordError> {
        let wire: Wire<Box<RawValue>> =
            serde_json::from_slice(bytes).map_err(|e| RecordError::NotAnEnvelope(e.to_string()))?;
        if wire.specversion != SPEC_VERSION {
            return Err(RecordError::UnsupportedSpecVersion(wire.specversion));
        }
        if let Some(content_type) = &wire.datacontenttype
            && !content_type.starts_with(CONTENT_TYPE)
        {
            return Err(RecordError::NotAnEnvelope(format!(
                "datacontenttype {content_type:?} is not {CONTENT_TYPE}"
            )));
        }
        let data = DomainEvent::decode(&wire.event_type, &wire.dataschema, &wire.data)?;
        let traceparent = match wire.traceparent {
            Some(text) => Some(Traceparent::parse(&text).ok_or_else(|| {
                RecordError::NotAnEnvelope(format!("traceparent {text:?} is not W3C trace context"))
            })?),
            None => None,
        };
        Ok(Envelope {
            meta: EventMeta {
                id: wire.id,
                source: wire.source,
                event_type: wire.event_type,
                time: wire.time,
                subject: wire.subject,
                dataschema: wire.dataschema,
                correlation_id: wire.correlationid,
                causation_id: wire.causationid,
                traceparent,
            },
            data,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Wire<D> {
    specversion: String,
    id: Uuid,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    time: DateTime<Utc>,
    subject: String,
    dataschema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    datacontenttype: Option<String>,
    correlationid: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causationid: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    data: D,
}

/// A W3C `traceparent` (version 00): `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Traceparent(String);

impl Traceparent {
    pub fn parse(text: &str) -> Option<Traceparent> {
        let parts: Vec<&str> = text.split('-').collect();
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return None;
        };
        let valid = hex(version, 2)
            && *version != "ff"
            && hex(trace_id, 32)
            && trace_id.bytes().any(|b| b != b'0')
            && hex(parent_id, 16)
            && parent_id.bytes().any(|b| b != b'0')
            && hex(flags, 2);
        valid.then(|| Traceparent(text.to_owned()))
    }

    /// A new trace, sampled.
    pub fn new_root() -> Traceparent {
        Traceparent(format!(
            "00-{}-{}-01",
            Uuid::new_v4().simple(),
            random_span_id()
        ))
    }

    /// The same trace with a new span id: the context to hand to work this span causes.
    pub fn child(&self) -> Traceparent {
        let trace_id = &self.0[3..35];
        let flags = &self.0[53..55];
        Traceparent(format!("00-{trace_id}-{}-{flags}", random_span_id()))
    }

    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn random_span_id() -> String {
    let id = Uuid::new_v4().simple().to_string();
    id[..16].to_owned()
}

impl std::fmt::Display for Traceparent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
