//! The user service: registration, email verification, sessions and profile.

pub mod config;
pub mod crypto;
pub mod domain;
pub mod events;
pub mod http;
pub mod mailer;
pub mod metrics;
pub mod net;
pub mod pwned;
pub mod startup;
pub mod store;
