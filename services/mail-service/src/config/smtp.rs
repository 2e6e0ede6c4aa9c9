//! The SMTP relay settings (`SMTP_*`).

use std::str::FromStr;
use std::time::Duration;

use common::config::Env;
use secrecy::SecretString;

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
    /// `SMTP_CA_FILE`: PEM certificates trusted besides the built-in roots (a relay whose
    /// certificate a private CA signed).
    pub ca: Option<Vec<u8>>,
    /// Bounds connecting; a whole transaction gets `SEND_TIMEOUTS - 1` times this.
    pub timeout: Duration,
    /// Most connections kept open to the relay at once.
    pub pool_size: u32,
    /// Disable Nagle's algorithm on SMTP connections. Only ever turned off to measure what it
    /// costs (see `bench/`).
    pub nodelay: bool,
}

impl SmtpConfig {
    /// Reads the `SMTP_*` variables; `None` when `SMTP_HOST` is missing (recorded in `env`).
    /// The timeout comes back either way: the claim TTL is checked against it.
    pub(crate) fn from_env(env: &mut Env) -> (Option<SmtpConfig>, Duration) {
        let host: Option<String> = env.required("SMTP_HOST");
        let tls = env.optional("SMTP_TLS", SmtpTls::StartTls);
        let port = env.optional("SMTP_PORT", tls.default_port());
        let credentials = credentials(env);
        let ca = common::pem::optional_certificates(env, "SMTP_CA_FILE");
        if ca.is_some() && tls == SmtpTls::None {
            env.invalid("SMTP_CA_FILE", "is set but SMTP_TLS is none");
        }
        let timeout = env.duration("SMTP_TIMEOUT", Duration::from_secs(10));
        let pool_size: u32 = env.optional("SMTP_POOL_SIZE", 4);
        if pool_size == 0 {
            env.invalid("SMTP_POOL_SIZE", "must be at least 1");
        }
        let nodelay = env.flag("SMTP_TCP_NODELAY", true);
        if let Some(host) = host.as_deref()
            && tls == SmtpTls::None
            && credentials.is_some()
            && !is_loopback(host)
        {
            env.invalid(
                "SMTP_TLS",
                "is none, which would send SMTP_USERNAME/SMTP_PASSWORD in clear text to a relay \
                 that is not on loopback: use starttls or tls",
            );
        }
        let config = host.map(|host| SmtpConfig {
            host,
            port,
            tls,
            credentials,
            ca,
            timeout,
            pool_size,
            nodelay,
        });
        (config, timeout)
    }
}

/// `SMTP_USERNAME` and `SMTP_PASSWORD`: both or neither.
fn credentials(env: &mut Env) -> Option<SmtpCredentials> {
    let username: Option<String> = env.optional_opt("SMTP_USERNAME");
    let password = env.secret("SMTP_PASSWORD");
    match (username, password) {
        (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
        (None, None) => None,
        _ => {
            env.invalid(
                "SMTP_USERNAME/SMTP_PASSWORD",
                "set both SMTP_USERNAME and SMTP_PASSWORD, or neither",
            );
            None
        }
    }
}

/// A relay on this host (a sidecar, a local MTA): the only place plain SMTP with credentials
/// does not cross a network.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
