//! Configuration from environment variables (see `common::config`), read in groups: the
//! queue and its retry queues' type, the SMTP relay (`smtp.rs`), the sent record and retries (`delivery.rs`), the
//! template source (`templates.rs`) and who may publish ([`QueueTrust`]).

mod delivery;
mod smtp;
mod templates;

use std::net::SocketAddr;
use std::time::Duration;

use common::amqp::RetryQueueType;
use common::config::{ConfigError, Env};
use lettre::message::Mailbox;
use secrecy::SecretString;

pub use self::delivery::{RedisConfig, RetryDelays};
pub use self::smtp::{SEND_TIMEOUTS, SmtpConfig, SmtpCredentials, SmtpTls};
pub use self::templates::TemplateSource;
pub use crate::gate::QueueTrust;

#[derive(Debug, Clone)]
pub struct Config {
    pub admin_addr: SocketAddr,
    /// May carry a password: a `SecretString`, redacted in `Debug`.
    pub amqp_url: SecretString,
    pub email_queue: String,
    /// Unacknowledged deliveries per consumer, which is also how many are sent concurrently.
    pub prefetch: u16,
    pub smtp: SmtpConfig,
    pub redis: RedisConfig,
    /// One retry queue per entry; a message failing transiently after the last is dead-lettered.
    pub retry_delays: Vec<Duration>,
    /// Classic or quorum retry queues (`RETRY_QUEUE_TYPE`).
    pub retry_queue_type: RetryQueueType,
    pub mail_from: Mailbox,
    /// Templates overriding the built-in ones; watched for changes.
    pub template_source: TemplateSource,
    /// How often a template directory is checked for changes.
    pub template_poll_interval: Duration,
    /// How long in-flight messages may take to finish after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Who may publish to the queue (see [`QueueTrust`]).
    pub trust: QueueTrust,
}

impl Config {
    /// Reads every variable, recording problems in `env`. Returns `None` if anything required
    /// is missing or malformed; call `env.finish()` for the full list.
    pub fn from_env(env: &mut Env) -> Option<Config> {
        let admin_addr = env.optional("ADMIN_ADDR", SocketAddr::from(([0, 0, 0, 0], 9091)));
        let amqp_url = env.required_secret("AMQP_URL");
        let email_queue = env.optional("EMAIL_QUEUE", common::amqp::DEFAULT_QUEUE.to_owned());
        let prefetch = prefetch(env);
        let (smtp, smtp_timeout) = SmtpConfig::from_env(env);
        let mail_from: Option<Mailbox> = env.required("MAIL_FROM");
        let shutdown_timeout = env.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(25));
        let (redis, sent_ttl) = RedisConfig::from_env(env, smtp_timeout);
        let retry_delays = RetryDelays::from_env(env, sent_ttl);
        let retry_queue_type = env.optional("RETRY_QUEUE_TYPE", RetryQueueType::default());
        let template_source = TemplateSource::from_env(env);
        let template_poll_interval = env.duration("TEMPLATE_POLL_INTERVAL", Duration::from_secs(5));
        let trust = QueueTrust::from_env(env, amqp_url.as_ref());
        Some(Config {
            admin_addr,
            amqp_url: amqp_url?,
            email_queue,
            prefetch,
            smtp: smtp?,
            redis: redis?,
            retry_delays,
            retry_queue_type,
            mail_from: mail_from?,
            template_source,
            template_poll_interval,
            shutdown_timeout,
            trust,
        })
    }

    /// Reads the configuration and fails with every problem found.
    pub fn load(mut env: Env) -> Result<Config, ConfigError> {
        let config = Config::from_env(&mut env);
        env.finish()?;
        // `from_env` only returns `None` after recording an error, so `finish` has failed.
        Ok(config.expect("no configuration errors were recorded"))
    }
}

/// `PREFETCH`: unacknowledged deliveries per consumer.
fn prefetch(env: &mut Env) -> u16 {
    let prefetch: u16 = env.optional("PREFETCH", 16);
    if prefetch == 0 {
        // 0 means "unlimited" to RabbitMQ, which would let one replica hoard the queue.
        env.invalid("PREFETCH", "must be at least 1");
    }
    prefetch
}

#[cfg(test)]
mod tests;
