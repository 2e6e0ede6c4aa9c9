//! Prints the OpenAPI document (`cargo run -p user-service --example openapi`), the same one
//! the service serves at `GET /openapi.json`.

use utoipa::OpenApi;

fn main() {
    let doc = user_service::http::openapi::ApiDoc::openapi();
    println!("{}", doc.to_pretty_json().expect("the document serialises"));
}
