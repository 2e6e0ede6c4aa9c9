//! `user-service admin ...`: a small client of the admin API, for `kubectl exec` and runbooks.
//! It talks HTTP to `ADMIN_API_URL` (default: the local `ADMIN_API_ADDR`) with the token in
//! `ADMIN_API_TOKEN` or, inside the service's pod, one of its `ADMIN_API_TOKENS` (`--as NAME`),
//! and prints the API's JSON answers (a listing with `--all`: one user per
//! line, following the cursor to the end). Exit status: 0 done, 1 the API refused or failed,
//! 2 a usage or configuration error.

pub mod args;
pub mod client;

pub use client::run;
