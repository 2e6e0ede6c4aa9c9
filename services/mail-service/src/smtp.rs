//! Building and sending messages over SMTP.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::message::header::{ContentType, MessageId};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};
use uuid::Uuid;

use crate::config::{SEND_TIMEOUTS, SmtpConfig, SmtpTls};
use crate::templates::Rendered;

/// Domain part of our Message-IDs. Fixed rather than the host name so that redelivering a
/// message from another replica produces the same ID, letting receivers deduplicate.
const MESSAGE_ID_DOMAIN: &str = "user-platform";

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

    fn local(text: String) -> Self {
        SendError::Transient(SmtpFailure::Local(text))
    }
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
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
fn session(e: lettre::transport::smtp::Error) -> SendError {
    SendError::Transient(SmtpFailure::Session(e))
}

/// The SMTP connection pool.
///
/// Our own rather than lettre's: lettre 0.11 leaves Nagle's algorithm on, so the last segment
/// of every message (the final `.`) waits for the server's delayed ACK, about 40 ms on Linux,
/// capping one connection at ~25 emails/s. lettre exposes no socket option and no connector
/// hook in its pool, but does accept an already connected stream, which we open ourselves with
/// `TCP_NODELAY`.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    host: String,
    port: u16,
    tls: SmtpTls,
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    nodelay: bool,
    from: Mailbox,
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection the pool may have open.
    permits: Semaphore,
}

struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

/// Idle connections older than this are closed rather than reused: relays drop idle clients
/// (Postfix after 300 s, some providers after 30 s), and a dead one would fail a send.
const IDLE_MAX: Duration = Duration::from_secs(25);
/// Connections idle longer than this are checked with NOOP before reuse; under load they
/// never are, so the check costs nothing where throughput matters.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(1);

impl Mailer {
    pub fn new(config: &SmtpConfig, from: Mailbox) -> anyhow::Result<Self> {
        let tls_parameters = match config.tls {
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Tls => Some(TlsParameters::new(config.host.clone())?),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                host: config.host.clone(),
                port: config.port,
                tls: config.tls,
                tls_parameters,
                credentials: config.credentials.as_ref().map(|c| {
                    Credentials::new(c.username.clone(), c.password.expose_secret().to_owned())
                }),
                hello: ClientId::default(),
                timeout: config.timeout,
                nodelay: config.nodelay,
                from,
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(config.pool_size as usize),
            }),
        })
    }

    /// Waits for a free connection slot. Callers that claim the message in Redis do so only
    /// once they hold a slot, so a claim's lifetime covers one send and never the wait for the
    /// pool (which, with `PREFETCH` above `SMTP_POOL_SIZE` and a slow relay, could outlast it).
    pub async fn slot(&self) -> Result<Slot<'_>, SendError> {
        let permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::local("SMTP pool closed".into()))?;
        Ok(Slot {
            inner: &self.inner,
            _permit: permit,
        })
    }

    /// Opens (and closes) a connection to the relay: for the readiness report.
    pub async fn test_connection(&self) -> Result<(), String> {
        let mut connection = self
            .inner
            .connect()
            .await
            .map_err(|e| common::error_chain(&e))?;
        let _ = connection.quit().await;
        Ok(())
    }
}

/// The right to use one pooled connection for one send.
pub struct Slot<'a> {
    inner: &'a Inner,
    _permit: SemaphorePermit<'a>,
}

impl Slot<'_> {
    /// Sends one email, within at most `SEND_TIMEOUTS` × `SMTP_TIMEOUT`.
    pub async fn send(
        self,
        message_id: Uuid,
        to_email: &str,
        to_name: Option<&str>,
        rendered: &Rendered,
    ) -> Result<(), SendError> {
        let inner = self.inner;
        let message = build_message(&inner.from, message_id, to_email, to_name, rendered)?;
        let envelope = message.envelope().clone();
        let body = message.formatted();
        // Reusing (with its NOOP check) or opening a connection shares one SMTP_TIMEOUT.
        let mut connection = tokio::time::timeout(inner.timeout, async {
            match inner.checkout().await {
                Some(c) => Ok(c),
                None => inner.connect_untimed().await,
            }
        })
        .await
        .map_err(|_| inner.connect_timed_out())??;
        // Bounds the whole transaction (MAIL, RCPT, DATA, body, final dot): lettre applies
        // its timeout to connecting only.
        let deadline = inner.timeout * (SEND_TIMEOUTS - 1);
        match tokio::time::timeout(deadline, connection.send(&envelope, &body)).await {
            Ok(Ok(_)) => {
                inner.checkin(connection);
                Ok(())
            }
            // lettre has already aborted the connection; it is dropped here.
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(SendError::local(format!(
                "SMTP transaction timed out after {deadline:?}"
            ))),
        }
    }
}

impl Inner {
    async fn checkout(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let idle = self.idle.lock().expect("pool lock").pop()?;
            let age = idle.since.elapsed();
            if age > IDLE_MAX {
                continue;
            }
            let mut connection = idle.connection;
            if age <= IDLE_CHECK_AFTER {
                return Some(connection);
            }
            if let Ok(true) = tokio::time::timeout(self.timeout, connection.test_connected()).await
            {
                return Some(connection);
            }
        }
    }

    fn checkin(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        self.idle.lock().expect("pool lock").push(Idle {
            connection,
            since: Instant::now(),
        });
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        tokio::time::timeout(self.timeout, self.connect_untimed())
            .await
            .map_err(|_| self.connect_timed_out())?
    }

    fn connect_timed_out(&self) -> SendError {
        SendError::local(format!(
            "connecting to the SMTP relay timed out after {:?}",
            self.timeout
        ))
    }

    async fn connect_untimed(&self) -> Result<AsyncSmtpConnection, SendError> {
        let io = |e: std::io::Error| SendError::Transient(SmtpFailure::Connect(e));
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io)?;
        tcp.set_nodelay(self.nodelay).map_err(io)?;
        let stream: Box<dyn AsyncTokioStream> = match (&self.tls, &self.tls_parameters) {
            (SmtpTls::Tls, Some(parameters)) => {
                Box::new(tls::wrap(tcp, parameters.clone()).await.map_err(session)?)
            }
            _ => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(session)?;
        if let (SmtpTls::StartTls, Some(parameters)) = (&self.tls, &self.tls_parameters) {
            connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(session)?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(session)?;
        }
        Ok(connection)
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
        .map_err(|e| SendError::Permanent(SmtpFailure::Recipient(e)))?;
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
        .map_err(|e| SendError::Permanent(SmtpFailure::Build(e)))
}

/// Implicit TLS (SMTPS) on a socket we opened, using lettre's own TLS setup.
mod tls {
    // lettre's network stream is the only public way to reuse its TLS configuration (trust
    // roots, verification) on our socket; it is deprecated as "not meant to be public" but
    // part of the 0.11 API.
    #![allow(deprecated)]

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_io::{AsyncRead as FRead, AsyncWrite as FWrite};
    use lettre::transport::smtp::client::{AsyncNetworkStream, AsyncTokioStream, TlsParameters};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::TcpStream;

    /// lettre's TLS stream speaks the `futures` I/O traits; its connection takes `tokio` ones.
    #[derive(Debug)]
    pub struct TlsStream(AsyncNetworkStream);

    pub async fn wrap(
        tcp: TcpStream,
        parameters: TlsParameters,
    ) -> Result<TlsStream, lettre::transport::smtp::Error> {
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(parameters).await?;
        Ok(TlsStream(stream))
    }

    impl AsyncTokioStream for TlsStream {
        fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
            self.0.peer_addr()
        }
    }

    impl AsyncRead for TlsStream {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let unfilled = buf.initialize_unfilled();
            match Pin::new(&mut self.0).poll_read(cx, unfilled) {
                Poll::Ready(Ok(n)) => {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        }
    }

    impl AsyncWrite for TlsStream {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_close(cx)
        }
    }
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
