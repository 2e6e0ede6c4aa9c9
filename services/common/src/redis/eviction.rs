//! Redis must not evict the services' keys: an evicted session, rate-limit counter or sent
//! record is lost silently. At start-up the `maxmemory-policy` is read; any policy but
//! `noeviction` stops the service unless `REDIS_ALLOW_EVICTION=true` says the operator accepts it
//! (every other policy can evict our keys, which all have a TTL). A Redis that does not let us
//! read it (managed services, ACL users without CONFIG, as in the chart) is logged and accepted.

use super::RedisConnection;

/// Redis runs with a policy that evicts keys, and the operator did not allow it.
#[derive(Debug, thiserror::Error)]
#[error(
    "Redis evicts keys under memory pressure (maxmemory-policy {policy}); set it to noeviction, \
     or set REDIS_ALLOW_EVICTION=true to accept losing sessions, limits and records"
)]
pub struct EvictingRedis {
    pub policy: String,
}

impl RedisConnection {
    /// Checks `maxmemory-policy` (on the node a command reaches; in a Cluster, one node).
    pub async fn check_eviction_policy(&self, allow: bool) -> Result<(), EvictingRedis> {
        let answer: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut self.clone())
            .await;
        let policy = match answer {
            Ok(pair) if pair.len() == 2 => pair[1].clone(),
            Ok(_) => {
                tracing::warn!("maxmemory-policy not reported by Redis; cannot check eviction");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, "maxmemory-policy not readable (CONFIG not allowed?); cannot check eviction");
                return Ok(());
            }
        };
        match (policy.as_str(), allow) {
            ("noeviction", _) => Ok(()),
            (_, true) => {
                tracing::warn!(%policy, "Redis may evict keys (REDIS_ALLOW_EVICTION=true): sessions, limits and records can vanish under memory pressure");
                Ok(())
            }
            (_, false) => Err(EvictingRedis { policy }),
        }
    }
}
