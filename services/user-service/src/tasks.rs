//! Tasks the stop waits for: what requests leave running after their answer, tracked so that
//! SHUTDOWN_TIMEOUT can let them finish before the drivers close.

use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// Takes no more tasks into `tracker` for waiting (a later one still runs, unawaited) and
/// waits for those in it until `deadline`; warns, naming `what`, when some still run then.
pub async fn drain(tracker: &TaskTracker, deadline: Instant, what: &str) {
    tracker.close();
    if tokio::time::timeout_at(deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            running = tracker.len(),
            "{what} still running at SHUTDOWN_TIMEOUT"
        );
    }
}
