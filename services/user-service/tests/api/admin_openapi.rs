//! The admin API's OpenAPI document matches the service: every route is in it, and
//! schemathesis fuzzing the running admin listener with every check (as for the public
//! document) finds nothing undocumented.

use std::path::PathBuf;
use std::process::Stdio;

use reqwest::Method;
use serde_json::Value;

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::helpers::*;
use crate::openapi::schemathesis;

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
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/schemathesis-admin.toml");
    let output = tokio::process::Command::new(schemathesis())
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(format!("{}/admin/openapi.json", app.admin_api))
        .args([
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "30",
            "--seed",
            "20261130",
            "--generation-database",
            "none",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--no-color",
        ])
        .arg("--header")
        .arg(format!("Authorization: Bearer {OPS_TOKEN}"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    app.finish().await;
}
