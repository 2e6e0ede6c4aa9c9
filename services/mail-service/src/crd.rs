//! The `EmailTemplate` custom resource: one email kind in one locale, reconciled into the live
//! template registry by `controller` when `TEMPLATE_SOURCE=kubernetes`.
//!
//! The CRD YAML in `charts/user-platform/crds/emailtemplates.yaml` is generated from these types
//! (`cargo run -p mail-service --example crdgen`); a test fails when the two drift apart.

use common::email::EmailKind;
use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of our resources.
pub const GROUP: &str = "userplatform.io";

/// The condition type this controller owns.
pub const READY: &str = "Ready";

/// Subject, text and (optionally) HTML template of one email kind in one locale, in the
/// mail service's minijinja dialect. Overrides the built-in template of the same kind and
/// locale, or adds a locale.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "userplatform.io",
    version = "v1alpha1",
    kind = "EmailTemplate",
    plural = "emailtemplates",
    shortname = "etpl",
    namespaced,
    status = "EmailTemplateStatus",
    doc = "An email template (subject, text, HTML) of one message kind in one locale, used by the mail service in place of its built-in one.",
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".spec.kind"}"#,
    printcolumn = r#"{"name":"Locale","type":"string","jsonPath":".spec.locale"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EmailTemplateSpec {
    /// The message kind this template renders.
    pub kind: TemplateKind,
    /// Lower-case BCP 47 tag (`en`, `de`, `pt-br`). Messages in `de-AT` use `de` when there is
    /// no `de-at`, and `en` when there is neither.
    #[schemars(pattern(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$"), length(max = 35))]
    pub locale: String,
    /// Subject line template; rendered, trimmed, and rejected if it spans lines.
    #[schemars(length(min = 1, max = 1024))]
    pub subject: String,
    /// Plain-text body template.
    #[schemars(length(min = 1, max = 65536))]
    pub text: String,
    /// HTML body template, variables HTML-escaped. Without it the HTML part is the text body,
    /// escaped, in a `<pre>` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 262144))]
    pub html: Option<String>,
}

/// The email kinds, as the message's `kind` names them (`common::email::EmailKind`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKind {
    VerifyEmail,
    AccountExists,
    PasswordReset,
    PasswordChanged,
    AccountDeleted,
    EmailChanged,
    EmailChangeRequested,
    Invitation,
    MfaEnabled,
    MfaDisabled,
    MfaRecoveryCodeUsed,
    PasskeyAdded,
    PasskeyRemoved,
}

impl From<TemplateKind> for EmailKind {
    fn from(kind: TemplateKind) -> Self {
        match kind {
            TemplateKind::VerifyEmail => EmailKind::VerifyEmail,
            TemplateKind::AccountExists => EmailKind::AccountExists,
            TemplateKind::PasswordReset => EmailKind::PasswordReset,
            TemplateKind::PasswordChanged => EmailKind::PasswordChanged,
            TemplateKind::AccountDeleted => EmailKind::AccountDeleted,
            TemplateKind::EmailChanged => EmailKind::EmailChanged,
            TemplateKind::EmailChangeRequested => EmailKind::EmailChangeRequested,
            TemplateKind::Invitation => EmailKind::Invitation,
            TemplateKind::MfaEnabled => EmailKind::MfaEnabled,
            TemplateKind::MfaDisabled => EmailKind::MfaDisabled,
            TemplateKind::MfaRecoveryCodeUsed => EmailKind::MfaRecoveryCodeUsed,
            TemplateKind::PasskeyAdded => EmailKind::PasskeyAdded,
            TemplateKind::PasskeyRemoved => EmailKind::PasskeyRemoved,
        }
    }
}

/// What the mail service made of the resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailTemplateStatus {
    /// `Ready`: `True` when this generation is the one in use.
    #[serde(default)]
    pub conditions: Vec<TemplateCondition>,
    /// When a generation of this resource was last published to the template registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<String>,
}

/// A condition in the shape of `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason: `Applied`, `TemplateInvalid`, `Conflict`.
    pub reason: String,
    /// Human-readable detail, e.g. the compile error.
    pub message: String,
    /// The `metadata.generation` this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339 time of the last change of `status`.
    pub last_transition_time: String,
}

impl EmailTemplateStatus {
    pub fn ready(&self) -> Option<&TemplateCondition> {
        self.conditions.iter().find(|c| c.type_ == READY)
    }
}

/// The CRD as YAML, as committed under the chart.
pub fn crd_yaml() -> String {
    let body = serde_yaml::to_string(&EmailTemplate::crd()).expect("the CRD serialises");
    format!(
        "# Generated from services/mail-service/src/crd.rs by\n\
         # `cargo run -p mail-service --example crdgen`; do not edit.\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_the_message_kinds() {
        for kind in [
            TemplateKind::VerifyEmail,
            TemplateKind::AccountExists,
            TemplateKind::PasswordReset,
            TemplateKind::PasswordChanged,
            TemplateKind::AccountDeleted,
            TemplateKind::EmailChanged,
            TemplateKind::EmailChangeRequested,
            TemplateKind::Invitation,
            TemplateKind::MfaEnabled,
            TemplateKind::MfaDisabled,
            TemplateKind::MfaRecoveryCodeUsed,
            TemplateKind::PasskeyAdded,
            TemplateKind::PasskeyRemoved,
        ] {
            let name = serde_json::to_value(kind).unwrap();
            assert_eq!(name, EmailKind::from(kind).as_str());
        }
        // Every EmailKind is reachable: the schema's enum lists them all.
        let crd = serde_json::to_value(EmailTemplate::crd()).unwrap();
        let kinds = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["kind"]["enum"];
        let kinds: Vec<_> = kinds.as_array().unwrap().iter().collect();
        assert_eq!(kinds.len(), EmailKind::ALL.len(), "{kinds:?}");
        for kind in EmailKind::ALL {
            assert!(kinds.iter().any(|k| *k == kind.as_str()), "{kind}");
        }
    }

    #[test]
    fn chart_default_templates_equal_the_built_ins() {
        // The chart's optional default EmailTemplates are copies of the English built-ins.
        let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../charts/user-platform/files/email-templates");
        let english = crate::templates::SOURCES
            .iter()
            .filter(|(name, _)| name.split('/').nth(1) == Some("en"));
        let mut count = 0;
        for (name, source) in english {
            let copy = std::fs::read_to_string(chart.join(name)).unwrap_or_default();
            assert!(
                copy == *source,
                "charts/user-platform/files/email-templates/{name} differs from the built-in"
            );
            count += 1;
        }
        assert_eq!(count, EmailKind::ALL.len() * 3);
    }

    #[test]
    fn committed_crd_matches_the_rust_type() {
        let committed = include_str!("../../../charts/user-platform/crds/emailtemplates.yaml");
        assert!(
            committed == crd_yaml(),
            "charts/user-platform/crds/emailtemplates.yaml is stale: run \
             `cargo run -p mail-service --example crdgen > charts/user-platform/crds/emailtemplates.yaml`"
        );
    }
}
