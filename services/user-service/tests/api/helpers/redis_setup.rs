//! The tests' Redis: the standalone server, or the topology the suite runs in (TLS, Sentinel,
//! Cluster) through `TEST_REDIS_*`.

use common::config::Env;
use user_service::config::Config;

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Redis connection variables of the tests: every `TEST_REDIS_<X>` becomes `REDIS_<X>`
/// (`scripts/redis-topologies.sh env tls|sentinel|cluster` prints them), else the local
/// standalone Redis.
pub fn redis_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| Some((k.strip_prefix("TEST_")?.to_owned(), v)))
        .filter(|(k, _)| k.starts_with("REDIS_"))
        .collect();
    if !vars
        .iter()
        .any(|(k, _)| k == "REDIS_URL" || k == "REDIS_MODE")
    {
        vars.push(("REDIS_URL".into(), redis_url()));
    }
    vars
}

/// Points `config` at one plain Redis (`redis://` URL), whatever mode the suite runs in.
pub fn use_standalone_redis(config: &mut Config, url: &str) {
    let mut env = Env::from_pairs(&[("REDIS_URL", url)]);
    config.redis.connection = common::redis::RedisConnectionSettings::from_env(&mut env);
    env.finish().expect("a valid REDIS_URL");
}

/// A connection to the test's Redis, in the app's mode, for looking at keys directly.
pub fn redis_connection(config: &Config) -> common::redis::RedisConnection {
    common::redis::RedisConnection::open(&config.redis.connection).expect("Redis client")
}
