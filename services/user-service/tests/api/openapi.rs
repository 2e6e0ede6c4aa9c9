//! The OpenAPI document matches the service: every route is in it, and schemathesis fuzzing the
//! running service against it with every check finds no server error, no undocumented status,
//! content type, header or body, no body valid by the schema that the server refuses (except
//! where the document says why, see schemathesis.toml) and no invalid one that it accepts.

use std::path::PathBuf;
use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn serves_an_openapi_3_1_document_of_every_route() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
            "/v1/auth/check",
            "/v1/email-verifications",
            "/v1/email-verifications/confirm",
            "/v1/password-resets",
            "/v1/password-resets/confirm",
            "/v1/sessions",
            "/v1/sessions/current",
            "/v1/sessions/mfa",
            "/v1/sessions/mfa/passkey",
            "/v1/sessions/mfa/passkey/options",
            "/v1/sessions/passkey",
            "/v1/sessions/passkey/options",
            "/v1/sessions/{id}",
            "/v1/users",
            "/v1/users/me",
            "/v1/users/me/mfa/totp",
            "/v1/users/me/mfa/totp/confirm",
            "/v1/users/me/passkeys",
            "/v1/users/me/passkeys/options",
            "/v1/users/me/passkeys/step-up",
            "/v1/users/me/passkeys/{id}",
            "/v1/users/me/password",
        ]
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["RegisterBody"]["additionalProperties"], false);
    assert_eq!(
        schemas["PatchBody"]["dependentRequired"],
        serde_json::json!({ "email": ["current_password"] })
    );
    let name = &schemas["RegisterBody"]["properties"]["display_name"];
    assert_eq!(name["minLength"], 1);
    assert_eq!(name["maxLength"], 100);
    assert!(name["pattern"].as_str().unwrap().starts_with("^["));
    for body in ["ResetConfirmBody", "EmailConfirmBody"] {
        assert_eq!(
            schemas[body]["properties"]["token"]["pattern"],
            "^[A-Za-z0-9_-]{43}$"
        );
    }
    assert_eq!(
        schemas["TotpConfirmBody"]["properties"]["code"]["pattern"],
        "^[0-9]{6}$"
    );
    assert!(schemas.get("ConfirmBody").is_none());
    assert_eq!(
        schemas["LoginBody"]["properties"]["password"]["minLength"],
        1
    );
    for body in ["MfaLoginBody", "DisableBody"] {
        assert_eq!(
            schemas[body]["oneOf"],
            serde_json::json!([{ "required": ["code"] }, { "required": ["recovery_code"] }])
        );
    }
    app.finish().await;
}

/// The edges where the server was looser than the document before it stated them: each is
/// refused now, as the schema says.
#[tokio::test]
async fn the_server_refuses_what_the_document_refuses() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let patch = |body: Value| app.call(Method::PATCH, "/v1/users/me", &token, body);
    // `email` and `current_password` are strings when present (dependentRequired holds).
    for body in [
        json!({ "email": null }),
        json!({ "email": unique_email(), "current_password": null }),
    ] {
        assert_eq!(problem(patch(body).await).await.0, 400);
    }
    // maxLength counts the name as sent, surrounding whitespace included.
    let padded = format!(" {} ", "x".repeat(99));
    let (status, body) = problem(patch(json!({ "display_name": padded })).await).await;
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (422, &json!("invalid_display_name"))
    );
    let long = "x".repeat(4097);
    let (status, body) = problem(app.login(&email, &long).await).await;
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (422, &json!("password_too_long"))
    );
    app.finish().await;
}

/// Where scripts/test.sh installs schemathesis (scripts/requirements-apitest.txt), unless
/// `SCHEMATHESIS` names the executable.
pub fn schemathesis() -> PathBuf {
    if let Ok(path) = std::env::var("SCHEMATHESIS") {
        return path.into();
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.run/venv-apitest/bin/schemathesis");
    assert!(
        path.exists(),
        "schemathesis not found: run scripts/test.sh (it installs it) or set SCHEMATHESIS"
    );
    path
}

/// Runs schemathesis with every check, ours of schemathesis_hooks.py included, on the document
/// at `url` (settings in `config`, a file of tests/api/), sending `Authorization: Bearer <token>`; `filter` selects operations. Fails
/// the test with schemathesis' report on any finding.
pub async fn run_schemathesis(config: &str, url: &str, token: &str, seed: &str, filter: &[&str]) {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api")
        .join(config);
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/schemathesis_hooks.py");
    let output = tokio::process::Command::new(schemathesis())
        // `positive_data_refused_only_by_design`, which `--checks all` runs too.
        .env("SCHEMATHESIS_HOOKS", hooks)
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(url)
        .args([
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "30",
            "--seed",
            seed,
            "--generation-database",
            "none",
            // One worker: with two, Hypothesis parses strategy sources in two threads at once,
            // which Python 3.11's parser does not survive ("AST constructor recursion depth
            // mismatch", a runtime error of the run, not a finding).
            "--workers",
            "1",
            "--request-timeout",
            "20",
            "--no-color",
        ])
        .args(filter)
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
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
}

/// The public document, with a valid session; `filter` selects operations.
async fn fuzz(app: &TestApp, token: &str, filter: [&str; 2]) {
    let url = format!("{}/openapi.json", app.base);
    run_schemathesis("schemathesis.toml", &url, token, "20261125", &filter).await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_undocumented() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    // Logging out ends the session the other operations need, so it goes last, alone.
    fuzz(&app, &token, ["--exclude-path", "/v1/sessions/current"]).await;
    // The fuzzer may have ended that session itself (it reuses ids it saw in responses).
    let token = app.session(&email, PASSWORD).await;
    fuzz(&app, &token, ["--include-path", "/v1/sessions/current"]).await;
    app.finish().await;
}
