//! Where passkeys can and cannot be: configuration refuses a relying party browsers would
//! refuse, and a service on an IP address (no domain, so no WebAuthn) runs without them.

use serde_json::json;

use crate::hardening_listeners::config_with;
use crate::helpers::*;
use crate::page_client::Browser;

#[test]
fn a_relying_party_browsers_would_refuse_is_a_configuration_error() {
    let refused = |extra: &[(&str, &str)]| config_with(extra).unwrap_err();
    let public = ("PUBLIC_URL", "https://accounts.example.com");
    assert!(refused(&[public, ("PASSKEY_RP_ID", "example.org")]).contains("PASSKEY_ORIGINS"));
    assert!(
        refused(&[public, ("PASSKEY_ORIGINS", "https://app.example.org")])
            .contains("is not on the relying-party id")
    );
    assert!(
        refused(&[
            public,
            ("PASSKEY_RP_ID", "example.com"),
            ("PASSKEY_ORIGINS", "http://app.example.com")
        ])
        .contains("must be https")
    );
    assert!(refused(&[("PASSKEY_RP_ID", "127.0.0.1")]).contains("PASSKEY_RP_ID: must be a domain"));
    // The parent domain, and a second front-end on it.
    let config = config_with(&[
        public,
        ("PASSKEY_RP_ID", "example.com"),
        ("PASSKEY_ORIGINS", "https://app.example.com"),
    ])
    .unwrap();
    assert_eq!(config.passkeys.rp_id, "example.com");
    assert_eq!(config.passkeys.origins.len(), 2);
    assert!(config.passkeys.available);
}

#[tokio::test]
async fn a_service_on_an_ip_address_runs_without_passkeys() {
    let config = config_with(&[("PUBLIC_URL", "http://127.0.0.1:8080")]).unwrap();
    assert!(!config.passkeys.available);
    let app = spawn_with(config).await;
    let (status, body) = problem(app.post("/v1/sessions/passkey/options", &json!({})).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (501, Some("passkeys_not_configured"))
    );
    // The pages offer none; the password works as ever.
    let mut browser = Browser::new(&app);
    let login = browser.get("/login").await;
    assert!(login.body.contains("id=\"login-form\""));
    assert!(!login.body.contains("passkey-login-form"));
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let response = app
        .call(
            reqwest::Method::POST,
            "/v1/users/me/passkeys/options",
            &token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), 501);
    app.finish().await;
}
