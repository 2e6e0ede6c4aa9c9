//! The mail service: consumes `email_queue`, renders the templates and delivers over SMTP.

pub mod config;
pub mod consumer;
pub mod controller;
pub mod crd;
pub mod gate;
pub mod idempotency;
pub mod metrics;
pub mod smtp;
pub mod startup;
pub mod templates;

pub use config::Config;
pub use startup::Application;
