//! Configuration from environment variables (see the table in README.md).

use std::net::SocketAddr;
use std::time::Duration;

use common::config::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Config {
    /// Public API listener.
    pub http_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    pub mongodb_uri: String,
    pub mongodb_database: String,
    pub redis_url: String,
    /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
    pub redis_key_prefix: String,
    pub amqp_url: String,
    pub email_queue: String,
    pub session_ttl: Duration,
    pub verification_ttl: Duration,
    /// Front-end page the verification email links to; the token is appended as `?token=`.
    pub verify_email_url: String,
    /// Whether a user whose address is not verified yet may log in.
    pub allow_unverified_login: bool,
    /// At most this many argon2 computations at once (each takes ~19 MiB and one core).
    pub hash_concurrency: usize,
    /// How often the outbox relay looks for emails that could not be published at once.
    pub outbox_poll_interval: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

impl Config {
    pub fn from_env(env: &mut Env) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = Config {
            http_addr: env.optional("HTTP_ADDR", ([0, 0, 0, 0], 8080).into()),
            admin_addr: env.optional("ADMIN_ADDR", ([0, 0, 0, 0], 9090).into()),
            mongodb_uri: env.secret("MONGODB_URI").unwrap_or_default(),
            mongodb_database: env.optional("MONGODB_DATABASE", "user_platform".to_owned()),
            redis_url: env.secret("REDIS_URL").unwrap_or_default(),
            redis_key_prefix: env.optional("REDIS_KEY_PREFIX", "up:".to_owned()),
            amqp_url: env.secret("AMQP_URL").unwrap_or_default(),
            email_queue: env.optional("EMAIL_QUEUE", common::amqp::DEFAULT_QUEUE.to_owned()),
            session_ttl: env.duration("SESSION_TTL", Duration::from_secs(24 * 3600)),
            verification_ttl: env.duration("VERIFICATION_TTL", Duration::from_secs(24 * 3600)),
            verify_email_url: env.optional(
                "VERIFY_EMAIL_URL",
                "http://localhost:8080/verify-email".to_owned(),
            ),
            allow_unverified_login: env.flag("ALLOW_UNVERIFIED_LOGIN", false),
            hash_concurrency: env.optional("HASH_CONCURRENCY", cores),
            outbox_poll_interval: env.duration("OUTBOX_POLL_INTERVAL", Duration::from_secs(5)),
            shutdown_timeout: env.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(25)),
        };
        for (name, value, schemes) in [
            (
                "MONGODB_URI",
                &config.mongodb_uri,
                &["mongodb://", "mongodb+srv://"][..],
            ),
            (
                "REDIS_URL",
                &config.redis_url,
                &["redis://", "rediss://"][..],
            ),
            ("AMQP_URL", &config.amqp_url, &["amqp://", "amqps://"][..]),
        ] {
            if value.is_empty() {
                env.invalid(name, "is required but not set");
            } else if !schemes.iter().any(|s| value.starts_with(s)) {
                env.invalid(name, format!("must start with {}", schemes.join(" or ")));
            }
        }
        if config.hash_concurrency == 0 {
            env.invalid("HASH_CONCURRENCY", "must be at least 1");
        }
        if config.session_ttl < Duration::from_secs(60) {
            env.invalid("SESSION_TTL", "must be at least 1m");
        }
        if !config.verify_email_url.starts_with("http://")
            && !config.verify_email_url.starts_with("https://")
        {
            env.invalid("VERIFY_EMAIL_URL", "must be an http(s) URL");
        }
        std::mem::replace(env, Env::from_map(Default::default())).finish()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_or_bad_variable() {
        let mut env = Env::from_map(
            [("REDIS_URL", "http://nope"), ("SESSION_TTL", "soon")]
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        let err = Config::from_env(&mut env).unwrap_err().to_string();
        for name in [
            "MONGODB_URI",
            "REDIS_URL: must start",
            "AMQP_URL",
            "SESSION_TTL",
        ] {
            assert!(err.contains(name), "{name} missing from {err}");
        }
    }

    #[test]
    fn defaults() {
        let mut env = Env::from_map(
            [
                ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
                ("REDIS_URL", "redis://127.0.0.1"),
                ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        );
        let c = Config::from_env(&mut env).unwrap();
        assert_eq!(c.email_queue, "email_queue");
        assert_eq!(c.http_addr.port(), 8080);
        assert!(!c.allow_unverified_login);
    }
}
