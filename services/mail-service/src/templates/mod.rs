//! Email templates: built into the binary so a deployed image cannot lack one, optionally
//! overridden file by file from `TEMPLATE_DIR` and reloaded when that directory changes.
//!
//! Layout (both): `<kind>/<locale>/{subject.txt,body.txt,body.html}`. Every kind must exist
//! in `en`, the last step of the locale fallback.
//!
//! The parts: the built-in set (`builtin.rs`), compiling and rendering (`registry.rs`),
//! loading a directory (`directory.rs`) and the live store with its reload (`store.rs`).

mod builtin;
mod directory;
mod registry;
mod store;

pub use self::builtin::SOURCES;
pub use self::registry::{
    FALLBACK_LOCALE, RenderError, Rendered, TemplateError, Templates, html_from_text,
};
pub use self::store::TemplateStore;

#[cfg(test)]
mod tests;
