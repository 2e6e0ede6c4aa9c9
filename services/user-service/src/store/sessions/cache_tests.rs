use chrono::Utc;

use super::*;

const PREFIX: &str = "t:{u:";

/// The service's own cache metrics, on a registry of the test's own.
fn metrics() -> CacheMetrics {
    crate::metrics::Metrics::register(&prometheus::Registry::new())
        .expect("metrics register")
        .session_cache
}

fn live_cache(entries: usize) -> SessionCache {
    let cache = SessionCache::new(PREFIX.into(), Duration::from_secs(5), entries, metrics());
    cache.live(true);
    cache
}

fn record(user_id: &str) -> Arc<SessionRecord> {
    let now = Utc::now();
    Arc::new(SessionRecord {
        id: format!("s-{user_id}"),
        user_id: user_id.into(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::hours(1),
        user_agent: None,
        ip: None,
        stamp: "stamp".into(),
        email_verified: true,
        email: None,
    })
}

fn key(tag: &str, hex: &str) -> String {
    format!("{PREFIX}{tag}}}:session:{hex}")
}

/// Misses, keeps what "Redis" answered, and answers the copy next time.
fn cached(cache: &SessionCache, tag: &str, hex: &str, user: &str) {
    let key = key(tag, hex);
    let ticket = cache.get(&key, tag).expect_err("a miss first");
    cache.keep(ticket, &key, &record(user), Duration::from_secs(60));
    assert!(cache.get(&key, tag).is_ok(), "kept");
}

#[test]
fn a_kept_copy_answers_until_its_session_changes() {
    let cache = live_cache(100);
    cached(&cache, "aB3x", "1", "alice");
    let copy = cache.get(&key("aB3x", "1"), "aB3x").unwrap();
    assert_eq!(copy.user_id, "alice");
    assert_eq!(cache.metrics.hits.get(), 2);

    cache.invalidate(&[key("aB3x", "1").as_bytes()]);
    assert!(cache.get(&key("aB3x", "1"), "aB3x").is_err());
    assert_eq!(cache.metrics.invalidations.get(), 1);
}

#[test]
fn a_stamp_notice_drops_every_session_of_that_user_only() {
    let cache = live_cache(100);
    cached(&cache, "aB3x", "1", "alice");
    cached(&cache, "aB3x", "2", "alice");
    cached(&cache, "aB3x", "3", "bob");
    cache.invalidate(&[format!("{PREFIX}aB3x}}:stamp:alice").as_bytes()]);
    assert!(cache.get(&key("aB3x", "1"), "aB3x").is_err());
    assert!(cache.get(&key("aB3x", "2"), "aB3x").is_err());
    assert!(cache.get(&key("aB3x", "3"), "aB3x").is_ok());
}

#[test]
fn other_keys_and_other_prefixes_change_nothing() {
    let cache = live_cache(100);
    cached(&cache, "aB3x", "1", "alice");
    for other in [
        format!("{PREFIX}aB3x}}:user-sessions:alice"),
        "other:{u:aB3x}:session:1".to_owned(),
        "garbage".to_owned(),
    ] {
        cache.invalidate(&[other.as_bytes()]);
    }
    assert!(cache.get(&key("aB3x", "1"), "aB3x").is_ok());
    assert_eq!(cache.metrics.invalidations.get(), 0);
}

#[test]
fn an_answer_read_before_a_change_is_not_kept() {
    let cache = live_cache(100);
    let k = key("aB3x", "1");
    let ticket = cache.get(&k, "aB3x").unwrap_err();
    // The notice of a change arrives while the check's answer is on its way.
    cache.invalidate(&[k.as_bytes()]);
    cache.keep(ticket, &k, &record("alice"), Duration::from_secs(60));
    assert!(cache.get(&k, "aB3x").is_err());

    let ticket = cache.get(&k, "aB3x").unwrap_err();
    cache.forget_user("aB3x", "alice");
    cache.keep(ticket, &k, &record("alice"), Duration::from_secs(60));
    assert!(cache.get(&k, "aB3x").is_err(), "a local change counts too");
}

#[test]
fn nothing_is_kept_or_used_while_notices_do_not_flow() {
    let cache = SessionCache::new(PREFIX.into(), Duration::from_secs(5), 100, metrics());
    let k = key("aB3x", "1");
    let ticket = cache.get(&k, "aB3x").unwrap_err();
    cache.keep(ticket, &k, &record("alice"), Duration::from_secs(60));
    assert!(cache.get(&k, "aB3x").is_err(), "never live: nothing kept");

    cache.live(true);
    assert_eq!(cache.metrics.tracking.get(), 1);
    cached(&cache, "aB3x", "1", "alice");
    let ticket = cache.get(&key("Zq9k", "2"), "Zq9k").unwrap_err();
    cache.live(false);
    assert_eq!(cache.metrics.tracking.get(), 0);
    assert!(
        cache.get(&k, "aB3x").is_err(),
        "an interruption forgets every copy"
    );
    cache.live(true);
    cache.keep(
        ticket,
        &key("Zq9k", "2"),
        &record("bob"),
        Duration::from_secs(60),
    );
    assert!(
        cache.get(&key("Zq9k", "2"), "Zq9k").is_err(),
        "a ticket from before the interruption keeps nothing"
    );
}

#[test]
fn copies_expire_and_the_size_is_bounded() {
    let cache = SessionCache::new(PREFIX.into(), Duration::from_millis(30), 16, metrics());
    cache.live(true);
    let k = key("aB3x", "1");
    let ticket = cache.get(&k, "aB3x").unwrap_err();
    cache.keep(ticket, &k, &record("alice"), Duration::from_secs(60));
    assert!(cache.get(&k, "aB3x").is_ok());
    std::thread::sleep(Duration::from_millis(40));
    assert!(cache.get(&k, "aB3x").is_err(), "capped by the maximum age");

    // One entry per shard here: a second key of the same shard waits for the first to expire.
    let (a, b) = (key("aB3x", "2"), key("aB3x", "3"));
    let ticket = cache.get(&a, "aB3x").unwrap_err();
    cache.keep(ticket, &a, &record("alice"), Duration::from_secs(60));
    let ticket = cache.get(&b, "aB3x").unwrap_err();
    cache.keep(ticket, &b, &record("alice"), Duration::from_secs(60));
    assert!(cache.get(&a, "aB3x").is_ok());
    assert!(cache.get(&b, "aB3x").is_err(), "full: not kept");

    let ticket = cache.get(&b, "aB3x").unwrap_err();
    cache.keep(ticket, &b, &record("alice"), Duration::ZERO);
    assert!(cache.get(&b, "aB3x").is_err(), "nothing kept for no time");
}
