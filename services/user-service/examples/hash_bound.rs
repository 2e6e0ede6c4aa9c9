//! The hashing bound for bench/: argon2id hashes per second with the service's own parameters and
//! hasher (one computation per core at once, on the blocking pool), for a fixed time.
//!
//! `cargo run --release -p user-service --example hash_bound -- 10` prints one JSON line.

use std::time::{Duration, Instant};

use user_service::crypto::Hasher;
use user_service::domain::Password;

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hasher = Hasher::new(cores);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    // Twice as many callers as slots, so the hasher is never idle between two hashes.
    let workers: Vec<_> = (0..cores * 2)
        .map(|_| {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                let password = Password::parse("correct horse battery staple").unwrap();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    hasher.hash(&password).await.expect("hashing works");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{{\"hashes\": {total}, \"seconds\": {elapsed:.3}, \"hashes_per_second\": {:.2}, \"cores\": {cores}}}",
        total as f64 / elapsed
    );
}
