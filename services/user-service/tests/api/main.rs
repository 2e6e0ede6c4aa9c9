//! Integration tests: the real application on port 0 against the real MongoDB-compatible
//! server, Redis and RabbitMQ (see scripts/services.sh), a fresh database, key prefix and queue
//! per test.

mod account;
mod admin;
mod admin_access;
mod admin_audit;
mod admin_changes;
mod admin_cli;
mod admin_openapi;
mod admin_pagination;
mod breached_passwords;
mod browser;
mod disabled_links;
mod e2e;
mod forward_auth;
mod forward_auth_pages;
mod generated_client;
mod hardening;
mod hardening_listeners;
mod helpers;
mod issue28_admin;
mod issue28_cookies;
mod logs;
mod mfa;
mod mfa_at_rest;
mod mfa_stamps;
mod nginx;
mod openapi;
mod openapi_contract;
mod otlp;
mod outbox;
mod page_client;
mod pages;
mod password_resets;
mod profile_events;
mod proxy;
mod queue_trust;
mod rate_limits;
mod readiness;
mod redis_durability;
mod registration;
mod security;
mod session_limits;
mod sessions;
mod timeouts;
mod traces;
