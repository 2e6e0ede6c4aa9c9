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
pub mod shutdown;
#[cfg(feature = "runtime")]
pub mod telemetry;
