//! The services the user service depends on: MongoDB, Redis and the message broker.

use std::time::Duration;

use common::config::Env;
use common::redis::RedisConnectionSettings;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub struct MongoSettings {
    /// Connection strings may carry passwords: `SecretString`s, redacted in `Debug`.
    pub uri: SecretString,
    pub database: String,
}

impl MongoSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        Self {
            uri: connection_url(env, "MONGODB_URI", &["mongodb://", "mongodb+srv://"]),
            database: env.optional("MONGODB_DATABASE", "user_platform".to_owned()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Standalone, Sentinel or Cluster, with TLS and credentials (`common::redis`).
    pub connection: RedisConnectionSettings,
    /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// Replicas to wait for after a session is created or revoked (`WAIT`); 0: off.
    pub wait_replicas: u32,
    /// How long that wait may take; a shortfall is logged, the request still succeeds.
    pub wait_timeout: Duration,
}

impl RedisSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        let settings = Self {
            connection: RedisConnectionSettings::from_env(env),
            key_prefix: common::redis::key_prefix(env),
            wait_replicas: env.optional("REDIS_WAIT_REPLICAS", 0),
            wait_timeout: env.duration("REDIS_WAIT_TIMEOUT", Duration::from_millis(100)),
        };
        // WAIT answers after its timeout; the client gives up on any answer after its own.
        if settings.wait_timeout >= common::redis::RESPONSE_TIMEOUT {
            env.invalid(
                "REDIS_WAIT_TIMEOUT",
                "must be below 2s (the Redis client's response timeout)",
            );
        }
        settings
    }
}

#[derive(Debug, Clone)]
pub struct AmqpSettings {
    pub url: SecretString,
    pub email_queue: String,
    /// Topic exchange the domain events (`user.registered`, ...) are published to.
    pub events_exchange: String,
    /// How often the outbox relay looks for emails that could not be published at once.
    pub outbox_poll_interval: Duration,
}

impl AmqpSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        let amqp = Self {
            url: connection_url(env, "AMQP_URL", &["amqp://", "amqps://"]),
            email_queue: env.optional("EMAIL_QUEUE", common::amqp::DEFAULT_QUEUE.to_owned()),
            events_exchange: env.optional("EVENTS_EXCHANGE", "user.events".to_owned()),
            outbox_poll_interval: env.duration("OUTBOX_POLL_INTERVAL", Duration::from_secs(5)),
        };
        if amqp.events_exchange.is_empty() || amqp.events_exchange.starts_with("amq.") {
            env.invalid("EVENTS_EXCHANGE", "must be a non-reserved exchange name");
        }
        amqp
    }
}

/// A required connection string with one of `schemes` (kept secret: it may hold a password).
fn connection_url(env: &mut Env, name: &str, schemes: &[&str]) -> SecretString {
    let url = env.secret(name).unwrap_or_default();
    let value = url.expose_secret();
    if value.is_empty() {
        env.invalid(name, "is required but not set");
    } else if !schemes.iter().any(|s| value.starts_with(s)) {
        env.invalid(name, format!("must start with {}", schemes.join(" or ")));
    }
    url
}
