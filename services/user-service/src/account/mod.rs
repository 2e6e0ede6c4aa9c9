//! The account workflows: everything a request asks of an account, outside HTTP. Handlers
//! parse their input into the typed values these take, call one workflow and map its result;
//! the workflows apply the rules (rate limits, password policy, the security stamp, what is
//! mailed to whom) and use the stores for every read and write.

pub mod access;
mod error;
pub mod limits;
pub mod login;
pub(crate) mod messages;
pub mod mfa;
pub mod mfa_login;
mod new_session;
pub mod owner;
pub mod passkey_ceremony;
pub mod passkey_login;
pub mod passkeys;
pub mod passwords;
pub mod profile;
pub mod recovery_codes;
pub mod registration;
pub mod reset;
pub mod second_factor;
pub mod sign_out;
pub(crate) mod stamps;
pub mod verification;

pub use error::{AccountError, FieldError};
pub use limits::Caller;
