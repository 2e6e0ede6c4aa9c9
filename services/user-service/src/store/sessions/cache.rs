//! Copies of valid sessions in this process, so that most checks in front of a request
//! (forward-auth, the API's own) need no round trip to Redis.
//!
//! A copy is used only while Redis tells this process of every change to the users' keys
//! (`common::redis::track_keys`: `CLIENT TRACKING` on the `{u:` prefix, from any replica or
//! tool), and only until the earliest of: a change to its session key or to its user's stamp
//! key, the time its session is due to be touched (so idle timeouts and `last_seen_at` behave
//! as without copies), its idle or absolute end, and `SESSION_CACHE_MAX_AGE`. Changes made by
//! this process drop the copies at once, before the write's caller goes on.
//!
//! A check that missed takes a [`Ticket`] first and may keep its answer only if no change to
//! that shard's keys, and no interruption of the notices, came in between: an answer read
//! before a change can never outlive the change's notice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::redis::TrackingSink;
use prometheus::{IntCounter, IntCounterVec, IntGauge};

use super::record::SessionRecord;

/// Shards, each with its own lock, chosen by the user's routing tag: a user's session and
/// stamp keys fall in the same one.
const SHARDS: usize = 16;

/// The cache's own figures (`user_session_cache_*`).
#[derive(Clone)]
pub struct CacheMetrics {
    /// `user_session_cache_lookups_total`; `hits` and `misses` are its two children.
    pub lookups: IntCounterVec,
    pub hits: IntCounter,
    pub misses: IntCounter,
    /// Copies dropped because Redis said their key changed.
    pub invalidations: IntCounter,
    /// 1 while Redis' notices flow and copies are used.
    pub tracking: IntGauge,
}

pub struct SessionCache {
    shards: Box<[Mutex<Shard>]>,
    /// 0 while notices do not flow; a new value each time they start again.
    generation: AtomicU64,
    starts: AtomicU64,
    /// `<REDIS_KEY_PREFIX>{u:`: what every user key starts with.
    user_prefix: String,
    max_age: Duration,
    per_shard: usize,
    metrics: CacheMetrics,
}

#[derive(Default)]
struct Shard {
    /// Moves on every change to one of the shard's keys.
    epoch: u64,
    entries: HashMap<String, Entry>,
}

struct Entry {
    record: Arc<SessionRecord>,
    fresh_until: Instant,
}

/// What a check that missed needs to keep its answer afterwards.
#[derive(Debug)]
pub struct Ticket {
    shard: usize,
    epoch: u64,
    generation: u64,
}

impl SessionCache {
    /// Holds at most about `entries` copies, each for at most `max_age`.
    pub fn new(user_prefix: String, max_age: Duration, entries: usize, m: CacheMetrics) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            generation: AtomicU64::new(0),
            starts: AtomicU64::new(0),
            user_prefix,
            max_age,
            per_shard: entries.div_ceil(SHARDS),
            metrics: m,
        }
    }

    /// The copy of the session under `key` (of the user with routing tag `tag`), or the ticket
    /// to keep what Redis answers instead.
    pub fn get(&self, key: &str, tag: &str) -> Result<Arc<SessionRecord>, Ticket> {
        let shard = shard_of(tag);
        let guard = self.lock(shard);
        if let Some(entry) = guard.entries.get(key)
            && entry.fresh_until > Instant::now()
        {
            self.metrics.hits.inc();
            return Ok(Arc::clone(&entry.record));
        }
        self.metrics.misses.inc();
        Err(Ticket {
            shard,
            epoch: guard.epoch,
            // Read under the lock: `live(false)` zeroes it before it clears the shards.
            generation: self.generation.load(Ordering::Acquire),
        })
    }

    /// Keeps `record` for up to `fresh_for` (capped by the maximum age), unless its shard
    /// changed or the notices stopped since `ticket` was taken.
    pub fn keep(
        &self,
        ticket: Ticket,
        key: &str,
        record: &Arc<SessionRecord>,
        fresh_for: Duration,
    ) {
        let fresh_for = fresh_for.min(self.max_age);
        if ticket.generation == 0 || fresh_for.is_zero() {
            return;
        }
        let mut shard = self.lock(ticket.shard);
        if shard.epoch != ticket.epoch
            || self.generation.load(Ordering::Acquire) != ticket.generation
        {
            return;
        }
        let now = Instant::now();
        if shard.entries.len() >= self.per_shard {
            shard.entries.retain(|_, e| e.fresh_until > now);
            if shard.entries.len() >= self.per_shard {
                return;
            }
        }
        let entry = Entry {
            record: Arc::clone(record),
            fresh_until: now + fresh_for,
        };
        shard.entries.insert(key.to_owned(), entry);
    }

    /// Drops the copy of one session (this process changed or ended it).
    pub fn forget_session(&self, key: &str, tag: &str) {
        let mut shard = self.lock(shard_of(tag));
        shard.epoch += 1;
        shard.entries.remove(key);
    }

    /// Drops the copies of every session of a user (its stamp or sessions changed).
    pub fn forget_user(&self, tag: &str, user_id: &str) {
        let mut shard = self.lock(shard_of(tag));
        shard.epoch += 1;
        shard.entries.retain(|_, e| e.record.user_id != user_id);
    }

    fn forget_all(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.epoch += 1;
            shard.entries.clear();
        }
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A changed key's notice: `{u:<tag>}:session:<hex>` or `{u:<tag>}:stamp:<user id>` after
    /// the prefix; the users' other keys hold nothing a copy depends on.
    fn changed(&self, key: &[u8]) {
        let Some(rest) = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.strip_prefix(&self.user_prefix))
        else {
            return;
        };
        let Some((tag, rest)) = rest.split_once("}:") else {
            return;
        };
        match rest.split_once(':') {
            Some(("session", _)) => {
                let key = std::str::from_utf8(key).unwrap_or_default();
                self.forget_session(key, tag);
            }
            Some(("stamp", user_id)) => self.forget_user(tag, user_id),
            _ => return,
        }
        self.metrics.invalidations.inc();
    }
}

impl TrackingSink for SessionCache {
    fn live(&self, live: bool) {
        if live {
            let start = self.starts.fetch_add(1, Ordering::Relaxed) + 1;
            self.generation.store(start, Ordering::Release);
        } else {
            self.generation.store(0, Ordering::Release);
            self.forget_all();
        }
        self.metrics.tracking.set(i64::from(live));
    }

    fn invalidate(&self, keys: &[&[u8]]) {
        for key in keys {
            self.changed(key);
        }
    }
}

fn shard_of(tag: &str) -> usize {
    let folded = tag.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    folded % SHARDS
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
