//! Least privilege in template.yaml, read as written: no role may do more than its function does.
//! (Issue: `sns:Publish` on `*`, `S3CrudPolicy` where one S3 action was used, and the database URL
//! in the environment of functions that never connect to PostgreSQL.)

use serde_json::Value;
use servicehub_tests::repo_root;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    local_runner::template::document(&text).expect("template.yaml parses")
}

/// Every IAM statement under `value`, with the path it was found at.
fn statements<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(object) => {
            if object.contains_key("Effect") && object.contains_key("Action") {
                out.push((path.clone(), value));
            }
            for (key, child) in object {
                statements(child, format!("{path}.{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                statements(child, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn no_role_is_allowed_an_action_on_every_resource_it_does_not_need() {
    let template = template();
    let mut found = Vec::new();
    statements(&template["Resources"], "Resources".into(), &mut found);
    assert!(
        found.len() >= 30,
        "the walk finds the statements: {}",
        found.len()
    );
    // The only actions IAM cannot scope: the network interfaces a VPC poller creates for itself.
    let unscopable = [
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    ];
    for (path, statement) in &found {
        let actions = strings(&statement["Action"]);
        if statement["Effect"] != "Allow" {
            continue; // a Deny (the bucket's TLS-only policy) may be as broad as it likes
        }
        assert!(
            actions.iter().all(|a| !a.ends_with(":*") && *a != "*"),
            "{path}: wildcard action {actions:?}"
        );
        if strings(&statement["Resource"]).contains(&"*") {
            assert!(
                actions.iter().all(|a| unscopable.contains(a)),
                "{path}: {actions:?} on every resource"
            );
        }
    }
    // SMS is the one Publish notify makes: every SNS ARN (topics, platform endpoints) is excluded.
    let publish: Vec<_> = found
        .iter()
        .filter(|(_, s)| strings(&s["Action"]).contains(&"sns:Publish"))
        .collect();
    assert_eq!(publish.len(), 1, "{publish:?}");
    assert_eq!(
        publish[0].1["NotResource"],
        serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"})
    );
}

#[test]
fn no_function_gets_a_broad_sam_policy_template() {
    let template = template();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let Some(policies) = resource["Properties"]["Policies"].as_array() else {
            continue;
        };
        for policy in policies {
            if let Some(object) = policy.as_object() {
                for name in object.keys() {
                    assert!(
                        !name.ends_with("CrudPolicy")
                            && !name.ends_with("FullAccessPolicy")
                            && !matches!(name.as_str(), "S3ReadPolicy" | "S3WritePolicy"),
                        "{id}: {name} grants more than any function uses; name the actions"
                    );
                }
            }
        }
    }
}

#[test]
fn functions_without_postgresql_are_not_given_its_url() {
    let parameters = local_runner::template::read_parameters_file(
        &repo_root().join("tools/local-parameters.json"),
    )
    .unwrap();
    let template = local_runner::template::load(&local_runner::template::TemplateInput {
        path: repo_root().join("template.yaml"),
        parameters,
        ..Default::default()
    })
    .unwrap();
    for function in &template.functions {
        let url = function
            .environment
            .get("DATABASE_URL")
            .map(String::as_str)
            .unwrap_or_default();
        let clickhouse_only = matches!(
            function.binary.as_str(),
            "audit-sink" | "get-audit" | "get-analytics"
        );
        assert_eq!(
            url.is_empty(),
            clickhouse_only,
            "{}: DATABASE_URL {url:?}",
            function.binary
        );
    }
}
