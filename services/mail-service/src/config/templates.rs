//! Where the templates come from (`TEMPLATE_SOURCE`, `TEMPLATE_DIR`, `POD_NAMESPACE`).

use std::path::PathBuf;

use common::config::Env;

/// Where the email templates come from (`TEMPLATE_SOURCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// The templates built into the binary.
    Builtin,
    /// The built-ins overridden by the files in this directory, reloaded when it changes.
    Directory(PathBuf),
    /// The built-ins overridden by `EmailTemplate` resources in `namespace` (the client's
    /// default namespace when unset), watched through the Kubernetes API.
    Kubernetes { namespace: Option<String> },
}

impl TemplateSource {
    pub(crate) fn from_env(env: &mut Env) -> TemplateSource {
        let template_dir: Option<PathBuf> = env.optional_opt("TEMPLATE_DIR");
        let source: Option<String> = env.optional_opt("TEMPLATE_SOURCE");
        // Only read by the kubernetes source; set from the downward API in the chart.
        let namespace: Option<String> = env.optional_opt("POD_NAMESPACE");
        match (source.as_deref().map(str::to_ascii_lowercase), template_dir) {
            // Unset keeps the behaviour from before TEMPLATE_SOURCE existed.
            (None, None) => TemplateSource::Builtin,
            (None, Some(dir)) => TemplateSource::Directory(dir),
            (Some(s), None) if s == "builtin" => TemplateSource::Builtin,
            (Some(s), Some(dir)) if s == "directory" => TemplateSource::Directory(dir),
            (Some(s), None) if s == "kubernetes" => TemplateSource::Kubernetes { namespace },
            (Some(s), Some(_)) if s == "builtin" || s == "kubernetes" => {
                // Two sources at once would leave it unclear which template wins.
                env.invalid(
                    "TEMPLATE_DIR",
                    format!("must be empty with TEMPLATE_SOURCE={s}"),
                );
                TemplateSource::Builtin
            }
            (Some(s), None) if s == "directory" => {
                env.invalid("TEMPLATE_DIR", "required with TEMPLATE_SOURCE=directory");
                TemplateSource::Builtin
            }
            (Some(_), _) => {
                env.invalid(
                    "TEMPLATE_SOURCE",
                    "expected builtin, directory or kubernetes",
                );
                TemplateSource::Builtin
            }
        }
    }
}
