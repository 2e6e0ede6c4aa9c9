//! Walking every user through the admin API's cursor while users keep being added.

use std::collections::HashSet;

use chrono::{Duration as ChronoDuration, Utc};
use reqwest::Method;
use user_service::store::users::UserDoc;
use uuid::Uuid;

use crate::admin::spawn_admin_app;

const USERS: usize = 3000;

/// A user document as registration writes it (the same type), without the argon2 work.
fn user(created: chrono::DateTime<Utc>) -> UserDoc {
    let at = mongodb::bson::DateTime::from_millis(created.timestamp_millis());
    UserDoc {
        id: Uuid::now_v7().to_string(),
        email: format!("bulk-{}@example.com", Uuid::new_v4().simple()),
        email_verified: true,
        password_hash:
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        display_name: None,
        locale: "en".into(),
        created_at: at,
        updated_at: at,
        security_stamp: "stamp".into(),
        disabled: false,
        last_login_at: None,
        mfa: None,
        passkeys: Vec::new(),
    }
}

#[tokio::test]
async fn a_walk_sees_every_user_once_in_order_while_users_are_added() {
    let app = spawn_admin_app().await;
    let users = app.database().await.collection::<UserDoc>("users");
    // Many share a millisecond: ties are ordered by id.
    let start = Utc::now() - ChronoDuration::hours(1);
    let initial: Vec<UserDoc> = (0..USERS)
        .map(|i| user(start + ChronoDuration::milliseconds((i / 7) as i64)))
        .collect();
    for chunk in initial.chunks(500) {
        users.insert_many(chunk).await.unwrap();
    }
    let expected: HashSet<String> = initial.iter().map(|u| u.id.clone()).collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/users?limit=250&cursor={c}"),
            None => "/admin/v1/users?limit=250".to_owned(),
        };
        let page = app.admin_json(Method::GET, &path).await;
        for u in page["users"].as_array().unwrap() {
            seen.push((
                u["created_at"].as_str().unwrap().to_owned(),
                u["id"].as_str().unwrap().to_owned(),
            ));
        }
        // Users arrive between pages (created now, after every page read so far).
        let added: Vec<UserDoc> = (0..20).map(|_| user(Utc::now())).collect();
        users.insert_many(&added).await.unwrap();
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 100, "the walk does not end");
    }
    let ids: Vec<&String> = seen.iter().map(|(_, id)| id).collect();
    let unique: HashSet<&String> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a user was listed twice");
    assert!(
        expected.iter().all(|id| unique.contains(id)),
        "a user that existed before the walk was missed"
    );
    let parsed: Vec<(chrono::DateTime<Utc>, &String)> = seen
        .iter()
        .map(|(at, id)| (at.parse().unwrap(), id))
        .collect();
    assert!(
        parsed.windows(2).all(|w| w[0] < w[1]),
        "not in creation order"
    );
    app.finish().await;
}
