//! How a send fails, classified as worth retrying or not.

/// What to do about a failed send. The failure is kept as the source, so logs, spans and
/// dead-letter reasons carry the whole cause chain (`common::error_chain`).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying: the relay or the network may recover (4xx, timeouts, refused or reset
    /// connections).
    #[error("transient SMTP failure")]
    Transient(#[source] SmtpFailure),
    /// Retrying cannot help (5xx, an address the relay or lettre rejects).
    #[error("permanent SMTP failure")]
    Permanent(#[source] SmtpFailure),
}

/// What went wrong talking to the relay.
#[derive(Debug, thiserror::Error)]
pub enum SmtpFailure {
    /// The relay's answer to the transaction (MAIL, RCPT, DATA).
    #[error("the relay refused the transaction")]
    Transaction(#[source] lettre::transport::smtp::Error),
    /// Greeting, TLS, STARTTLS or authentication.
    #[error("SMTP session setup failed")]
    Session(#[source] lettre::transport::smtp::Error),
    #[error("SMTP connection failed")]
    Connect(#[source] std::io::Error),
    #[error("invalid recipient address")]
    Recipient(#[source] lettre::address::AddressError),
    #[error("could not build message")]
    Build(#[source] lettre::error::Error),
    /// A timeout or the pool closing: nothing underneath.
    #[error("{0}")]
    Local(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }

    pub(super) fn local(text: String) -> Self {
        SendError::Transient(SmtpFailure::Local(text))
    }
}

pub(super) fn classify(e: lettre::transport::smtp::Error) -> SendError {
    // Only an explicit 5xx is permanent. Anything else (4xx, I/O, TLS handshake) may go away,
    // and the retry schedule bounds the attempts.
    if e.is_permanent() {
        SendError::Permanent(SmtpFailure::Transaction(e))
    } else {
        SendError::Transient(SmtpFailure::Transaction(e))
    }
}

/// A failure to set up a session is never the message's fault, even a 5xx (a rejected login or
/// a relay refusing us): retrying gives an operator time to fix it instead of dead-lettering
/// every message.
pub(super) fn session(e: lettre::transport::smtp::Error) -> SendError {
    SendError::Transient(SmtpFailure::Session(e))
}
