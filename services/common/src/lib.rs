//! What the user service and the mail service share, and nothing more: the email message
//! contract that travels between them, the AMQP topology both must declare identically, the admin
//! server (`/healthz`, `/readyz`, `/metrics`), and configuration, telemetry and shutdown helpers.

#[cfg(feature = "runtime")]
pub mod admin;
#[cfg(feature = "runtime")]
pub mod amqp;
pub mod config;
pub mod email;
#[cfg(feature = "runtime")]
pub mod pem;
#[cfg(feature = "runtime")]
pub mod redis;
#[cfg(feature = "runtime")]
pub mod server;
#[cfg(feature = "runtime")]
pub mod shutdown;
#[cfg(feature = "runtime")]
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

/// An error with its whole cause chain (`outer: cause: root cause`), for a log field, a span
/// event or a dead-letter reason.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
