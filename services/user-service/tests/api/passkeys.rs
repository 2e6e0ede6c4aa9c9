//! Passkeys through the API, with a software authenticator (tests/api/passkey_support.rs):
//! adding, listing, renaming and removing them; passwordless and email-first sign-in; the
//! second login step; an operator's removal (audited). The refusals are in passkey_refusals.rs.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::passkey_support::*;

#[tokio::test]
async fn a_passkey_signs_in_without_a_password_and_is_managed_by_its_owner() {
    let app = passkey_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let mut key = SoftKey::new();
    let id = add_passkey(&app, &token, &mut key, "Laptop").await;
    let notice = app.next_email().await;
    assert_eq!(notice.kind, EmailKind::PasskeyAdded);
    assert_eq!(notice.data["passkey_name"], "Laptop");
    let listed = list(&app, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["name"].as_str()),
        (Some(id.as_str()), Some("Laptop"))
    );
    assert!(listed[0].get("last_used_at").is_none());

    // Passwordless: no address typed; the authenticator picks the discoverable credential.
    let (ceremony, options) = sign_in_options(&app, None).await;
    assert_eq!(options["publicKey"]["userVerification"], "required");
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    let credential = key.get(&options, ORIGIN).await;
    let response = sign_in(&app, &ceremony, &credential).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let me: Value = app
        .me(session["token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email.as_str());

    // Email first: only this account's passkeys are offered.
    let (ceremony, options) = sign_in_options(&app, Some(&email)).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        id.as_str()
    );
    let credential = key.get(&options, ORIGIN).await;
    assert_eq!(sign_in(&app, &ceremony, &credential).await.status(), 201);
    // An unknown address gets the same kind of answer (nobody learns who exists).
    let (_, options) = sign_in_options(&app, Some(&unique_email())).await;
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));

    let renamed = app
        .call(
            Method::PATCH,
            &format!("/v1/users/me/passkeys/{id}"),
            &token,
            json!({ "name": "  Work laptop " }),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let listed = list(&app, &token).await;
    assert_eq!(listed[0]["name"], "Work laptop");
    assert!(
        listed[0]["last_used_at"].is_string(),
        "a sign-in records its use"
    );
    let (status, body) = problem(
        app.call(
            Method::PATCH,
            "/v1/users/me/passkeys/unknown",
            &token,
            json!({ "name": "x" }),
        )
        .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = problem(
        app.call(
            Method::PATCH,
            &format!("/v1/users/me/passkeys/{id}"),
            &token,
            json!({ "name": "\u{202e}evil" }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "name");
    app.finish().await;
}

#[tokio::test]
async fn removing_a_passkey_ends_sign_in_with_it_and_the_other_sessions() {
    let app = passkey_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let other = app.session(&email, PASSWORD).await;
    let mut key = SoftKey::new();
    let id = add_passkey(&app, &token, &mut key, "Phone").await;
    app.next_email().await;

    let removed = app
        .call(
            Method::DELETE,
            &format!("/v1/users/me/passkeys/{id}"),
            &token,
            Value::Null,
        )
        .await;
    assert_eq!(removed.status(), 204);
    let notice = app.next_email().await;
    assert_eq!(
        (notice.kind, notice.data["passkey_name"].as_str()),
        (EmailKind::PasskeyRemoved, Some("Phone"))
    );
    assert_eq!(
        app.me(&token).await.status(),
        200,
        "the owner's session stays"
    );
    assert_eq!(
        app.me(&other).await.status(),
        401,
        "every other session ends"
    );
    assert!(list(&app, &token).await.is_empty());

    let (ceremony, options) = sign_in_options(&app, None).await;
    let credential = key.get(&options, ORIGIN).await;
    assert_refused(
        sign_in(&app, &ceremony, &credential).await,
        403,
        "passkey_rejected",
        "unknown_credential",
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn a_passkey_is_the_second_step_of_a_two_factor_login() {
    let app = passkey_app().await;
    let mut user = crate::mfa::enrolled_user(&app).await;
    let code = user.fresh_code().await;
    // Adding one needs the password and, with two-factor login on, a code.
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys/options",
            &user.token,
            json!({ "password": PASSWORD }),
        )
        .await;
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("mfa_code_required"))
    );
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys/options",
            &user.token,
            json!({ "password": PASSWORD, "totp_code": code }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let mut key = SoftKey::new();
    let credential = key.create(&body["options"], ORIGIN).await;
    let added = enrol(
        &app,
        &user.token,
        body["ceremony"].as_str().unwrap(),
        &credential,
    )
    .await;
    assert_eq!(added.status(), 201);

    let login: Value = app.login(&user.email, PASSWORD).await.json().await.unwrap();
    let challenge = login["challenge"].as_str().unwrap();
    let response = app
        .post(
            "/v1/sessions/mfa/passkey/options",
            &json!({ "challenge": challenge }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let credential = key.get(&body["options"], ORIGIN).await;
    let answer = json!({ "ceremony": body["ceremony"], "credential": credential });
    let response = app.post("/v1/sessions/mfa/passkey", &answer).await;
    assert_eq!(response.status(), 201);
    // The challenge is used up with it.
    let (status, body) = problem(
        app.post(
            "/v1/sessions/mfa/passkey/options",
            &json!({ "challenge": challenge }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_mfa_challenge"))
    );
    app.finish().await;
}

#[tokio::test]
async fn operators_list_and_remove_passkeys_audited() {
    let app = passkey_app().await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let user_id = app.user_id_of(&token).await;
    let mut key = SoftKey::new();
    let id = add_passkey(&app, &token, &mut key, "Phone").await;

    let listed = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{user_id}/passkeys"))
        .await;
    assert_eq!(listed["passkeys"][0]["id"], id.as_str());
    assert!(
        listed["passkeys"][0].get("credential").is_none(),
        "never the key itself"
    );
    let removed = app
        .admin_call(
            Method::DELETE,
            &format!("/admin/v1/users/{user_id}/passkeys/{id}"),
        )
        .await;
    assert_eq!(removed.status(), 204);
    assert_eq!(app.me(&token).await.status(), 401, "every session ends");
    let (status, _) = problem(
        app.admin_call(
            Method::DELETE,
            &format!("/admin/v1/users/{user_id}/passkeys/{id}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);

    let events = tap.drain_events(Duration::from_secs(3)).await;
    let audited: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user.admin.passkey_removed")
        .collect();
    assert_eq!(audited.len(), 1, "{events:?}");
    assert_eq!(audited[0]["data"]["actor"], "ops");
    assert_eq!(
        audited[0]["data"]["change"]["passkey_removed"]["name"],
        "Phone"
    );
    assert!(
        app.metrics()
            .await
            .contains("user_admin_actions_total{action=\"passkey_removed\"} 1")
    );
    tap.close().await;
    app.finish().await;
}
