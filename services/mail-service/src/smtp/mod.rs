//! Building and sending messages over SMTP: the connection pool and its sends here, the
//! failures (`error.rs`), the MIME message (`message.rs`) and implicit TLS (`tls.rs`).

mod error;
mod message;
mod tls;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};
use uuid::Uuid;

use crate::config::{SEND_TIMEOUTS, SmtpConfig, SmtpTls};
use crate::templates::Rendered;

pub use self::error::{SendError, SmtpFailure};
use self::error::{classify, session};
pub use self::message::build_message;

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

/// Verification of the relay's certificate: the built-in roots, plus `SMTP_CA_FILE`'s.
fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(pem) = &config.ca {
        builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
    }
    builder.build_rustls()
}

impl Mailer {
    pub fn new(config: &SmtpConfig, from: Mailbox) -> anyhow::Result<Self> {
        let tls_parameters = match config.tls {
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Tls => Some(tls_parameters(config)?),
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
