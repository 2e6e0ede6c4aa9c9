use common::email::EmailKind;
use mongodb::bson::{Document, doc};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn register_stores_the_user_and_queues_a_verification_email() {
    let app = spawn_app().await;
    let response = app.register("  Ada.Lovelace@Example.COM ", PASSWORD).await;
    assert_eq!(response.status(), 202);

    let user = app
        .database()
        .await
        .collection::<Document>("users")
        .find_one(doc! { "email": "ada.lovelace@example.com" })
        .await
        .unwrap()
        .expect("stored under the normalised address");
    assert!(!user.get_bool("email_verified").unwrap());
    assert!(
        user.get_str("password_hash")
            .unwrap()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert_eq!(user.get_str("display_name").unwrap(), "Ada");

    let email = app.next_email().await;
    assert_eq!(email.kind, EmailKind::VerifyEmail);
    assert_eq!(email.to.email, "ada.lovelace@example.com");
    let token = email.data["token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(
        email.data["action_url"],
        format!("https://app.example.com/verify-email?token={token}&lang=en")
    );
    app.finish().await;
}

#[tokio::test]
async fn a_taken_address_gets_the_same_answer_and_no_second_user() {
    let app = spawn_app().await;
    let email = unique_email();
    let first = app.register(&email, PASSWORD).await;
    let first_status = first.status();
    let first_body: serde_json::Value = first.json().await.unwrap();
    let second = app
        .register(&email.to_uppercase(), "another long passphrase here")
        .await;
    assert_eq!(second.status(), first_status);
    assert_eq!(
        second.json::<serde_json::Value>().await.unwrap(),
        first_body
    );
    assert_eq!(user_count(&app, &email).await, 1);

    assert_eq!(app.next_email().await.kind, EmailKind::VerifyEmail);
    let notice = app.next_email().await;
    assert_eq!(notice.kind, EmailKind::AccountExists);
    assert_eq!(notice.to.email, email);
    assert!(notice.data.get("token").is_none());
    app.finish().await;
}

#[tokio::test]
async fn bad_input_is_a_problem_document_never_a_500() {
    let app = spawn_app().await;
    let url = format!("{}/v1/users", app.base);
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let (status, body) = problem(raw("{\"email\": ", "application/json").await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "malformed_json")
    );

    let (status, body) = problem(raw("{}", "text/plain").await.unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (415, "unsupported_media_type")
    );

    let (status, body) = problem(
        app.post("/v1/users", &json!({ "email": "a@example.com" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid_body")
    );
    assert!(body["detail"].as_str().unwrap().contains("password"));

    // Mass assignment: unknown fields are refused, not applied.
    let (status, body) = problem(
        app.post(
            "/v1/users",
            &json!({ "email": unique_email(), "password": PASSWORD, "email_verified": true }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid_body")
    );

    // A password of the wrong type is reported by field, its value never echoed.
    let (_, body) = problem(
        app.post(
            "/v1/users",
            &json!({ "email": "a@example.com", "password": 987654321987654u64 }),
        )
        .await,
    )
    .await;
    assert!(!body.to_string().contains("987654321987654"));

    let (status, body) = problem(app.register("not-an-email", "short").await).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (422, "validation_failed")
    );
    let codes: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("email", "invalid_email"),
            ("password", "password_too_short")
        ]
    );

    let (status, body) = problem(
        app.register("lovelace@example.com", "lovelace lovelace lovelace")
            .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "password_contains_email");

    let (status, body) = problem(
        app.client
            .get(format!("{}/v1/nothing-here", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["code"].as_str().unwrap()), (404, "not_found"));
    let (status, _) = problem(app.client.put(&url).send().await.unwrap()).await;
    assert_eq!(status, 405);

    let (status, _) = problem(
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body(vec![b' '; 200 * 1024])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413);
    app.finish().await;
}
