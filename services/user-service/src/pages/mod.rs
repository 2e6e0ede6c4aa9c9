//! The hosted pages' parts outside HTTP: their configuration, branding, origins and
//! `return_to` rules, and the templates with their translations. The handlers are in
//! `http::pages`.

pub mod brand;
pub mod origins;
pub mod settings;
pub mod site;

pub use settings::PagesSettings;
pub use site::Site;
