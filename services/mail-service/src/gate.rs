//! What a message must satisfy before anything is rendered or sent: it was published by a
//! trusted broker user, its link points to an allowed origin, and that link has not expired.
//! A message failing any of these is dead-lettered with the [`Refusal`]'s reason.
//! See `docs/mail-delivery.md` ("Who may publish").

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::config::Env;
use common::email::EmailMessage;
use lapin::BasicProperties;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

/// The `data` field holding the link a mail carries.
pub const ACTION_URL: &str = "action_url";

/// Why a message is refused; each is permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `user_id`, or one that is not a configured publisher.
    UntrustedPublisher(Option<String>),
    /// `action_url` is not a URL on an allowed origin.
    LinkOrigin,
    /// The link's lifetime (`expires_at`) has passed.
    Expired(DateTime<Utc>),
}

impl Refusal {
    /// The `reason` label of `mail_messages_refused_total` and the start of `x-death-reason`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UntrustedPublisher(_) => "untrusted_publisher",
            Refusal::LinkOrigin => "link_origin",
            Refusal::Expired(_) => "expired",
        }
    }

    pub const CODES: [&'static str; 3] = ["untrusted_publisher", "link_origin", "expired"];

    /// For the dead-letter header: the code, then details that hold no message data (a broker
    /// user name is not a secret; the URL may hold a token and is never quoted).
    pub fn reason(&self) -> String {
        match self {
            Refusal::UntrustedPublisher(None) => format!("{}: no user_id", self.code()),
            Refusal::UntrustedPublisher(Some(user)) => {
                format!("{}: user_id {user:?} is not a publisher", self.code())
            }
            Refusal::LinkOrigin => {
                format!("{}: {ACTION_URL} outside the allowed origins", self.code())
            }
            Refusal::Expired(at) => format!("{}: link expired at {}", self.code(), at.to_rfc3339()),
        }
    }
}

/// What the consumer checks on every message before sending .
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTrust {
    /// This service's own broker user (from `AMQP_URL`): set as `user_id` on the copies it
    /// moves to retry and dead-letter queues, and always accepted.
    pub own_user: String,
    /// Broker users whose messages are accepted (`AMQP_PUBLISHER_USER`), own user included.
    pub publishers: Vec<String>,
    /// Origins `action_url` may point to (`ALLOWED_LINK_ORIGINS`).
    pub link_origins: Vec<String>,
    /// How long a message the service dead-letters stays in the dead-letter queue
    /// (`DEAD_LETTER_TTL`, per-message `expiration`).
    pub dead_letter_ttl: Duration,
}

/// The user service's default page origin (`VERIFY_EMAIL_URL`, `PASSWORD_RESET_URL`).
pub const DEFAULT_LINK_ORIGINS: &str = "http://localhost:8080";

impl QueueTrust {
    pub(crate) fn from_env(env: &mut Env, amqp_url: Option<&SecretString>) -> QueueTrust {
        let own_user = amqp_url.and_then(|url| common::amqp::url_user(url.expose_secret()));
        if amqp_url.is_some() && own_user.is_none() {
            env.invalid("AMQP_URL", "is not a valid amqp:// or amqps:// URL");
        }
        let own_user = own_user.unwrap_or_default();
        let configured: Option<String> = env.optional_opt("AMQP_PUBLISHER_USER");
        let mut publishers: Vec<String> = configured
            .as_deref()
            .unwrap_or(&own_user)
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        if !publishers.contains(&own_user) {
            publishers.push(own_user.clone());
        }
        let origins: Option<String> = env.optional_opt("ALLOWED_LINK_ORIGINS");
        let link_origins = match parse_origins(origins.as_deref().unwrap_or(DEFAULT_LINK_ORIGINS)) {
            Ok(origins) => origins,
            Err(e) => {
                env.invalid("ALLOWED_LINK_ORIGINS", e);
                Vec::new()
            }
        };
        let dead_letter_ttl = env.duration("DEAD_LETTER_TTL", Duration::from_secs(7 * 24 * 3600));
        // RabbitMQ's `expiration` is whole milliseconds; 0 would drop the copy at once.
        if dead_letter_ttl.as_millis() == 0 || dead_letter_ttl.as_millis() > u128::from(u32::MAX) {
            env.invalid("DEAD_LETTER_TTL", "must be between 1ms and 49 days");
        }
        QueueTrust {
            own_user,
            publishers,
            link_origins,
            dead_letter_ttl,
        }
    }
}

/// The checks, configured once.
#[derive(Debug, Clone)]
pub struct Gate {
    publishers: Vec<String>,
    origins: Vec<String>,
}

impl Gate {
    pub fn new(trust: &QueueTrust) -> Self {
        Self {
            publishers: trust.publishers.clone(),
            origins: trust.link_origins.clone(),
        }
    }

    /// RabbitMQ refuses a publish whose `user_id` differs from the connection's user, so a
    /// present `user_id` names who really published (unless that user has the `impersonator`
    /// tag, which no platform user may have).
    pub fn check_publisher(&self, props: &BasicProperties) -> Result<(), Refusal> {
        match props.user_id() {
            Some(user) if self.publishers.iter().any(|p| p == user.as_str()) => Ok(()),
            Some(user) => Err(Refusal::UntrustedPublisher(Some(user.to_string()))),
            None => Err(Refusal::UntrustedPublisher(None)),
        }
    }

    /// The link's origin, then its lifetime.
    pub fn check_message(&self, message: &EmailMessage, now: DateTime<Utc>) -> Result<(), Refusal> {
        if let Some(url) = message.data.get(ACTION_URL) {
            let origin = match url {
                Value::String(s) => origin_of(s),
                _ => None,
            };
            if !origin.is_some_and(|o| self.origins.contains(&o)) {
                return Err(Refusal::LinkOrigin);
            }
        }
        match message.expires_at {
            Some(at) if at <= now => Err(Refusal::Expired(at)),
            _ => Ok(()),
        }
    }
}

/// `scheme://host[:port]` of an http(s) URL, default ports left out, host lower-cased and
/// IDNA-encoded; `None` for anything else.
pub fn origin_of(s: &str) -> Option<String> {
    let url = Url::parse(s).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// Parses `ALLOWED_LINK_ORIGINS`: comma-separated origins (`https://app.example.com`,
/// normalised like the links: lower case, default port left out).
pub fn parse_origins(s: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for o in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let bare = Url::parse(o).is_ok_and(|u| {
            // A path, query or user info would suggest they are checked too; they are not.
            u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && u.username().is_empty()
        });
        match origin_of(o) {
            Some(origin) if bare => origins.push(origin),
            _ => {
                return Err(format!(
                    "{o:?} is not an origin such as https://app.example.com"
                ));
            }
        }
    }
    if origins.is_empty() {
        return Err("at least one origin is required".into());
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::email::{EmailKind, Recipient};

    fn gate() -> Gate {
        Gate::new(&QueueTrust {
            own_user: "mail".into(),
            publishers: vec!["user-svc".into()],
            link_origins: parse_origins("https://app.example.com, http://localhost:8080").unwrap(),
            dead_letter_ttl: Duration::from_secs(60),
        })
    }

    fn message(url: &str) -> EmailMessage {
        EmailMessage::new(
            Recipient {
                email: "a@example.com".into(),
                name: None,
            },
            EmailKind::VerifyEmail,
            "en",
        )
        .with_data(ACTION_URL, url)
    }

    #[test]
    fn publisher_must_be_named_and_listed() {
        let g = gate();
        let by = |u: &str| BasicProperties::default().with_user_id(u.into());
        assert!(g.check_publisher(&by("user-svc")).is_ok());
        assert_eq!(
            g.check_publisher(&by("intruder")),
            Err(Refusal::UntrustedPublisher(Some("intruder".into())))
        );
        let none = g.check_publisher(&BasicProperties::default()).unwrap_err();
        assert!(none.reason().starts_with("untrusted_publisher"));
    }

    #[test]
    fn links_must_stay_on_allowed_origins() {
        let g = gate();
        let now = Utc::now();
        for ok in [
            "https://app.example.com/verify?token=x",
            "https://APP.example.com:443/verify",
            "http://localhost:8080/reset-password?token=y",
        ] {
            assert!(g.check_message(&message(ok), now).is_ok(), "{ok}");
        }
        for bad in [
            "https://app.example.com.evil.test/verify",
            "https://app.example.com@evil.test/verify",
            "http://app.example.com/verify",
            "http://localhost:8081/",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert_eq!(
                g.check_message(&message(bad), now),
                Err(Refusal::LinkOrigin),
                "{bad}"
            );
        }
        let mut m = message("x");
        m.data.insert(ACTION_URL.into(), Value::from(3));
        assert_eq!(g.check_message(&m, now), Err(Refusal::LinkOrigin));
        m.data.remove(ACTION_URL);
        assert!(
            g.check_message(&m, now).is_ok(),
            "mails without a link pass"
        );
    }

    #[test]
    fn expired_links_are_refused() {
        let g = gate();
        let now = Utc::now();
        let m = message("https://app.example.com/v").expires_at(now - chrono::Duration::seconds(1));
        let refusal = g.check_message(&m, now).unwrap_err();
        assert!(refusal.reason().starts_with("expired: link expired at"));
        let m = message("https://app.example.com/v").expires_at(now + chrono::Duration::hours(1));
        assert!(g.check_message(&m, now).is_ok());
    }

    #[test]
    fn origins_must_be_bare() {
        assert_eq!(
            parse_origins("https://App.Example.com/, https://b.example.com:443").unwrap(),
            ["https://app.example.com", "https://b.example.com"]
        );
        assert!(parse_origins("https://user@app.example.com").is_err());
        assert!(parse_origins("https://app.example.com/verify").is_err());
        assert!(parse_origins("ftp://files.example.com").is_err());
        assert!(parse_origins(" , ").is_err());
    }
}
