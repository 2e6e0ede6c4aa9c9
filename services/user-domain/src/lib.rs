//! Values parsed at the edge: once a handler holds an `Email` or a `Password`, it is valid.

mod display_name;
mod email;
mod locale;
mod password;

pub use display_name::DisplayName;
pub use email::Email;
pub use locale::Locale;
pub use password::Password;

/// Why a value was refused: a stable machine code plus a human sentence that never quotes a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub detail: String,
}

impl Invalid {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}
