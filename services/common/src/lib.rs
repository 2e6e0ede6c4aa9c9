//! What the user service and the mail service share, and nothing more: the email message
//! contract that travels between them, the AMQP topology both must declare identically, the admin
//! server (`/healthz`, `/readyz`, `/metrics`), and configuration, telemetry and shutdown helpers.

pub mod admin;
pub mod amqp;
pub mod config;
pub mod email;
pub mod shutdown;
pub mod telemetry;
