//! Passkey answers against the rate limits: guessing at one account's passkeys is bounded per
//! account (`RATE_LIMIT_MFA_ACCOUNT`, as one-time codes are), from any address.

use serde_json::json;

use crate::helpers::*;
use crate::passkey_support::*;

#[tokio::test]
async fn refused_passkey_answers_count_against_the_account() {
    let mut config = passkey_config();
    config.rate_limits.mfa_account = "2/1m".parse().unwrap();
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let mut key = SoftKey::new();
    add_passkey(&app, &token, &mut key, "Laptop").await;
    // Keys made for this account (its user handle) but never added: each answer names the
    // account and is refused.
    let mut strays = Vec::new();
    for _ in 0..3 {
        let mut stray = SoftKey::new();
        let (_, options) = enrolment_options(&app, &token).await;
        stray.create(&options, ORIGIN).await;
        strays.push(stray);
    }
    for stray in &mut strays[..2] {
        let (ceremony, options) = sign_in_options(&app, None).await;
        let credential = stray.get(&options, ORIGIN).await;
        let (status, body) = problem(sign_in(&app, &ceremony, &credential).await).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("passkey_rejected"))
        );
    }
    // The third guess, and then even the owner's passkey, wait for the window.
    for key in [&mut strays[2], &mut key] {
        let (ceremony, options) = sign_in_options(&app, None).await;
        let credential = key.get(&options, ORIGIN).await;
        let response = sign_in(&app, &ceremony, &credential).await;
        assert!(response.headers().contains_key("retry-after"));
        let (status, body) = problem(response).await;
        assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    }
    // The password is not this limit's: the owner still signs in with it.
    let response = app
        .post(
            "/v1/sessions",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), 201);
    app.finish().await;
}
