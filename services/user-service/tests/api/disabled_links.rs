//! A disabled account gets no password reset or verification link on request, and no link
//! works while it is disabled, so an operator's disabling cannot be undone through the mailbox.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use serde_json::json;

use crate::admin::spawn_admin_app;
use crate::helpers::*;

#[tokio::test]
async fn disabled_accounts_get_no_reset_or_verification_links() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    let unverified = unique_email();
    assert_eq!(app.register(&unverified, PASSWORD).await.status(), 202);
    assert_eq!(app.next_email().await.kind, EmailKind::VerifyEmail);
    let unverified_id = app
        .database()
        .await
        .collection::<mongodb::bson::Document>("users")
        .find_one(mongodb::bson::doc! { "email": &unverified })
        .await
        .unwrap()
        .unwrap()
        .get_str("_id")
        .unwrap()
        .to_owned();
    for user in [&id, &unverified_id] {
        let response = app
            .admin_call(Method::POST, &format!("/admin/v1/users/{user}/disable"))
            .await;
        assert_eq!(response.status(), 200);
    }
    let queue = app.config.amqp.email_queue.clone();
    drain_emails(&queue, Duration::from_millis(500)).await;

    // The same answers as for an account that can use them, and no email.
    let reset = app
        .post("/v1/password-resets", &json!({ "email": email }))
        .await;
    assert_eq!(reset.status(), 202);
    let resend = app
        .post("/v1/email-verifications", &json!({ "email": unverified }))
        .await;
    assert_eq!(resend.status(), 202);
    let sent: Vec<EmailKind> = drain_emails(&queue, Duration::from_secs(2))
        .await
        .into_iter()
        .map(|m| m.kind)
        .collect();
    assert!(
        sent.is_empty(),
        "links mailed to disabled accounts: {sent:?}"
    );

    // An operator's link (audited) is mailed, but works only once the account is enabled.
    let sent = app
        .admin_send(
            Method::POST,
            &format!("/admin/v1/users/{id}/emails"),
            &json!({ "kind": "password_reset" }),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let message = app.next_email().await;
    assert_eq!(message.kind, EmailKind::PasswordReset);
    let body = json!({ "token": message.data["token"], "new_password": "after the lockout" });
    let refused = app.post("/v1/password-resets/confirm", &body).await;
    assert_eq!(
        problem(refused).await.0,
        400,
        "a reset of a disabled account worked"
    );
    let response = app
        .admin_call(Method::POST, &format!("/admin/v1/users/{id}/enable"))
        .await;
    assert_eq!(response.status(), 200);
    let reset = app.post("/v1/password-resets/confirm", &body).await;
    assert_eq!(reset.status(), 204);
    assert_eq!(app.next_email().await.kind, EmailKind::PasswordChanged);

    // Enabled again, the account gets its links.
    let reset = app
        .post("/v1/password-resets", &json!({ "email": email }))
        .await;
    assert_eq!(reset.status(), 202);
    assert_eq!(app.next_email().await.kind, EmailKind::PasswordReset);
    app.finish().await;
}
