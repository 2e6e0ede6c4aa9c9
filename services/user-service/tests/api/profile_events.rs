//! `user.profile_changed`: emitted with the profile change, carrying only what changed, for the
//! user's own edit and an operator's.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::spawn_admin_app;
use crate::helpers::*;

const SETTLE: Duration = Duration::from_millis(1500);

/// The `data` of every `user.profile_changed` that arrived.
async fn changes(tap: &EventTap, user_id: &str) -> Vec<Value> {
    let events = tap.drain_events(SETTLE).await;

    events
        .into_iter()
        .filter(|e| e["type"] == "user.profile_changed")
        .inspect(|e| assert_eq!(e["user_id"], user_id))
        .map(|e| e["data"].clone())
        .collect()
}

async fn edit(app: &TestApp, token: &str, body: Value) {
    let response = app.call(Method::PATCH, "/v1/users/me", token, body).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_users_own_edit_emits_only_the_changed_fields() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let me: Value = app.me(&token).await.json().await.unwrap();
    let id = me["id"].as_str().unwrap().to_owned();
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;

    edit(&app, &token, json!({ "display_name": "Ada Lovelace" })).await;
    assert_eq!(
        changes(&tap, &id).await,
        [json!({ "display_name": "Ada Lovelace" })]
    );
    // The locale as it is and a new name: only the name is reported.
    let locale = me["locale"].clone();
    edit(
        &app,
        &token,
        json!({ "display_name": "Ada L.", "locale": locale }),
    )
    .await;
    assert_eq!(
        changes(&tap, &id).await,
        [json!({ "display_name": "Ada L." })]
    );
    edit(
        &app,
        &token,
        json!({ "display_name": null, "locale": "de" }),
    )
    .await;
    assert_eq!(
        changes(&tap, &id).await,
        [json!({ "display_name": null, "locale": "de" })]
    );
    // Nothing changes: nothing is written, no event.
    let before: Value = app.me(&token).await.json().await.unwrap();
    edit(
        &app,
        &token,
        json!({ "display_name": null, "locale": "de" }),
    )
    .await;
    assert_eq!(changes(&tap, &id).await, Vec::<Value>::new());
    let after: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(after["updated_at"], before["updated_at"]);
    tap.close().await;
    app.finish().await;
}

#[tokio::test]
async fn an_operators_edit_emits_it_before_the_audit_event() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let path = format!("/admin/v1/users/{id}");

    let body = json!({ "display_name": "Grace", "locale": "de" });
    let response = app.admin_send(Method::PATCH, &path, &body).await;
    assert_eq!(response.status(), 200);
    let events = tap.drain_events(SETTLE).await;
    let types: Vec<_> = events.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, ["user.profile_changed", "user.admin.updated"]);
    assert_eq!(events[0]["data"], body);

    // The same values again: the operator's action is audited, but nothing changed.
    let response = app.admin_send(Method::PATCH, &path, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(tap.drain(SETTLE).await, ["user.admin.updated"]);
    tap.close().await;
    app.finish().await;
}
