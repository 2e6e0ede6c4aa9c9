//! The queue consumer: a supervisor that keeps an AMQP session alive (`session.rs`), the
//! handling of one delivery (decode, render, claim, send, record; `delivery.rs`), and where it
//! goes afterwards: acked, or moved to a retry or the dead-letter queue (`routing.rs`). The
//! whole flow is described in `docs/mail-delivery.md`.

mod delivery;
mod routing;
mod session;

pub use self::delivery::Handler;
pub use self::routing::RetryRouting;
pub use self::session::{ConsumerSettings, run};
