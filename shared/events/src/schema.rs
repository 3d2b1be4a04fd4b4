//! JSON Schema of every event version. The committed copies under `events/schemas/` are what other
//! teams read; a test keeps them equal to what the code generates.

use crate::catalog::CATALOG;

/// `(file name, pretty JSON)` for every event version, e.g. `request.created.v1.json`.
pub fn generate_all() -> Vec<(String, String)> {
    CATALOG
        .iter()
        .map(|info| {
            let mut schema = (info.schema)();
            schema.insert(
                "$id".to_owned(),
                crate::catalog::dataschema_uri(info.event_type, info.version).into(),
            );
            schema.insert("x-topic".to_owned(), info.topic.name().into());
            let text = serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n";
            (format!("{}.v{}.json", info.event_type, info.version), text)
        })
        .collect()
}
