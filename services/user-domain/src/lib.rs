//! Values parsed at the edge: once a handler holds an `Email` or a `Password`, it is valid.

mod display_name;
mod email;
mod invalid;
mod locale;
mod password;

pub use display_name::DisplayName;
pub use email::Email;
pub use invalid::Invalid;
pub use locale::Locale;
pub use password::Password;
