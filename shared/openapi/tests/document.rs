//! The committed openapi.json is what the code generates, its routes are template.yaml's one to
//! one, and the documented request bodies accept the sample payloads under events/.

use local_runner::template::{TemplateInput, load};
use serde::de::DeserializeOwned;
use serde_json::Value;
use servicehub_auth::input::bodies::*;
use servicehub_domain::commands::{
    AssignBody, CancelBody, ClarificationBody, CompletionBody, RequestPatchBody,
};
use servicehub_domain::contractors::ReasonBody;
use servicehub_domain::request::NewRequestBody;
use servicehub_openapi::{Access, document, document_text, routes};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn repo() -> PathBuf {
    // Cargo's run-time value: a test binary reused from another checkout's build (the target dir
    // is shared) must read this checkout's files.
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("../..")
}

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let path = repo().join("openapi.json");
    let generated = document_text();
    if std::env::var("SERVICEHUB_BLESS_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("writing openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run SERVICEHUB_BLESS_OPENAPI=1 cargo test -p servicehub-openapi and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {reference}"));
        assert!(schemas.contains_key(name), "{reference} does not resolve");
    }
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(
                operation["responses"].as_object().unwrap().len() >= 2,
                "{method} {path} documents its errors"
            );
        }
    }
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref" {
                    into.push(value.as_str().unwrap().to_owned());
                } else {
                    collect_refs(value, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

#[test]
fn the_routes_are_template_yamls_one_to_one() {
    let parameters: BTreeMap<String, String> = [
        ("KafkaBootstrapServers", "127.0.0.1:59092"),
        (
            "MskClusterArn",
            "arn:aws:kafka:eu-central-1:000000000000:cluster/servicehub-local/x",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let template = load(&TemplateInput {
        path: repo().join("template.yaml"),
        parameters,
        ..Default::default()
    })
    .expect("template.yaml loads");
    let binary_of: BTreeMap<&str, &str> = template
        .functions
        .iter()
        .map(|f| (f.logical_id.as_str(), f.binary.as_str()))
        .collect();
    let in_template: BTreeSet<(String, String, String, bool)> = template
        .http_routes
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.clone(),
                binary_of[r.function.as_str()].to_owned(),
                r.authorizer.is_none(),
            )
        })
        .collect();
    let documented: BTreeSet<(String, String, String, bool)> = routes()
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
                r.access == Access::Public,
            )
        })
        .collect();
    assert_eq!(
        documented.len(),
        routes().len(),
        "no route is documented twice"
    );
    let missing: Vec<_> = in_template.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&in_template).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "(method, path, function, public) in template.yaml but not documented: {missing:#?}\ndocumented but not in template.yaml: {extra:#?}"
    );
}

/// The body of the sample event for `function`.
fn sample_body(function: &str) -> Value {
    let path = repo().join("events").join(format!("{function}.json"));
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the sample")).unwrap();
    serde_json::from_str(event["body"].as_str().expect("a body")).unwrap()
}

fn accepts<T: DeserializeOwned>(function: &str) {
    if let Err(error) = serde_json::from_value::<T>(sample_body(function)) {
        panic!("the documented body of {function} refuses its sample: {error}");
    }
}

#[test]
fn the_documented_bodies_accept_the_sample_payloads() {
    accepts::<RegisterBody>("auth-register");
    accepts::<LoginBody>("auth-login");
    accepts::<RefreshBody>("auth-refresh");
    accepts::<LogoutBody>("auth-logout");
    accepts::<CreateUserBody>("create-user");
    accepts::<UpdateUserBody>("update-user");
    accepts::<ContactCodeBody>("send-contact-code");
    accepts::<ContactVerificationBody>("verify-contact");
    accepts::<NotificationSettingsBody>("update-notification-settings");
    accepts::<NewRequestBody>("create-request");
    accepts::<RequestPatchBody>("update-request");
    accepts::<CancelBody>("cancel-request");
    accepts::<ClarificationBody>("ask-clarification");
    accepts::<AssignBody>("assign-contractor");
    accepts::<CompletionBody>("complete-work");
    accepts::<ReasonBody>("reject-contractor");
    accepts::<ReasonBody>("revoke-contractor-access");
    accepts::<ReasonBody>("grant-contractor-access");
    // And they are strict: an unknown field is refused, as the functions refuse it.
    let mut body = sample_body("create-request");
    body["colour"] = "red".into();
    assert!(serde_json::from_value::<NewRequestBody>(body).is_err());
}
