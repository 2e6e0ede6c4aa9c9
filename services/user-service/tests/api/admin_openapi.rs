//! The admin API's OpenAPI document matches the service: every route is in it, and
//! schemathesis fuzzing the running admin listener with every check (as for the public
//! document) finds nothing undocumented.

use reqwest::Method;
use serde_json::Value;

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::helpers::*;
use crate::openapi::run_schemathesis;

#[tokio::test]
async fn serves_an_openapi_3_1_document_of_every_admin_route() {
    let app = spawn_admin_app().await;
    let doc = app.admin_json(Method::GET, "/admin/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/admin/v1/users",
            "/admin/v1/users/{id}",
            "/admin/v1/users/{id}/disable",
            "/admin/v1/users/{id}/emails",
            "/admin/v1/users/{id}/enable",
            "/admin/v1/users/{id}/mfa",
            "/admin/v1/users/{id}/passkeys",
            "/admin/v1/users/{id}/passkeys/{passkey_id}",
            "/admin/v1/users/{id}/sessions",
            "/admin/v1/users/{id}/sessions/{session_id}",
            "/admin/v1/users/{id}/verify-email",
        ]
    );
    assert_eq!(doc["security"][0]["admin_token"], Value::Array(vec![]));
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["InviteBody"]["additionalProperties"], false);
    assert!(schemas["AdminPatch"]["properties"]["locale"]["pattern"].is_string());
    assert!(
        schemas["AdminUser"]["properties"]
            .get("password_hash")
            .is_none()
    );
    app.finish().await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_undocumented_in_the_admin_api() {
    let app = spawn_admin_app().await;
    // Users and sessions for the fuzzer to find through the listing.
    for _ in 0..3 {
        let email = app.verified_user().await;
        app.session(&email, PASSWORD).await;
    }
    let url = format!("{}/admin/openapi.json", app.admin_api);
    run_schemathesis("schemathesis-admin.toml", &url, OPS_TOKEN, "20261130", &[]).await;
    app.finish().await;
}
