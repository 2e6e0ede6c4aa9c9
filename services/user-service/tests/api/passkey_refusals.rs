//! Every refusal the relying party owes, through the API with a software authenticator: wrong
//! origin, wrong RP id, no user verification, a replayed or expired ceremony, an unknown
//! credential, something that is no credential, and a cloned authenticator's counter; each a
//! clear problem document that stores nothing.

use std::time::Duration;

use redis::AsyncCommands;

use serde_json::json;
use user_service::crypto::token_digest;

use crate::helpers::*;
use crate::passkey_support::*;

#[tokio::test]
async fn every_refusal_is_a_clear_problem_and_stores_nothing() {
    let app = passkey_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let mut key = SoftKey::new();
    add_passkey(&app, &token, &mut key, "Laptop").await;

    // Enrolment: another origin, another RP id, no user verification.
    let (ceremony, options) = enrolment_options(&app, &token).await;
    let credential = SoftKey::new().create(&options, STRANGE_ORIGIN).await;
    assert_refused(
        enrol(&app, &token, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "origin",
    )
    .await;
    let (ceremony, mut options) = enrolment_options(&app, &token).await;
    options["publicKey"]["rp"]["id"] = json!("login.example.com");
    let credential = SoftKey::new().create(&options, OTHER_ALLOWED_ORIGIN).await;
    assert_refused(
        enrol(&app, &token, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "rp_id",
    )
    .await;
    let (ceremony, mut options) = enrolment_options(&app, &token).await;
    options["publicKey"]["authenticatorSelection"]["userVerification"] = json!("discouraged");
    let credential = SoftKey::new().create(&options, ORIGIN).await;
    assert_refused(
        enrol(&app, &token, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "user_verification",
    )
    .await;
    assert_eq!(
        list(&app, &token).await.len(),
        1,
        "no refused passkey is stored"
    );

    // Sign-in: another origin; no user verification.
    let (ceremony, options) = sign_in_options(&app, None).await;
    let credential = key.get(&options, STRANGE_ORIGIN).await;
    assert_refused(
        sign_in(&app, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "origin",
    )
    .await;
    let (ceremony, mut options) = sign_in_options(&app, Some(&email)).await;
    options["publicKey"]["userVerification"] = json!("discouraged");
    let credential = key.get(&options, ORIGIN).await;
    assert_refused(
        sign_in(&app, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "user_verification",
    )
    .await;

    // Replay: the same answer again, and the same answer for a new ceremony.
    let (ceremony, options) = sign_in_options(&app, None).await;
    let credential = key.get(&options, ORIGIN).await;
    assert_eq!(sign_in(&app, &ceremony, &credential).await.status(), 201);
    assert_refused_ceremony(sign_in(&app, &ceremony, &credential).await).await;
    let (fresh, _) = sign_in_options(&app, None).await;
    assert_refused(
        sign_in(&app, &fresh, &credential).await,
        403,
        "passkey_rejected",
        "challenge",
    )
    .await;

    // Expired: the ceremony's key dies with its time-to-live (shortened here).
    let (ceremony, options) = sign_in_options(&app, None).await;
    let credential = key.get(&options, ORIGIN).await;
    let mut redis = redis_connection(&app.config);
    let stored = format!(
        "{}passkey-ceremony:{}",
        app.config.redis.key_prefix,
        token_digest(&ceremony)
    );
    let _: () = redis.pexpire(&stored, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_refused_ceremony(sign_in(&app, &ceremony, &credential).await).await;

    // Unknown credential: made for this account, never added.
    let mut stray = SoftKey::new();
    let (_, options) = enrolment_options(&app, &token).await;
    stray.create(&options, ORIGIN).await;
    let (ceremony, options) = sign_in_options(&app, None).await;
    let credential = stray.get(&options, ORIGIN).await;
    assert_refused(
        sign_in(&app, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "unknown_credential",
    )
    .await;

    // Not a credential at all; a ceremony that never was.
    let (status, body) = problem(sign_in(&app, &fresh, &json!({ "id": "x" })).await).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (422, Some("invalid_credential"))
    );
    assert_refused_ceremony(sign_in(&app, &"A".repeat(43), &credential).await).await;

    assert_eq!(
        session_count(&app, &token).await,
        2,
        "only the one good sign-in made a session"
    );
    assert_eq!(list(&app, &token).await.len(), 1);
    app.finish().await;
}

async fn assert_refused_ceremony(response: reqwest::Response) {
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_passkey_ceremony"))
    );
}

#[tokio::test]
async fn a_cloned_authenticator_with_a_lower_counter_is_refused() {
    let app = passkey_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let mut key = SoftKey::new();
    add_passkey(&app, &token, &mut key, "Key").await;
    let mut clone = key.clone_device();
    for _ in 0..2 {
        let (ceremony, options) = sign_in_options(&app, None).await;
        let credential = key.get(&options, ORIGIN).await;
        assert_eq!(sign_in(&app, &ceremony, &credential).await.status(), 201);
    }
    let (ceremony, options) = sign_in_options(&app, None).await;
    let credential = clone.get(&options, ORIGIN).await;
    assert_refused(
        sign_in(&app, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "possible_clone",
    )
    .await;
    app.finish().await;
}
