//! Configuration from environment variables (see `common::config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use common::config::{ConfigError, Env};
use lettre::message::Mailbox;
use secrecy::SecretString;

pub use crate::gate::QueueTrust;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text. Only for a relay on the same host or a test sink.
    None,
    /// Plain connection upgraded with STARTTLS; refuses to continue without it.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

impl FromStr for SmtpTls {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            _ => Err("expected none, starttls or tls"),
        }
    }
}

/// Where the email templates come from (`TEMPLATE_SOURCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// The templates built into the binary.
    Builtin,
    /// The built-ins overridden by the files in this directory, reloaded when it changes.
    Directory(PathBuf),
    /// The built-ins overridden by `EmailTemplate` resources in `namespace` (the client's
    /// default namespace when unset), watched through the Kubernetes API.
    Kubernetes { namespace: Option<String> },
}

/// The longest a send can take, in multiples of `SMTP_TIMEOUT` (see `smtp::Slot::send`).
pub const SEND_TIMEOUTS: u32 = 5;

/// SMTP login. The password is a `SecretString`: `Debug` shows `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: SecretString,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<SmtpCredentials>,
    /// Bounds connecting; a whole transaction gets `SEND_TIMEOUTS - 1` times this.
    pub timeout: Duration,
    /// Most connections kept open to the relay at once.
    pub pool_size: u32,
    /// Disable Nagle's algorithm on SMTP connections. Only ever turned off to measure what it
    /// costs (see `bench/`).
    pub nodelay: bool,
}

/// Where the record of sent messages lives (the idempotency store).
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// May carry a password: a `SecretString`, redacted in `Debug`.
    pub url: SecretString,
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

/// Delays of the retry queues, in order; their number is the number of retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryDelays(pub Vec<Duration>);

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
        let prefetch: u16 = env.optional("PREFETCH", 16);
        if prefetch == 0 {
            // 0 means "unlimited" to RabbitMQ, which would let one replica hoard the queue.
            env.invalid("PREFETCH", "must be at least 1");
        }

        let host: Option<String> = env.required("SMTP_HOST");
        let tls = env.optional("SMTP_TLS", SmtpTls::StartTls);
        let port = env.optional("SMTP_PORT", tls.default_port());
        let username: Option<String> = env.optional_opt("SMTP_USERNAME");
        let password = env.secret("SMTP_PASSWORD");
        let credentials = match (username, password) {
            (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
            (None, None) => None,
            _ => {
                env.invalid(
                    "SMTP_USERNAME/SMTP_PASSWORD",
                    "set both SMTP_USERNAME and SMTP_PASSWORD, or neither",
                );
                None
            }
        };
        let timeout = env.duration("SMTP_TIMEOUT", Duration::from_secs(10));
        let pool_size: u32 = env.optional("SMTP_POOL_SIZE", 4);
        if pool_size == 0 {
            env.invalid("SMTP_POOL_SIZE", "must be at least 1");
        }
        let nodelay = env.flag("SMTP_TCP_NODELAY", true);
        let mail_from: Option<Mailbox> = env.required("MAIL_FROM");
        let shutdown_timeout = env.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(25));

        let redis_url = env.required_secret("REDIS_URL");
        let key_prefix = env.optional("REDIS_KEY_PREFIX", "up:".to_owned());
        let sent_ttl = env.duration("SENT_TTL", Duration::from_secs(7 * 24 * 3600));
        let claim_ttl = env.duration("SEND_CLAIM_TTL", Duration::from_secs(120));
        // A claim that expires mid-send would let another replica send the same email. The
        // longest send is connecting (one SMTP_TIMEOUT) plus the transaction (four).
        if claim_ttl <= timeout * SEND_TIMEOUTS {
            env.invalid(
                "SEND_CLAIM_TTL",
                format!("must be more than {SEND_TIMEOUTS} times SMTP_TIMEOUT"),
            );
        }
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
        let template_dir: Option<PathBuf> = env.optional_opt("TEMPLATE_DIR");
        let source: Option<String> = env.optional_opt("TEMPLATE_SOURCE");
        // Only read by the kubernetes source; set from the downward API in the chart.
        let namespace: Option<String> = env.optional_opt("POD_NAMESPACE");
        let template_source = match (source.as_deref().map(str::to_ascii_lowercase), template_dir) {
            // Unset keeps the behaviour from before TEMPLATE_SOURCE existed.
            (None, None) => TemplateSource::Builtin,
            (None, Some(dir)) => TemplateSource::Directory(dir),
            (Some(s), None) if s == "builtin" => TemplateSource::Builtin,
            (Some(s), Some(dir)) if s == "directory" => TemplateSource::Directory(dir),
            (Some(s), None) if s == "kubernetes" => TemplateSource::Kubernetes { namespace },
            (Some(s), Some(_)) if s == "builtin" || s == "kubernetes" => {
                // Two sources at once would leave it unclear which template wins.
                env.invalid(
                    "TEMPLATE_DIR",
                    format!("must be empty with TEMPLATE_SOURCE={s}"),
                );
                TemplateSource::Builtin
            }
            (Some(s), None) if s == "directory" => {
                env.invalid("TEMPLATE_DIR", "required with TEMPLATE_SOURCE=directory");
                TemplateSource::Builtin
            }
            (Some(_), _) => {
                env.invalid(
                    "TEMPLATE_SOURCE",
                    "expected builtin, directory or kubernetes",
                );
                TemplateSource::Builtin
            }
        };
        let template_poll_interval = env.duration("TEMPLATE_POLL_INTERVAL", Duration::from_secs(5));
        let trust = QueueTrust::from_env(env, amqp_url.as_ref());

        Some(Config {
            admin_addr,
            amqp_url: amqp_url?,
            email_queue,
            prefetch,
            smtp: SmtpConfig {
                host: host?,
                port,
                tls,
                credentials,
                timeout,
                pool_size,
                nodelay,
            },
            redis: RedisConfig {
                url: redis_url?,
                key_prefix,
                sent_ttl,
                claim_ttl,
            },
            retry_delays,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load(Env::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    const MINIMAL: [(&str, &str); 4] = [
        ("AMQP_URL", "amqp://guest:guest@localhost:5672/%2f"),
        ("REDIS_URL", "redis://:sesame@127.0.0.1:6379"),
        ("SMTP_HOST", "smtp.example.com"),
        ("MAIL_FROM", "User Platform <no-reply@example.com>"),
    ];

    #[test]
    fn defaults() {
        let c = load(&MINIMAL).unwrap();
        assert_eq!(c.admin_addr.to_string(), "0.0.0.0:9091");
        assert_eq!(c.email_queue, "email_queue");
        assert_eq!(c.prefetch, 16);
        assert_eq!(c.smtp.tls, SmtpTls::StartTls);
        assert_eq!(c.smtp.port, 587);
        assert_eq!(c.smtp.timeout, Duration::from_secs(10));
        assert_eq!(c.smtp.pool_size, 4);
        assert!(c.smtp.credentials.is_none());
        assert_eq!(c.shutdown_timeout, Duration::from_secs(25));
        assert_eq!(c.mail_from.name.as_deref(), Some("User Platform"));
        assert_eq!(c.mail_from.email.to_string(), "no-reply@example.com");
        assert_eq!(c.redis.key_prefix, "up:");
        assert_eq!(c.redis.sent_ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.redis.claim_ttl, Duration::from_secs(120));
        assert_eq!(
            c.retry_delays,
            [10, 60, 600].map(Duration::from_secs).to_vec()
        );
        assert_eq!(c.template_source, TemplateSource::Builtin);
        assert_eq!(c.trust.own_user, "guest");
        assert_eq!(c.trust.publishers, ["guest"]);
        assert_eq!(c.trust.link_origins, ["http://localhost:8080"]);
        assert_eq!(c.trust.dead_letter_ttl, Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn publishers_always_include_the_own_user_and_origins_are_checked() {
        let mut vars = MINIMAL.to_vec();
        vars[0] = ("AMQP_URL", "amqp://mail:pw@localhost:5672/%2f");
        vars.push(("AMQP_PUBLISHER_USER", "user-service, other"));
        vars.push(("ALLOWED_LINK_ORIGINS", "https://app.example.com"));
        vars.push(("DEAD_LETTER_TTL", "2d"));
        let c = load(&vars).unwrap();
        assert_eq!(c.trust.own_user, "mail");
        assert_eq!(c.trust.publishers, ["user-service", "other", "mail"]);
        assert_eq!(c.trust.link_origins, ["https://app.example.com"]);
        assert_eq!(c.trust.dead_letter_ttl, Duration::from_secs(2 * 24 * 3600));
        vars.push(("ALLOWED_LINK_ORIGINS", "https://app.example.com/verify"));
        vars.push(("DEAD_LETTER_TTL", "0s"));
        let vars: std::collections::HashMap<_, _> = vars.into_iter().collect();
        let err = load(&vars.into_iter().collect::<Vec<_>>())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ALLOWED_LINK_ORIGINS"), "{err}");
        assert!(err.contains("DEAD_LETTER_TTL"), "{err}");
    }

    #[test]
    fn template_source_follows_template_dir_unless_set() {
        let mut vars = MINIMAL.to_vec();
        vars.push(("TEMPLATE_DIR", "/etc/mail-templates"));
        assert_eq!(
            load(&vars).unwrap().template_source,
            TemplateSource::Directory("/etc/mail-templates".into())
        );
        vars.push(("TEMPLATE_SOURCE", "kubernetes"));
        let err = load(&vars).unwrap_err().to_string();
        assert!(err.contains("TEMPLATE_DIR"), "{err}");

        let mut vars = MINIMAL.to_vec();
        vars.push(("TEMPLATE_SOURCE", "kubernetes"));
        vars.push(("POD_NAMESPACE", "mail"));
        assert_eq!(
            load(&vars).unwrap().template_source,
            TemplateSource::Kubernetes {
                namespace: Some("mail".into())
            }
        );
        vars.pop();
        vars.pop();
        vars.push(("TEMPLATE_SOURCE", "directory"));
        assert!(load(&vars).is_err(), "directory needs TEMPLATE_DIR");
        vars.pop();
        vars.push(("TEMPLATE_SOURCE", "configmap"));
        assert!(load(&vars).is_err());
    }

    #[test]
    fn retry_delays_parse_and_are_checked() {
        let mut vars = MINIMAL.to_vec();
        vars.push(("RETRY_DELAYS", "200ms, 1s"));
        assert_eq!(
            load(&vars).unwrap().retry_delays,
            [Duration::from_millis(200), Duration::from_secs(1)]
        );
        vars.pop();
        vars.push(("RETRY_DELAYS", "10s,soon"));
        assert!(load(&vars).is_err());
        vars.pop();
        vars.push(("RETRY_DELAYS", "0s"));
        assert!(load(&vars).is_err());
        vars.pop();
        vars.push(("SEND_CLAIM_TTL", "50s"));
        let err = load(&vars).unwrap_err().to_string();
        assert!(err.contains("SEND_CLAIM_TTL"), "{err}");
    }

    #[test]
    fn port_follows_tls_mode_unless_set() {
        let mut vars = MINIMAL.to_vec();
        vars.push(("SMTP_TLS", "none"));
        assert_eq!(load(&vars).unwrap().smtp.port, 25);
        vars.pop();
        vars.push(("SMTP_TLS", "TLS"));
        assert_eq!(load(&vars).unwrap().smtp.port, 465);
        vars.push(("SMTP_PORT", "2525"));
        assert_eq!(load(&vars).unwrap().smtp.port, 2525);
    }

    #[test]
    fn credentials_need_both_halves_and_stay_out_of_debug() {
        use secrecy::ExposeSecret;
        let mut vars = MINIMAL.to_vec();
        vars.push(("SMTP_USERNAME", "mailer"));
        let err = load(&vars).unwrap_err().to_string();
        assert!(
            err.contains("SMTP_USERNAME") && err.contains("SMTP_PASSWORD"),
            "{err}"
        );

        vars.push(("SMTP_PASSWORD", "hunter2 "));
        let c = load(&vars).unwrap();
        let creds = c.smtp.credentials.as_ref().unwrap();
        assert_eq!(
            creds.password.expose_secret(),
            "hunter2 ",
            "secrets are kept verbatim"
        );
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2")
                && !debug.contains("guest:guest")
                && !debug.contains("sesame"),
            "{debug}"
        );
    }

    #[test]
    fn reports_every_problem() {
        let err = load(&[
            ("SMTP_TLS", "ssl"),
            ("MAIL_FROM", "not a mailbox"),
            ("PREFETCH", "0"),
        ])
        .unwrap_err();
        let names: Vec<_> = err.0.iter().map(|e| e.name.as_str()).collect();
        for name in [
            "AMQP_URL",
            "REDIS_URL",
            "SMTP_HOST",
            "SMTP_TLS",
            "MAIL_FROM",
            "PREFETCH",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
}
