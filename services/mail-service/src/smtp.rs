//! Building and sending messages over SMTP.

use lettre::message::header::{ContentType, MessageId};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::config::{SmtpConfig, SmtpTls};
use crate::templates::Rendered;

/// Domain part of our Message-IDs. Fixed rather than the host name so that redelivering a
/// message from another replica produces the same ID, letting receivers deduplicate.
const MESSAGE_ID_DOMAIN: &str = "user-platform";

/// What to do about a failed send.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the relay or the network may recover (4xx, timeouts, refused or reset
    /// connections).
    #[error("transient SMTP failure: {0}")]
    Transient(String),
    /// Retrying cannot help (5xx, an address the relay or lettre rejects).
    #[error("permanent SMTP failure: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    // Only an explicit 5xx is permanent. Anything else (4xx, I/O, TLS handshake, pool
    // shutdown) may go away, and RabbitMQ's delivery limit bounds the retries anyway.
    let text = e.to_string();
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &SmtpConfig, from: Mailbox) -> anyhow::Result<Self> {
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size));
        if let Some(c) = &config.credentials {
            builder = builder.credentials(Credentials::new(c.username.clone(), c.password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Sends one email. `message_id` becomes its Message-ID, stable across retries.
    pub async fn send(
        &self,
        message_id: Uuid,
        to_email: &str,
        to_name: Option<&str>,
        rendered: &Rendered,
    ) -> Result<(), SendError> {
        let message = build_message(&self.from, message_id, to_email, to_name, rendered)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Opens (and closes) a connection to the relay: for the readiness report.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("relay did not answer NOOP".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The MIME message: From, To, Subject, Message-ID and a text/HTML alternative.
pub fn build_message(
    from: &Mailbox,
    message_id: Uuid,
    to_email: &str,
    to_name: Option<&str>,
    rendered: &Rendered,
) -> Result<Message, SendError> {
    let address = to_email
        .parse()
        .map_err(|e| SendError::Permanent(format!("invalid recipient address: {e}")))?;
    let to = Mailbox::new(to_name.map(str::to_owned), address);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .header(MessageId::from(format!(
            "<{message_id}@{MESSAGE_ID_DOMAIN}>"
        )))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html.clone()),
                ),
        )
        .map_err(|e| SendError::Permanent(format!("could not build message: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            subject: "Hi".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        }
    }

    #[test]
    fn message_carries_a_stable_message_id_and_both_bodies() {
        let from: Mailbox = "Platform <no-reply@example.com>".parse().unwrap();
        let id = Uuid::now_v7();
        let m = build_message(&from, id, "ada@example.com", Some("Ada"), &rendered()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains(&format!("Message-ID: <{id}@user-platform>")),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("To: Ada <ada@example.com>"), "{raw}");
    }

    #[test]
    fn a_bad_address_is_permanent() {
        let from: Mailbox = "no-reply@example.com".parse().unwrap();
        let err = build_message(&from, Uuid::nil(), "a b@@x", None, &rendered()).unwrap_err();
        assert!(err.is_permanent());
    }
}
