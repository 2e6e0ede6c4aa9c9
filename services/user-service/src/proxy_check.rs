//! Noticing an untrusted proxy at run time.
//!
//! With `TRUSTED_PROXIES` empty (the default) `X-Forwarded-For` is ignored, which is right for a
//! service that clients reach directly and wrong behind an ingress: then every browser arrives
//! from the ingress pod, and all of them share its rate-limit buckets. This counts, per window,
//! the public requests and those that carry `X-Forwarded-For` from a peer that is not trusted;
//! when one such peer sent most of the window's requests, the window ends with a warning that
//! names it and `user_untrusted_proxy_suspected` at 1 (0 otherwise). Each such request also
//! counts in `user_untrusted_forwarded_requests_total`.
//!
//! The hot path is one atomic add per request; only requests that carry the header from an
//! untrusted peer take a short lock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};

use crate::net::TrustedProxies;

/// Fewer requests than this in a window prove nothing either way.
const MIN_REQUESTS: u64 = 20;
/// Distinct untrusted forwarding peers remembered per window (more are counted, not named).
const MAX_PEERS: usize = 64;

/// What a window showed: most requests came through `peer`, whose header was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspicion {
    pub peer: IpAddr,
    pub forwarded: u64,
    pub total: u64,
}

pub struct ProxyCheck {
    trusted: TrustedProxies,
    total: AtomicU64,
    peers: Mutex<HashMap<IpAddr, u64>>,
    forwarded_requests: IntCounter,
    suspected: IntGauge,
}

impl ProxyCheck {
    pub fn new(
        trusted: TrustedProxies,
        forwarded_requests: IntCounter,
        suspected: IntGauge,
    ) -> Self {
        Self {
            trusted,
            total: AtomicU64::new(0),
            peers: Mutex::new(HashMap::new()),
            forwarded_requests,
            suspected,
        }
    }

    /// Counts one public request from `peer`, `forwarded` when it carried `X-Forwarded-For`.
    pub fn observe(&self, peer: IpAddr, forwarded: bool) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if !forwarded || self.trusted.is_trusted(peer) {
            return;
        }
        self.forwarded_requests.inc();
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let known = peers.len();
        if let Some(count) = peers.get_mut(&peer) {
            *count += 1;
        } else if known < MAX_PEERS {
            peers.insert(peer, 1);
        }
    }

    /// Ends the window: the suspicion if one untrusted forwarding peer sent more than half of
    /// its requests, with the gauge set to match. A window with too few requests to tell leaves
    /// the gauge as the last one that could tell set it.
    pub fn close_window(&self) -> Option<Suspicion> {
        let peers = std::mem::take(&mut *self.peers.lock().unwrap_or_else(|e| e.into_inner()));
        let total = self.total.swap(0, Ordering::Relaxed);
        if total < MIN_REQUESTS {
            return None;
        }
        let found = peers
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .filter(|(_, count)| count * 2 > total)
            .map(|(peer, forwarded)| Suspicion {
                peer,
                forwarded,
                total,
            });
        self.suspected.set(i64::from(found.is_some()));
        found
    }

    /// Closes a window every `window` until the process ends, warning on each suspicious one.
    pub async fn run(self: std::sync::Arc<Self>, window: Duration) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + window, window);
        loop {
            ticks.tick().await;
            if let Some(s) = self.close_window() {
                tracing::warn!(
                    peer = %s.peer,
                    forwarded = s.forwarded,
                    total = s.total,
                    "most requests arrive through {} with X-Forwarded-For, which TRUSTED_PROXIES \
                     does not trust: its clients share one address for rate limits and session \
                     records; set TRUSTED_PROXIES to the proxy's addresses",
                    s.peer
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(trusted: &str) -> ProxyCheck {
        let metrics = crate::metrics::Metrics::register(&prometheus::Registry::new()).unwrap();
        ProxyCheck::new(
            trusted.parse().unwrap(),
            metrics.untrusted_forwarded,
            metrics.untrusted_proxy_suspected,
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_untrusted_forwarding_peer_with_most_requests_is_suspected() {
        let c = check("");
        for _ in 0..30 {
            c.observe(ip("10.0.0.5"), true);
        }
        for _ in 0..10 {
            c.observe(ip("192.0.2.1"), false);
        }
        let s = c.close_window().expect("suspected");
        assert_eq!((s.peer, s.forwarded, s.total), (ip("10.0.0.5"), 30, 40));
        assert_eq!(c.suspected.get(), 1);
        // The next window starts empty; too few requests to tell keep the verdict.
        assert_eq!(c.close_window(), None);
        assert_eq!(c.suspected.get(), 1);
        for _ in 0..MIN_REQUESTS {
            c.observe(ip("192.0.2.1"), false);
        }
        assert_eq!(c.close_window(), None);
        assert_eq!(c.suspected.get(), 0, "enough direct requests clear it");
    }

    #[test]
    fn trusted_peers_direct_clients_and_small_windows_are_not() {
        let c = check("10.0.0.0/8");
        for _ in 0..50 {
            c.observe(ip("10.0.0.5"), true);
        }
        assert_eq!(c.close_window(), None);
        let c = check("");
        for n in 0..50u8 {
            c.observe(ip(&format!("192.0.2.{n}")), false);
        }
        assert_eq!(c.close_window(), None);
        for _ in 0..(MIN_REQUESTS - 1) {
            c.observe(ip("10.0.0.5"), true);
        }
        assert_eq!(c.close_window(), None);
        assert_eq!(c.forwarded_requests.get(), MIN_REQUESTS - 1);
    }
}
