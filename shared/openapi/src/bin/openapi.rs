//! Prints the OpenAPI document (what is committed as openapi.json).

fn main() {
    print!("{}", servicehub_openapi::document_text());
}
