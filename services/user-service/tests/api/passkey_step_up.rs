//! A passkey in place of the code for sensitive changes of a two-factor account: the step-up
//! ceremony is bound to its session and used once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::passkey_support::*;

/// A step-up ceremony of `token`'s session, answered by `key`: the `passkey` field's value.
async fn step_up(app: &TestApp, token: &str, key: &mut SoftKey) -> Value {
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys/step-up",
            token,
            Value::Null,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let credential = key.get(&body["options"], ORIGIN).await;
    json!({ "ceremony": body["ceremony"], "credential": credential })
}

#[tokio::test]
async fn a_passkey_steps_up_sensitive_changes_of_a_two_factor_account() {
    let app = passkey_app().await;
    let mut user = crate::mfa::enrolled_user(&app).await;
    let code = user.fresh_code().await;
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys/options",
            &user.token,
            json!({ "password": PASSWORD, "totp_code": code }),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    let mut key = SoftKey::new();
    let credential = key.create(&body["options"], ORIGIN).await;
    let added = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys",
            &user.token,
            json!({ "ceremony": body["ceremony"], "name": "Key", "credential": credential }),
        )
        .await;
    assert_eq!(added.status(), 201);

    // A second passkey, stepped up with the first one instead of a code.
    let passkey = step_up(&app, &user.token, &mut key).await;
    let response = app
        .call(
            Method::POST,
            "/v1/users/me/passkeys/options",
            &user.token,
            json!({ "password": PASSWORD, "passkey": passkey }),
        )
        .await;
    assert_eq!(response.status(), 200);

    // Both a code and a passkey: refused as ambiguous.
    let passkey = step_up(&app, &user.token, &mut key).await;
    let both = json!({
        "current_password": PASSWORD,
        "new_password": "a brand new passphrase for this account",
        "totp_code": "123456",
        "passkey": passkey,
    });
    let (status, body) = problem(
        app.call(Method::PUT, "/v1/users/me/password", &user.token, both)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (422, Some("step_up_ambiguous"))
    );

    // Another session of the same account cannot use this session's ceremony.
    let other = {
        let login: Value = app.login(&user.email, PASSWORD).await.json().await.unwrap();
        let code = user.fresh_code().await;
        let body = json!({ "challenge": login["challenge"], "code": code });
        let session: Value = app
            .post("/v1/sessions/mfa", &body)
            .await
            .json()
            .await
            .unwrap();
        session["token"].as_str().unwrap().to_owned()
    };
    let passkey = step_up(&app, &user.token, &mut key).await;
    let change = |passkey: Value| {
        json!({
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase for this account",
            "passkey": passkey,
        })
    };
    let (status, body) = problem(
        app.call(
            Method::PUT,
            "/v1/users/me/password",
            &other,
            change(passkey.clone()),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_passkey_ceremony"))
    );

    // In its own session, once.
    let passkey = step_up(&app, &user.token, &mut key).await;
    let changed = app
        .call(
            Method::PUT,
            "/v1/users/me/password",
            &user.token,
            change(passkey.clone()),
        )
        .await;
    assert_eq!(changed.status(), 204);
    // The same answer again (for a deletion, with the new password): already used.
    let delete =
        json!({ "password": "a brand new passphrase for this account", "passkey": passkey });
    let (status, body) = problem(
        app.call(Method::DELETE, "/v1/users/me", &user.token, delete)
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_passkey_ceremony"))
    );
    app.finish().await;
}
