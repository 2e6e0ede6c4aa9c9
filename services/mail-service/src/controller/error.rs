//! What can go wrong in the controller, each failure labelled by its stage.

use crate::templates::TemplateError;

/// A failure of the EmailTemplate controller. None stops it: the watcher retries, a status
/// write is retried at the next event or resync, and the registry keeps what it had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("watching EmailTemplates failed")]
    Watch(#[source] kube::runtime::watcher::Error),
    #[error("writing the status of EmailTemplate {name} failed")]
    Status {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Each set compiled on its own, so this would be a bug.
    #[error("publishing EmailTemplates failed")]
    Publish(#[source] TemplateError),
}

impl Error {
    /// The `stage` label of `mail_template_reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Watch(_) => "watch",
            Error::Status { .. } => "status",
            Error::Publish(_) => "publish",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_the_documented_stages() {
        let publish = Error::Publish(TemplateError::Io("gone".into()));
        assert_eq!(publish.metric_label(), "publish");
        assert_eq!(
            common::error_chain(&publish),
            "publishing EmailTemplates failed: cannot read template directory: gone"
        );
    }
}
