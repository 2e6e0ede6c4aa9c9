//! The session copies (`SESSION_CACHE_MAX_AGE`, store::sessions::cache): checks answered from
//! memory, and a copy dropped as soon as its session or account changes, whichever replica or
//! tool changed it. In Cluster mode the copies are off and every check reads Redis.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn lookups(app: &TestApp, result: &str) -> f64 {
    app.metric(&format!(
        "user_session_cache_lookups_total{{result=\"{result}\"}}"
    ))
    .await
}

fn clustered(app: &TestApp) -> bool {
    app.config.redis.connection.mode_name() == "cluster"
}

/// Waits until the app hears of Redis' changes (its copies are on); false in Cluster mode.
async fn tracking(app: &TestApp) -> bool {
    if clustered(app) {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.metric("user_session_cache_tracking").await != 1.0 {
        assert!(Instant::now() < deadline, "tracking never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn check(app: &TestApp, token: &str) -> u16 {
    app.call(Method::GET, "/v1/auth/check", token, Value::Null)
        .await
        .status()
        .as_u16()
}

/// The first check refusing `token`, polled every 5 ms for at most 2 s (a notice from Redis
/// reaches the replica asynchronously); answers how long it took.
async fn refused(app: &TestApp, token: &str) -> Duration {
    let started = Instant::now();
    while check(app, token).await != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a changed session kept answering from the copy"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// Two replicas of one deployment (same MongoDB, Redis prefix and queues).
async fn two_replicas() -> (TestApp, TestApp) {
    let config = test_config();
    (spawn_with(config.clone()).await, spawn_with(config).await)
}

#[tokio::test]
async fn a_replica_drops_its_copy_when_another_replica_ends_the_session() {
    let (a, b) = two_replicas().await;
    let cached = tracking(&a).await & tracking(&b).await;
    let email = a.verified_user().await;
    let token = a.session(&email, PASSWORD).await;
    let other = a.session(&email, PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(check(&b, &token).await, 200);
        assert_eq!(check(&b, &other).await, 200);
    }
    let expected = if cached { (2.0, 4.0) } else { (0.0, 0.0) };
    assert_eq!(
        (lookups(&b, "miss").await, lookups(&b, "hit").await),
        expected
    );

    // A logs one session out: B refuses it, the other still answers from B's copy.
    assert_eq!(a.logout(&token).await.status(), 204);
    let took = refused(&b, &token).await;
    assert_eq!(check(&b, &other).await, 200);
    if cached {
        assert!(b.metric("user_session_cache_invalidations_total").await >= 1.0);
    }
    println!("logout on A refused on B after {took:?}");

    // A password change on A ends every other session, on B too (the stamp's notice).
    let current = a.session(&email, PASSWORD).await;
    let changed = a
        .call(
            Method::PUT,
            "/v1/users/me/password",
            &current,
            json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase 42" }),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let took = refused(&b, &other).await;
    println!("password change on A refused on B after {took:?}");
    a.stop().await;
    b.finish().await;
}

#[tokio::test]
async fn a_change_written_straight_to_redis_ends_the_copy() {
    let app = spawn_app().await;
    let cached = tracking(&app).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id: Value = app.me(&token).await.json().await.unwrap();
    let id = id["id"].as_str().unwrap().to_owned();
    assert_eq!(check(&app, &token).await, 200);
    assert_eq!(check(&app, &token).await, 200);
    // `me` read Redis, both checks answered from the copy.
    assert_eq!(lookups(&app, "hit").await, if cached { 2.0 } else { 0.0 });

    // Another tool moves the user's stamp (an operator, an older release): refused at once.
    let mut redis = redis_connection(&app.config);
    let prefix = &app.config.redis.key_prefix;
    let stamp_key = user_service::store::keys::stamp_key(prefix, &id);
    let stamp: String = redis.get(&stamp_key).await.unwrap();
    let _: () = redis.set(&stamp_key, "moved-on").await.unwrap();
    refused(&app, &token).await;
    let _: () = redis.set(&stamp_key, &stamp).await.unwrap();

    // And deletes a session key.
    let token = app.session(&email, PASSWORD).await;
    assert_eq!(check(&app, &token).await, 200);
    assert_eq!(check(&app, &token).await, 200);
    let key = user_service::store::keys::session_key(prefix, &token);
    let _: () = redis.del(&key).await.unwrap();
    refused(&app, &token).await;
    app.finish().await;
}

/// The tracking connection's id in `CLIENT LIST` (by its name).
async fn tracker_id(app: &TestApp) -> Option<String> {
    let mut redis = redis_connection(&app.config);
    let prefix = format!("{}{{u:", app.config.redis.key_prefix);
    let name = format!("name={}", common::redis::tracker_name(&prefix));
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut redis)
        .await
        .unwrap();
    list.lines()
        .find(|l| l.split(' ').any(|field| field == name))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
}

#[tokio::test]
async fn a_lost_tracking_connection_forgets_every_copy_until_it_is_back() {
    let app = spawn_app().await;
    if !tracking(&app).await {
        assert_eq!(tracker_id(&app).await, None, "no tracking in Cluster mode");
        return app.finish().await;
    }
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    assert_eq!(check(&app, &token).await, 200);
    assert_eq!(check(&app, &token).await, 200);
    let misses = lookups(&app, "miss").await;

    let first = tracker_id(&app)
        .await
        .expect("the tracking connection is listed");
    let mut redis = redis_connection(&app.config);
    let killed: u32 = redis::cmd("CLIENT")
        .arg(&["KILL", "ID", &first])
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match tracker_id(&app).await {
            Some(id) if id != first => break id,
            _ => assert!(Instant::now() < deadline, "tracking never came back"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(first, second);
    tracking(&app).await;
    // The copy made before the interruption is gone: the next check reads Redis again.
    assert_eq!(check(&app, &token).await, 200);
    assert_eq!(lookups(&app, "miss").await, misses + 1.0);
    assert_eq!(app.logout(&token).await.status(), 204);
    assert_eq!(check(&app, &token).await, 401);
    app.finish().await;
}

#[tokio::test]
async fn copies_can_be_turned_off() {
    let mut config = test_config();
    config.sessions.cache_max_age = Duration::ZERO;
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(check(&app, &token).await, 200);
    }
    assert_eq!(
        lookups(&app, "hit").await + lookups(&app, "miss").await,
        0.0
    );
    assert_eq!(app.metric("user_session_cache_tracking").await, 0.0);
    assert_eq!(tracker_id(&app).await, None);
    app.finish().await;
}

/// Checks `token` on `app` in `tasks` loops until `stop`; answers each check's start time
/// and status.
async fn hammer(app: &TestApp, token: &str, tasks: usize, stop: Instant) -> Vec<(Instant, u16)> {
    let loops = (0..tasks).map(|_| async move {
        let mut seen = Vec::new();
        while Instant::now() < stop {
            let started = Instant::now();
            seen.push((started, check(app, token).await));
        }
        seen
    });
    futures_util::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test]
async fn no_check_started_after_a_logout_returned_is_answered_from_a_copy() {
    let (a, b) = two_replicas().await;
    let cached = tracking(&a).await & tracking(&b).await;
    let email = a.verified_user().await;
    let token = a.session(&email, PASSWORD).await;
    let stop = Instant::now() + Duration::from_millis(1500);
    // Both replicas answer this session from their copies, 8 checks at a time each, while A
    // ends it half-way through.
    let (on_a, on_b, logged_out) = tokio::join!(
        hammer(&a, &token, 8, stop),
        hammer(&b, &token, 8, stop),
        async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            assert_eq!(a.logout(&token).await.status(), 204);
            Instant::now()
        }
    );
    let before = |seen: &[(Instant, u16)]| seen.iter().filter(|(t, _)| *t < logged_out).count();
    assert!(
        before(&on_a) > 10 && before(&on_b) > 10,
        "the session was checked before"
    );
    // On the replica that ended it: not one check started after the logout answered passes.
    let late_on_a: Vec<_> = on_a
        .iter()
        .filter(|(t, s)| *t > logged_out && *s == 200)
        .collect();
    assert!(
        late_on_a.is_empty(),
        "{} checks on A passed after the logout",
        late_on_a.len()
    );
    // On the other: only while Redis' notice is on its way (it took about 1 ms in this test).
    let last_on_b = on_b
        .iter()
        .filter(|(t, s)| *t > logged_out && *s == 200)
        .map(|(t, _)| t.duration_since(logged_out))
        .max();
    println!("last check on B passed {last_on_b:?} after the logout returned");
    let grace = logged_out + Duration::from_millis(100);
    let late_on_b: Vec<_> = on_b
        .iter()
        .filter(|(t, s)| *t > grace && *s == 200)
        .collect();
    assert!(
        late_on_b.is_empty(),
        "{} checks on B passed after the logout",
        late_on_b.len()
    );
    if cached {
        assert!(
            lookups(&b, "hit").await > 10.0,
            "B answered from its copy before the logout"
        );
    }
    a.stop().await;
    b.finish().await;
}
