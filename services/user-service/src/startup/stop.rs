//! The stop after SIGTERM, in the order that loses nothing, all of it within SHUTDOWN_TIMEOUT:
//!
//! 1. the listeners stop accepting and the requests in flight finish (the readiness probe
//!    already says `draining`), and the background chores end;
//! 2. the work those requests left running after their answer ([`Shared::background`]);
//! 3. the outbox relay's round;
//! 4. the publishes of what the requests wrote, then the broker connection closes for good;
//! 5. the probe listener;
//! 6. MongoDB's driver: its server sessions ended, its connections closed.
//!
//! A step that misses the deadline is cut off; an email or event it wrote waits in the outbox
//! for another replica's relay. No driver may still be working when the runtime goes away:
//! lapin's I/O thread and MongoDB's session cleanup both panic when the runtime drops the task
//! they wait for, and the process then exits with a crash instead of 0.
//!
//! [`Shared::background`]: crate::state::Shared::background

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::state::AppState;

/// What runs until the stop.
pub(super) struct Running {
    pub server: JoinHandle<()>,
    pub admin_api: Option<JoinHandle<()>>,
    pub relay: JoinHandle<()>,
    pub chores: Vec<JoinHandle<()>>,
    pub admin_stop: oneshot::Sender<()>,
    pub admin_server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Runs the steps of the module's list, once `shutdown` has fired.
    pub(super) async fn stop(self, state: &AppState, timeout: Duration) {
        // SHUTDOWN_TIMEOUT bounds the whole stop, not each of its steps.
        let deadline = Instant::now() + timeout;
        for chore in self.chores {
            chore.abort();
            let _ = chore.await;
        }
        finish(self.server, deadline, "in-flight requests").await;
        if let Some(admin_api) = self.admin_api {
            finish(admin_api, deadline, "admin API requests").await;
        }
        crate::tasks::drain(&state.background, deadline, "work left by requests").await;
        finish(self.relay, deadline, "the outbox relay").await;
        state.mailer.close(deadline).await;
        let _ = self.admin_stop.send(());
        let _ = self.admin_server.await;
        state.users.close(deadline).await;
    }
}

/// Waits for a task of the stop (a server's in-flight requests, the outbox relay) until
/// `deadline`, then aborts it.
async fn finish(task: JoinHandle<()>, deadline: Instant, what: &str) {
    let abort = task.abort_handle();
    if tokio::time::timeout_at(deadline, task).await.is_err() {
        abort.abort();
        tracing::warn!("{what} did not finish before SHUTDOWN_TIMEOUT");
    }
}
