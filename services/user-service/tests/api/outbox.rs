use std::time::Duration;

use common::email::EmailKind;
use mongodb::bson::{self, Document, doc};

use crate::helpers::*;

/// With the broker unreachable, signups still succeed and their email and event wait in the
/// outbox; once a broker is reachable the relay publishes both.
#[tokio::test]
async fn no_email_is_lost_while_the_broker_is_down() {
    let mut config = test_config();
    config.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    let down = spawn_with(config.clone()).await;
    let email = unique_email();
    assert_eq!(down.register(&email, PASSWORD).await.status(), 202);

    let outbox = down.database().await.collection::<Document>("outbox");
    for _ in 0..50 {
        if outbox.count_documents(doc! {}).await.unwrap() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The verification email and the `user.registered` event.
    assert_eq!(outbox.count_documents(doc! {}).await.unwrap(), 2);
    // Stop this instance without cleaning up: the database outlives it.
    let database = config.mongodb_database.clone();
    drop(down);

    // Skip the lease the failed request holds, as if its 30 s had passed.
    outbox
        .update_many(
            doc! {},
            doc! { "$set": { "available_at": bson::DateTime::now() } },
        )
        .await
        .unwrap();
    let mut healed = test_config();
    healed.mongodb_database = database;
    healed.email_queue = config.email_queue.clone();
    healed.events_exchange = config.events_exchange.clone();
    let events = EventTap::bind(&healed.events_exchange).await;
    let up = spawn_with(healed).await;
    let message = up.next_email().await;
    assert_eq!(message.kind, EmailKind::VerifyEmail);
    assert_eq!(message.to.email, email);
    for _ in 0..50 {
        if outbox.count_documents(doc! {}).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox.count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(queue_depth(&config.email_queue).await, 0);
    let event = events.next().await;
    assert_eq!(event["type"], "user.registered");
    assert_eq!(event["schema_version"], 1);
    events.close().await;
    up.finish().await;
}
