use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use servicehub_events::catalog::{ManagerAssigned, RequestCreated};
use servicehub_events::envelope::Traceparent;
use servicehub_events::lambda_kafka::{
    ConsumedRecord, KafkaSource, TriggerError, build_trigger, decode_trigger,
};
use servicehub_events::values::{Money, Priority, TimeWindow, Urgency};
use servicehub_events::{DomainEvent, Envelope, KafkaMessage, RecordError, Topic};
use uuid::Uuid;

fn request_created() -> RequestCreated {
    RequestCreated {
        request_id: Uuid::now_v7(),
        customer_id: Uuid::now_v7(),
        title: "Не работает холодильник".into(),
        description: "Холодильник Bosch перестал морозить".into(),
        category: "appliance-repair".into(),
        urgency: Urgency::High,
        region: "Москва".into(),
        city: "Москва".into(),
        address: "ул. Ленина, 1".into(),
        preferred_time_window: Some(TimeWindow {
            from: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).unwrap(),
        }),
        budget: Some(Money {
            amount_minor: 500_000,
            currency: "RUB".into(),
        }),
        created_at: Utc::now(),
    }
}

fn consumed(message: KafkaMessage, partition: i32, offset: i64) -> ConsumedRecord {
    ConsumedRecord {
        message,
        partition,
        offset,
        timestamp: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        timestamp_type: "CREATE_TIME".into(),
    }
}

#[test]
fn envelope_carries_cloudevents_attributes_and_round_trips_through_kafka() {
    let event = request_created();
    let envelope = Envelope::new("create-request", event.clone());
    assert_eq!(envelope.meta.id.get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(envelope.meta.subject, event.request_id.to_string());
    assert_eq!(envelope.meta.correlation_id, envelope.meta.id);

    let json: Value = serde_json::from_slice(&envelope.to_json()).unwrap();
    assert_eq!(json["specversion"], "1.0");
    assert_eq!(json["type"], "request.created");
    assert_eq!(json["source"], "create-request");
    assert_eq!(
        json["dataschema"],
        "urn:servicehub:schema:request.created:1"
    );
    assert_eq!(json["data"]["title"], "Не работает холодильник");

    let message = envelope.to_kafka();
    assert_eq!(message.topic, "request-events");
    assert_eq!(
        message.key.as_deref(),
        Some(event.request_id.to_string().as_bytes())
    );
    assert_eq!(message.header("ce_type"), Some(&b"request.created"[..]));
    assert_eq!(
        message.header("ce_id"),
        Some(envelope.meta.id.to_string().as_bytes())
    );
    assert!(message.header("traceparent").is_some());
    assert_eq!(Envelope::from_kafka(&message).unwrap(), envelope);
}

#[test]
fn caused_events_share_correlation_and_trace() {
    let cause = Envelope::new("create-request", request_created());
    let effect = Envelope::caused_by(
        "assign-manager",
        &cause.meta,
        ManagerAssigned {
            request_id: Uuid::now_v7(),
            manager_id: Uuid::now_v7(),
            customer_id: Uuid::now_v7(),
            region: "Москва".into(),
            priority: Priority::High,
            reason: "least loaded".into(),
            assigned_at: Utc::now(),
        },
    );
    assert_eq!(effect.meta.correlation_id, cause.meta.correlation_id);
    assert_eq!(effect.meta.causation_id, Some(cause.meta.id));
    let (parent, child) = (
        cause.meta.traceparent.unwrap(),
        effect.meta.traceparent.unwrap(),
    );
    assert_eq!(parent.trace_id(), child.trace_id());
    assert_ne!(parent, child);
    assert_eq!(effect.data.topic(), Topic::WorkflowEvents);
}

#[test]
fn traceparent_parsing_follows_w3c() {
    assert!(
        Traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_some()
    );
    for bad in [
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "",
    ] {
        assert!(Traceparent::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn msk_and_self_managed_triggers_decode_into_typed_envelopes_in_partition_order() {
    let envelopes: Vec<Envelope> = (0..5)
        .map(|_| Envelope::new("create-request", request_created()))
        .collect();
    let records: Vec<ConsumedRecord> = envelopes
        .iter()
        .enumerate()
        .map(|(i, e)| consumed(e.to_kafka(), (i % 2) as i32, 100 + i as i64))
        .collect();
    for source in [
        KafkaSource::Msk {
            cluster_arn: "arn:aws:kafka:eu-central-1:123456789012:cluster/servicehub/x".into(),
        },
        KafkaSource::SelfManaged,
    ] {
        let payload =
            serde_json::to_value(build_trigger(&source, "127.0.0.1:9092", &records)).unwrap();
        assert_eq!(
            payload["records"]["request-events-0"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let trigger = decode_trigger(&payload).unwrap();
        assert_eq!(trigger.source, source);
        assert_eq!(trigger.bootstrap_servers.as_deref(), Some("127.0.0.1:9092"));
        let offsets: Vec<(i64, Option<i64>)> = trigger
            .records
            .iter()
            .map(|r| (r.position.partition, r.position.offset))
            .collect();
        assert_eq!(
            offsets,
            vec![
                (0, Some(100)),
                (0, Some(102)),
                (0, Some(104)),
                (1, Some(101)),
                (1, Some(103))
            ]
        );
        for record in &trigger.records {
            let envelope = record.envelope.as_ref().unwrap();
            let original = &envelopes[(record.position.offset.unwrap() - 100) as usize];
            assert_eq!(envelope, original);
            assert_eq!(
                record.timestamp.unwrap().timestamp_millis(),
                1_700_000_000_123
            );
        }
    }
}

#[test]
fn headers_arrive_as_signed_bytes_including_non_ascii() {
    let envelope = Envelope::new("create-request", request_created());
    let mut message = envelope.to_kafka();
    let utf8 = "регион=Москва".as_bytes().to_vec();
    message.headers.push(("x-note".into(), utf8.clone()));
    let payload = serde_json::to_value(build_trigger(
        &KafkaSource::SelfManaged,
        "b:9092",
        &[consumed(message, 0, 7)],
    ))
    .unwrap();
    let headers = payload["records"]["request-events-0"][0]["headers"]
        .as_array()
        .unwrap();
    let note = headers.iter().find_map(|h| h.get("x-note")).unwrap();
    assert!(
        note.as_array()
            .unwrap()
            .iter()
            .any(|b| b.as_i64().unwrap() < 0),
        "signed bytes"
    );
    let trigger = decode_trigger(&payload).unwrap();
    assert_eq!(
        trigger.records[0].raw.header("x-note"),
        Some(utf8.as_slice())
    );
    assert!(trigger.records[0].envelope.is_ok());
}

#[test]
fn the_aws_fixture_decodes_per_record_without_panicking() {
    // aws_lambda_events' own MSK fixture: a real AWS payload whose value is not one of our events.
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/aws-example-kafka-event.json")).unwrap();
    let trigger = decode_trigger(&fixture).unwrap();
    assert!(matches!(trigger.source, KafkaSource::Msk { .. }));
    assert!(!trigger.records.is_empty());
    for record in &trigger.records {
        assert_eq!(record.position.topic, "AWSKafkaTopic");
        assert!(record.position.offset.is_some());
        assert!(
            matches!(record.envelope, Err(RecordError::NotAnEnvelope(_))),
            "{:?}",
            record.envelope
        );
    }
}

#[test]
fn a_malformed_record_is_reported_alone_and_the_rest_decode() {
    let good = Envelope::new("create-request", request_created());
    let mut payload = serde_json::to_value(build_trigger(
        &KafkaSource::SelfManaged,
        "b:9092",
        &[consumed(good.to_kafka(), 2, 10)],
    ))
    .unwrap();
    let group = payload["records"]["request-events-2"]
        .as_array_mut()
        .unwrap();
    let template = group[0].clone();
    let with = |field: &str, value: Value| {
        let mut r = template.clone();
        r[field] = value;
        r
    };
    let mut wrong_type_header = template.clone();
    wrong_type_header["headers"] =
        json!([{"ce_type": b"request.updated".iter().map(|b| *b as i8).collect::<Vec<_>>()}]);
    let mut no_offset = template.clone();
    no_offset.as_object_mut().unwrap().remove("offset");
    let unknown_type = {
        let mut e: Value = serde_json::from_slice(&good.to_json()).unwrap();
        e["type"] = json!("request.teleported");
        BASE64.encode(serde_json::to_vec(&e).unwrap())
    };
    let missing_field = {
        let mut e: Value = serde_json::from_slice(&good.to_json()).unwrap();
        e["data"].as_object_mut().unwrap().remove("region");
        BASE64.encode(serde_json::to_vec(&e).unwrap())
    };
    let future_version = {
        let mut e: Value = serde_json::from_slice(&good.to_json()).unwrap();
        e["dataschema"] = json!("urn:servicehub:schema:request.created:9");
        BASE64.encode(serde_json::to_vec(&e).unwrap())
    };
    group.extend([
        with("offset", json!(11)).tap_value("!!not base64!!"),
        with("offset", json!(12)).tap_value(&BASE64.encode("plain text")),
        with("offset", json!(13)).tap_value(&unknown_type),
        with("offset", json!(14)).tap_value(&missing_field),
        with("offset", json!(15)).tap_value(&future_version),
        {
            let mut r = with("offset", json!(16));
            r["headers"] = wrong_type_header["headers"].clone();
            r
        },
        with("key", json!(BASE64.encode("another-id"))).tap_offset(17),
        with("value", Value::Null).tap_offset(18),
        no_offset,
        with("offset", json!(20)),
    ]);
    let trigger = decode_trigger(&payload).unwrap();
    let outcome: Vec<String> = trigger
        .records
        .iter()
        .map(|r| match &r.envelope {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{e:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap()
                .to_owned(),
        })
        .collect();
    assert_eq!(
        outcome,
        [
            "ok",
            "BadBase64",
            "NotAnEnvelope",
            "UnknownEventType",
            "InvalidData",
            "UnsupportedVersion",
            "HeaderMismatch",
            "KeyMismatch",
            "MissingValue",
            "MalformedRecord",
            "ok"
        ]
    );
    // The broken record without an offset still says where it came from.
    assert_eq!(trigger.records[9].position.topic, "request-events");
    assert_eq!(trigger.records[9].position.partition, 2);
    // And errors read well enough to be a DLQ reason.
    let reason = trigger.records[4]
        .envelope
        .as_ref()
        .unwrap_err()
        .to_string();
    assert!(reason.contains("region"), "{reason}");
}

#[test]
fn payloads_that_are_not_kafka_triggers_are_rejected_whole() {
    assert!(matches!(
        decode_trigger(&json!([1, 2])),
        Err(TriggerError::NotAKafkaEvent(_))
    ));
    assert!(matches!(
        decode_trigger(&json!({"Records": []})),
        Err(TriggerError::NotAKafkaEvent(_))
    ));
    assert!(matches!(
        decode_trigger(&json!({"eventSource": "aws:sqs", "records": {}})),
        Err(TriggerError::UnknownEventSource(_))
    ));
    assert!(matches!(
        decode_trigger(&json!({"eventSource": "aws:kafka", "records": {}})),
        Err(TriggerError::NotAKafkaEvent(_))
    ));
    let empty = decode_trigger(&json!({"eventSource": "SelfManagedKafka", "records": {}})).unwrap();
    assert!(empty.records.is_empty());
}

#[test]
fn every_catalog_event_decodes_by_its_type() {
    let envelope = Envelope::new("create-request", request_created());
    let DomainEvent::RequestCreated(_) = Envelope::from_json(&envelope.to_json()).unwrap().data
    else {
        panic!("decoded into the wrong variant");
    };
}

trait RecordEdit {
    fn tap_value(self, value: &str) -> Value;
    fn tap_offset(self, offset: i64) -> Value;
}

impl RecordEdit for Value {
    fn tap_value(mut self, value: &str) -> Value {
        self["value"] = json!(value);
        self
    }
    fn tap_offset(mut self, offset: i64) -> Value {
        self["offset"] = json!(offset);
        self
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::collection::vec(any::<i8>(), 0..8).prop_map(|v| json!(v)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("eventSource".to_owned()),
                    Just("records".to_owned()),
                    Just("key".to_owned()),
                    Just("value".to_owned()),
                    Just("headers".to_owned()),
                    Just("offset".to_owned()),
                    Just("partition".to_owned()),
                    "[a-z-]{1,6}[0-9]?"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_never_panics_on_arbitrary_payloads(records in arbitrary_json(), source in prop_oneof![Just("aws:kafka"), Just("SelfManagedKafka")]) {
        let payload = json!({"eventSource": source, "eventSourceArn": "arn", "records": records});
        let _ = decode_trigger(&payload);
    }

    #[test]
    fn decoding_never_panics_on_arbitrary_record_values(value in prop::collection::vec(any::<u8>(), 0..200), partition in 0i64..10) {
        let payload = json!({"eventSource": "SelfManagedKafka", "records": {
            format!("request-events-{partition}"): [{
                "topic": "request-events", "partition": partition, "offset": 1, "timestamp": 0,
                "timestampType": "CREATE_TIME", "key": null, "value": BASE64.encode(&value), "headers": []
            }]
        }});
        let trigger = decode_trigger(&payload).unwrap();
        prop_assert_eq!(trigger.records.len(), 1);
        prop_assert!(trigger.records[0].envelope.is_err());
    }
}

/// Our payload, read by the AWS types crate, gives the same fields: the shape is AWS's.
#[test]
fn built_payload_matches_the_aws_lambda_events_model_field_for_field() {
    let envelope = Envelope::new("create-request", request_created());
    let record = consumed(envelope.to_kafka(), 4, 42);
    let payload = serde_json::to_value(build_trigger(
        &KafkaSource::Msk {
            cluster_arn: "arn:aws:kafka:eu-central-1:1:cluster/c/x".into(),
        },
        "b-1:9092",
        &[record],
    ))
    .unwrap();
    assert!(
        payload["records"]["request-events-4"][0]["timestamp"].is_i64(),
        "AWS sends a number"
    );
    let aws: aws_lambda_events::event::kafka::KafkaEvent =
        serde_json::from_value(payload.clone()).unwrap();
    assert_eq!(aws.event_source.as_deref(), Some("aws:kafka"));
    assert_eq!(
        aws.event_source_arn.as_deref(),
        Some("arn:aws:kafka:eu-central-1:1:cluster/c/x")
    );
    assert_eq!(aws.bootstrap_servers.as_deref(), Some("b-1:9092"));
    let r = &aws.records["request-events-4"][0];
    assert_eq!(
        (r.topic.as_deref(), r.partition, r.offset),
        (Some("request-events"), 4, 42)
    );
    assert_eq!(r.timestamp_type.as_deref(), Some("CREATE_TIME"));
    assert_eq!(
        r.key,
        payload["records"]["request-events-4"][0]["key"]
            .as_str()
            .map(str::to_owned)
    );
    assert_eq!(r.headers.len(), 3);
    assert_eq!(
        r.headers[0]["ce_type"],
        b"request.created"
            .iter()
            .map(|b| *b as i8)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_fractional_or_huge_timestamp_is_a_record_error_not_a_panic() {
    for timestamp in [json!(1.5), json!("x"), json!(u64::MAX)] {
        let payload = json!({"eventSource": "SelfManagedKafka", "records": {"request-events-0": [{
            "topic": "request-events", "partition": 0, "offset": 1, "timestamp": timestamp,
            "timestampType": "CREATE_TIME", "key": null, "value": null, "headers": []
        }]}});
        let trigger = decode_trigger(&payload).unwrap();
        assert!(matches!(
            trigger.records[0].envelope,
            Err(RecordError::MalformedRecord(_))
        ));
        assert_eq!(trigger.records[0].position.offset, Some(1));
    }
}
