//! The `EmailTemplate` controller (`TEMPLATE_SOURCE=kubernetes`): watches the resources in the
//! service's namespace and publishes the valid ones into the live template registry.
//!
//! A watcher rather than `kube::runtime::Controller`: the controller reconciles objects it
//! finds in its cache, so a deleted resource would never reach `reconcile` without a finalizer,
//! and a finalizer would make every replica (and an uninstalled chart) block deletions. The
//! watcher hands us deletions and, after every (re)list, the complete set, from which we drop
//! what was deleted while the watch was down.
//!
//! Every replica runs it and holds the same registry; no leader is needed to read and apply.
//! Status writes go through `desired_status`, which keeps the timestamps of a condition whose
//! meaning did not change, so all replicas compute byte-identical statuses and only the first
//! to see a change writes it: the others (and our own echo of that write) find nothing to do.
//! We chose that over a Lease-elected writer because it needs no extra RBAC, no election
//! traffic, and a status still gets written while only one replica is up.
//!
//! The parts: the reconcile rules as pure state (`overrides.rs`), the status they lead to
//! (`status.rs`), the reconcile of one resource (`reconcile.rs`), the watch loop (`run.rs`)
//! and the failures, labelled by stage (`error.rs`).

mod error;
mod overrides;
mod reconcile;
mod run;
mod status;

pub use self::error::Error;
pub use self::overrides::{Overrides, Verdict};
pub use self::reconcile::{Context, FIELD_MANAGER};
pub use self::run::RESYNC;
pub use self::status::desired_status;

#[cfg(test)]
mod tests;
