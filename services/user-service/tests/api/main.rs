//! Integration tests: the real application on port 0 against the real MongoDB-compatible
//! server, Redis and RabbitMQ (see scripts/services.sh), a fresh database, key prefix and queue
//! per test.

mod e2e;
mod helpers;
mod outbox;
mod readiness;
mod registration;
mod sessions;
