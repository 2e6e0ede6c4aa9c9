//! The user service: registration, email verification, sessions and profile.

pub mod account;
pub mod admin;
pub mod cli;
pub mod config;
pub mod crypto;
/// The values parsed at the edge, in a crate of their own (no I/O; fuzzed on its own).
pub use user_domain as domain;
pub mod events;
pub mod http;
pub mod mailer;
pub mod metrics;
pub mod net;
pub mod pages;
pub mod passkey_rp;
pub mod proxy_check;
pub mod pwned;
pub mod secret_box;
pub mod startup;
pub mod state;
pub mod store;
pub mod tasks;
pub mod totp;
