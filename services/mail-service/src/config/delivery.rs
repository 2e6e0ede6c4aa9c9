//! What bounds one message's life: the record of sent messages in Redis (`REDIS_*`,
//! `SENT_TTL`, `SEND_CLAIM_TTL`) and the retry schedule (`RETRY_DELAYS`), checked against
//! each other and against the longest SMTP send.

use std::str::FromStr;
use std::time::Duration;

use common::config::Env;
use common::redis::RedisConnectionSettings;

use super::smtp::SEND_TIMEOUTS;

/// Where the record of sent messages lives (the idempotency store).
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Standalone, Sentinel or Cluster, with TLS and credentials (`common::redis`); passwords
    /// are `SecretString`s, redacted in `Debug`.
    pub connection: RedisConnectionSettings,
    /// Prepended to every key, shared with the user service's namespace.
    pub key_prefix: String,
    /// How long a message id is remembered as sent. Redeliveries and re-publishes older than
    /// this would be sent again, so it must outlast any retry schedule and outbox replay.
    pub sent_ttl: Duration,
    /// How long one replica's claim on a message it is sending lasts. Must exceed the longest
    /// send (see `SmtpConfig::timeout`); a claim outliving a crashed replica only delays the
    /// redelivered copy.
    pub claim_ttl: Duration,
}

impl RedisConfig {
    /// Reads the Redis variables (problems are recorded in `env`). The sent TTL is returned
    /// too: the retry schedule is checked against it.
    pub(crate) fn from_env(
        env: &mut Env,
        smtp_timeout: Duration,
    ) -> (Option<RedisConfig>, Duration) {
        let connection = RedisConnectionSettings::from_env(env);
        let key_prefix = common::redis::key_prefix(env);
        let sent_ttl = env.duration("SENT_TTL", Duration::from_secs(7 * 24 * 3600));
        let claim_ttl = env.duration("SEND_CLAIM_TTL", Duration::from_secs(120));
        // A claim that expires mid-send would let another replica send the same email. The
        // longest send is connecting (one SMTP_TIMEOUT) plus the transaction (four).
        if claim_ttl <= smtp_timeout * SEND_TIMEOUTS {
            env.invalid(
                "SEND_CLAIM_TTL",
                format!("must be more than {SEND_TIMEOUTS} times SMTP_TIMEOUT"),
            );
        }
        let config = Some(RedisConfig {
            connection,
            key_prefix,
            sent_ttl,
            claim_ttl,
        });
        (config, sent_ttl)
    }
}

/// Delays of the retry queues, in order; their number is the number of retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryDelays(pub Vec<Duration>);

impl RetryDelays {
    /// `RETRY_DELAYS`, which together must stay shorter than `sent_ttl`: a message retried
    /// after its sent record expired could be sent twice.
    pub(crate) fn from_env(env: &mut Env, sent_ttl: Duration) -> Vec<Duration> {
        let retry_delays = env
            .optional(
                "RETRY_DELAYS",
                RetryDelays(vec![
                    Duration::from_secs(10),
                    Duration::from_secs(60),
                    Duration::from_secs(600),
                ]),
            )
            .0;
        if sent_ttl <= retry_delays.iter().sum::<Duration>() {
            env.invalid("SENT_TTL", "must be longer than all RETRY_DELAYS together");
        }
        retry_delays
    }
}

impl FromStr for RetryDelays {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let delays = s
            .split(',')
            .map(|part| {
                humantime::parse_duration(part.trim())
                    .map_err(|e| format!("{e} (expected durations such as 10s,1m,10m)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // RabbitMQ's x-message-ttl is whole milliseconds, and 0 would mean "expire at once".
        if delays.iter().any(|d| d.as_millis() == 0) {
            return Err("every delay must be at least 1ms".into());
        }
        if delays.len() > 20 {
            return Err("at most 20 retry levels".into());
        }
        Ok(RetryDelays(delays))
    }
}
