//! A small SMTP server over real TCP, in the test process, for what the shared capture sink
//! cannot do: go down and come back on the same port, switch between 4xx and 5xx on demand, and
//! count exactly what it accepted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Accepted messages: recipient → raw messages.
type Mailbox = Arc<Mutex<HashMap<String, Vec<String>>>>;

pub struct TestSmtp {
    pub port: u16,
    /// 0: accept; otherwise the code every RCPT gets.
    rcpt_reply: Arc<AtomicU16>,
    /// Milliseconds to wait before accepting a message body, to slow a burst down.
    data_delay_ms: Arc<AtomicU64>,
    mailbox: Mailbox,
    tasks: Option<JoinSet<()>>,
    /// Implicit TLS (SMTPS) with this acceptor's certificate; plain SMTP without.
    tls: Option<TlsAcceptor>,
}

impl TestSmtp {
    /// A port nothing listens on yet: the relay is "down" until [`TestSmtp::start`].
    pub async fn reserve() -> TestSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        TestSmtp {
            port,
            rcpt_reply: Arc::default(),
            data_delay_ms: Arc::default(),
            mailbox: Arc::default(),
            tasks: None,
            tls: None,
        }
    }

    /// A relay speaking implicit TLS with `acceptor`'s certificate.
    pub async fn running_tls(acceptor: TlsAcceptor) -> TestSmtp {
        let mut smtp = Self::reserve().await;
        smtp.tls = Some(acceptor);
        smtp.start().await;
        smtp
    }

    pub async fn running() -> TestSmtp {
        let mut smtp = Self::reserve().await;
        smtp.start().await;
        smtp
    }

    pub async fn start(&mut self) {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .await
            .unwrap();
        let mut tasks = JoinSet::new();
        let reply = self.rcpt_reply.clone();
        let delay = self.data_delay_ms.clone();
        let mailbox = self.mailbox.clone();
        let tls = self.tls.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let _ = stream.set_nodelay(true);
                let (reply, delay, mailbox) = (reply.clone(), delay.clone(), mailbox.clone());
                match tls.clone() {
                    None => connections.spawn(session(stream, reply, delay, mailbox)),
                    Some(acceptor) => connections.spawn(async move {
                        // A client that refuses our certificate ends the handshake.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            session(stream, reply, delay, mailbox).await;
                        }
                    }),
                };
            }
        });
        self.tasks = Some(tasks);
    }

    /// Stops listening and drops every open connection, like a relay going away.
    pub async fn stop(&mut self) {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
    }

    /// Answer every RCPT with `code` (e.g. 451 or 550); 0 to accept again.
    pub fn reply_to_rcpt(&self, code: u16) {
        self.rcpt_reply.store(code, Ordering::SeqCst);
    }

    pub fn delay_data(&self, delay: Duration) {
        self.data_delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn count_for(&self, recipient: &str) -> usize {
        self.mailbox
            .lock()
            .unwrap()
            .get(recipient)
            .map_or(0, Vec::len)
    }

    pub fn messages_for(&self, recipient: &str) -> Vec<String> {
        self.mailbox
            .lock()
            .unwrap()
            .get(recipient)
            .cloned()
            .unwrap_or_default()
    }

    /// Every recipient with its number of messages.
    pub fn counts(&self) -> HashMap<String, usize> {
        self.mailbox
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    pub fn total(&self) -> usize {
        self.mailbox.lock().unwrap().values().map(Vec::len).sum()
    }
}

async fn session<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    rcpt_reply: Arc<AtomicU16>,
    data_delay_ms: Arc<AtomicU64>,
    mailbox: Mailbox,
) {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 test-smtp ready\r\n").await.is_err() {
        return;
    }
    let mut recipients: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: String = if command.starts_with("EHLO") {
            "250-test-smtp\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            "250 OK\r\n".into()
        } else if command.starts_with("MAIL FROM") || command.starts_with("RSET") {
            recipients.clear();
            "250 OK\r\n".into()
        } else if command.starts_with("RCPT TO") {
            match rcpt_reply.load(Ordering::SeqCst) {
                0 => {
                    let address = line.trim_end()[8..]
                        .trim()
                        .trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    recipients.push(address);
                    "250 OK\r\n".into()
                }
                code if code >= 500 => format!("{code} 5.1.1 Mailbox unavailable\r\n"),
                code => format!("{code} 4.3.0 Try again later\r\n"),
            }
        } else if command == "DATA" {
            if write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut body = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                body.push_str(&line);
            }
            let delay = data_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut boxes = mailbox.lock().unwrap();
            for r in recipients.drain(..) {
                boxes.entry(r).or_default().push(body.clone());
            }
            drop(boxes);
            "250 2.0.0 Accepted\r\n".into()
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 Bye\r\n").await;
            return;
        } else {
            "502 Command not implemented\r\n".into()
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
