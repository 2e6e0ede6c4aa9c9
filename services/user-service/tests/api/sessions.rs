use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn verification_tokens_work_once() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let token = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = problem(app.login(&email, PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (403, "email_not_verified")
    );

    let ok = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let again = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": token }),
        )
        .await;
    let (status, body) = problem(again).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid_token")
    );
    let (status, _) = problem(
        app.post(
            "/v1/email-verifications/confirm",
            &json!({ "token": "nope" }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    app.finish().await;
}

#[tokio::test]
async fn login_me_logout() {
    let app = spawn_app().await;
    let email = app.verified_user().await;

    let response = app.login(&email.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(session["token_type"], "Bearer");
    assert!(session["expires_at"].is_string());

    let me: Value = app.me(token).await.json().await.unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["display_name"], "Ada");
    assert!(me.get("password_hash").is_none());

    let logout = app.logout(token).await;
    assert_eq!(logout.status(), 204);
    let (status, body) = problem(app.me(token).await).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (401, "unauthorized")
    );
    app.finish().await;
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let wrong = app.login(&email, "not the right passphrase").await;
    let unknown = app.login(&unique_email(), PASSWORD).await;
    let (s1, b1) = problem(wrong).await;
    let (s2, b2) = problem(unknown).await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(b1["code"], "invalid_credentials");
    app.finish().await;
}

#[tokio::test]
async fn requests_without_a_valid_session_are_refused() {
    let app = spawn_app().await;
    let no_header = app
        .client
        .get(format!("{}/v1/users/me", app.base))
        .send()
        .await
        .unwrap();
    assert!(no_header.headers().contains_key("www-authenticate"));
    assert_eq!(problem(no_header).await.0, 401);
    assert_eq!(problem(app.me("garbage").await).await.0, 401);
    let forged = "A".repeat(43);
    assert_eq!(problem(app.me(&forged).await).await.0, 401);
    app.finish().await;
}

#[tokio::test]
async fn unverified_login_can_be_allowed() {
    let mut config = test_config();
    config.allow_unverified_login = true;
    let app = spawn_with(config).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    app.finish().await;
}

/// A hash made with older (weaker) parameters is replaced by one with the current ones after
/// the next successful login.
#[tokio::test]
async fn old_hashes_are_upgraded_at_login() {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    use argon2::{Algorithm, Argon2, Params, Version};
    use mongodb::bson::{Document, doc};

    let app = spawn_app().await;
    let email = app.verified_user().await;
    let old = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
    .unwrap()
    .to_string();
    let users = app.database().await.collection::<Document>("users");
    users
        .update_one(
            doc! { "email": &email },
            doc! { "$set": { "password_hash": &old } },
        )
        .await
        .unwrap();

    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    let mut stored = old.clone();
    for _ in 0..50 {
        let user = users
            .find_one(doc! { "email": &email })
            .await
            .unwrap()
            .unwrap();
        stored = user.get_str("password_hash").unwrap().to_owned();
        if stored != old {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    app.finish().await;
}

/// The resend policy (docs/security.md): every link sent for the same address stays usable
/// until it is used or expires; the first used verifies, a later one answers the same, and
/// each still works only once.
#[tokio::test]
async fn after_a_resend_every_pending_verification_link_verifies_once() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let first = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resent = app
        .post("/v1/email-verifications", &json!({ "email": email }))
        .await;
    assert_eq!(resent.status(), 202);
    let second = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    let confirm = |token: String| {
        let app = &app;
        async move {
            app.post(
                "/v1/email-verifications/confirm",
                &json!({ "token": token }),
            )
            .await
            .status()
        }
    };
    assert_eq!(
        confirm(second.clone()).await,
        200,
        "the newest link verifies"
    );
    assert_eq!(
        confirm(first.clone()).await,
        200,
        "an older one still answers the same"
    );
    assert_eq!(confirm(first).await, 400, "once");
    assert_eq!(confirm(second).await, 400, "once");
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    app.finish().await;
}
