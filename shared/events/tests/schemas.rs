//! The committed JSON Schemas under `events/schemas/` must equal what the code generates.
//! After an intended change, regenerate them with:
//! `SERVICEHUB_BLESS_SCHEMAS=1 cargo test -p servicehub-events --test schemas`

use std::collections::BTreeSet;
use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    // Cargo's run-time value: a test binary reused from another checkout's build (the target dir
    // is shared) must read this checkout's files.
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .join("../../events/schemas")
}

#[test]
fn committed_schemas_match_the_code() {
    let dir = schema_dir();
    let generated = servicehub_events::schema::generate_all();
    if std::env::var_os("SERVICEHUB_BLESS_SCHEMAS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for (name, text) in &generated {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut drifted = Vec::new();
    for (name, text) in &generated {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if &committed == text => {}
            Ok(_) => drifted.push(format!("{name} differs from the code")),
            Err(_) => drifted.push(format!("{name} is not committed")),
        }
    }
    let expected: BTreeSet<_> = generated.iter().map(|(n, _)| n.clone()).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !expected.contains(&name) {
            drifted.push(format!("{name} is committed but no event generates it"));
        }
    }
    assert!(
        drifted.is_empty(),
        "events/schemas drifted from the code:\n  {}\nIf the change is intended and backward compatible, run \
         SERVICEHUB_BLESS_SCHEMAS=1 cargo test -p servicehub-events --test schemas",
        drifted.join("\n  ")
    );
}

/// A consumer built against an older schema must still read newer events: a committed schema may
/// gain optional properties, but a property it requires may never disappear or stop being required.
#[test]
fn generated_schemas_keep_every_committed_required_property() {
    let dir = schema_dir();
    for (name, text) in servicehub_events::schema::generate_all() {
        let Ok(committed) = std::fs::read_to_string(dir.join(&name)) else {
            continue;
        };
        let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
        let generated: serde_json::Value = serde_json::from_str(&text).unwrap();
        let required = |v: &serde_json::Value| -> BTreeSet<String> {
            v["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        };
        let lost: Vec<_> = required(&committed)
            .difference(&required(&generated))
            .cloned()
            .collect();
        assert!(
            lost.is_empty(),
            "{name}: required properties {lost:?} were removed; publish a new version instead"
        );
    }
}
