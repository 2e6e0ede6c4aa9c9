use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::amqp::Topology;
use common::email::{EmailKind, EmailMessage, Recipient};
use mongodb::bson::{self, Document, doc};
use user_service::mailer::{Mailer, Publisher};
use user_service::metrics::Metrics;
use user_service::store::outbox::{OutboxEntry, OutboxStore};

use crate::helpers::*;

const SIGNUPS: usize = 5;

/// With the broker unreachable, signups still succeed and their emails and events wait in the
/// outbox; once a broker is reachable the relays of two replicas publish each exactly once.
#[tokio::test]
async fn no_email_is_lost_while_the_broker_is_down() {
    let mut config = test_config();
    config.amqp.url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    let down = spawn_with(config.clone()).await;
    let mut emails = BTreeSet::new();
    for _ in 0..SIGNUPS {
        let email = unique_email();
        assert_eq!(down.register(&email, PASSWORD).await.status(), 202);
        emails.insert(email);
    }

    let outbox = down.database().await.collection::<Document>("outbox");
    // A verification email and a `user.registered` event per signup.
    let expected = 2 * SIGNUPS as u64;
    for _ in 0..50 {
        if outbox.count_documents(doc! {}).await.unwrap() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox.count_documents(doc! {}).await.unwrap(), expected);
    // Stop this instance without cleaning up: the database outlives it.
    let database = config.mongodb.database.clone();
    drop(down);

    // Skip the lease the failed requests hold, as if its 30 s had passed.
    outbox
        .update_many(
            doc! {},
            doc! { "$set": { "available_at": bson::DateTime::now() } },
        )
        .await
        .unwrap();
    let mut healed = test_config();
    healed.mongodb.database = database;
    healed.amqp.email_queue = config.amqp.email_queue.clone();
    healed.amqp.events_exchange = config.amqp.events_exchange.clone();
    let events = EventTap::bind(&healed.amqp.events_exchange).await;
    // Two replicas, both relaying the same outbox at once.
    let first = spawn_with(healed.clone()).await;
    let mut second_config = healed;
    second_config.redis.key_prefix = first.config.redis.key_prefix.clone();
    let second = spawn_with(second_config).await;

    let mut delivered = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for _ in 0..SIGNUPS {
        let message = first.next_email().await;
        assert_eq!(message.kind, EmailKind::VerifyEmail);
        assert!(ids.insert(message.message_id), "published twice");
        delivered.insert(message.to.email);
    }
    assert_eq!(delivered, emails);
    for _ in 0..50 {
        if outbox.count_documents(doc! {}).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox.count_documents(doc! {}).await.unwrap(), 0);
    // A few relay rounds later, still nothing more.
    let types = events.drain(Duration::from_secs(3)).await;
    assert_eq!(queue_depth(&config.amqp.email_queue).await, 0);
    assert_eq!(types, vec!["user.registered"; SIGNUPS]);
    events.close().await;
    second.finish().await;
    first.finish().await;
}

/// The stop of the mailer (the last step of the service's): the publish a request started is
/// finished first, then the connection closes for good. A publish or a readiness check after
/// that is refused rather than opening a connection the exiting process would abandon halfway
/// (lapin's I/O thread then panics on the runtime that is gone).
#[tokio::test]
async fn the_stop_publishes_what_requests_started_then_never_reconnects() {
    let app = spawn_app().await;
    let config = &app.config;
    let publisher = Arc::new(Publisher::new(
        config.amqp.url.clone(),
        Topology::new(&config.amqp.email_queue),
        config.amqp.events_exchange.clone(),
    ));
    let metrics = Metrics::register(&prometheus::Registry::new()).unwrap();
    let outbox = OutboxStore::new(&app.database().await);
    let mailer = Mailer::new(outbox.clone(), publisher.clone(), metrics);
    let email = |to: String| {
        let to = Recipient {
            email: to,
            name: None,
        };
        EmailMessage::new(to, EmailKind::VerifyEmail, "en")
    };

    // Stored, and its publish started in the background, as a request does; the stop begins
    // before that publish has had a turn (this test's runtime has one thread).
    let sent = email(unique_email());
    mailer
        .enqueue(OutboxEntry::new(&sent, Mailer::lease()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    mailer.close(deadline).await;
    assert_eq!(app.next_email().await.message_id, sent.message_id);
    assert_eq!(outbox.pending().await.unwrap(), 0, "published and cleared");

    // Closed for good: not connected, and nothing connects again.
    assert!(!publisher.is_connected());
    let refused = publisher.check().await.unwrap_err();
    assert!(refused.contains("closed"), "{refused}");
    let late = email(unique_email());
    mailer
        .enqueue(OutboxEntry::new(&late, Mailer::lease()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!publisher.is_connected());
    // Its email waits in the outbox for a relay, not lost.
    assert_eq!(outbox.pending().await.unwrap(), 1);
    assert_eq!(queue_depth(&config.amqp.email_queue).await, 0);
    app.finish().await;
}
