//! The reconcile rules, as pure state: which resources are accepted, and which one wins a
//! kind and locale. Tested without an API server.

use std::collections::{BTreeMap, HashSet};

use common::email::EmailKind;

use crate::crd::EmailTemplateSpec;
use crate::templates::{TemplateError, Templates, html_from_text};

/// The last version of one resource that compiled.
#[derive(Debug, Clone)]
struct Accepted {
    spec: EmailTemplateSpec,
    kind: EmailKind,
    locale: String,
    sources: Vec<(String, String)>,
}

/// What a reconcile made of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This spec compiled and is now in the registry.
    Applied,
    /// This spec was already in the registry.
    Unchanged,
    /// This spec does not compile; the last version that did (or the built-in) stays.
    Invalid(String),
    /// Another resource with a smaller name has the same kind and locale and wins.
    Conflict { winner: String },
}

impl Verdict {
    /// The `result` label of `mail_template_reconciles_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Applied => "applied",
            Verdict::Unchanged => "unchanged",
            Verdict::Invalid(_) => "invalid",
            Verdict::Conflict { .. } => "conflict",
        }
    }
}

/// The accepted resources by name: with the built-ins, the registry to publish.
#[derive(Debug, Default)]
pub struct Overrides {
    by_name: BTreeMap<String, Accepted>,
}

impl Overrides {
    /// Takes a resource's spec if it compiles; otherwise keeps what was there.
    pub fn apply(&mut self, name: &str, spec: &EmailTemplateSpec) -> Verdict {
        let unchanged = self.by_name.get(name).is_some_and(|a| a.spec == *spec);
        let verdict = if unchanged {
            Verdict::Unchanged
        } else {
            let kind = EmailKind::from(spec.kind);
            let html = spec
                .html
                .clone()
                .unwrap_or_else(|| html_from_text(&spec.text));
            match Templates::compile_set(kind, &spec.locale, &spec.subject, &spec.text, &html) {
                Ok(sources) => {
                    self.by_name.insert(
                        name.to_owned(),
                        Accepted {
                            spec: spec.clone(),
                            kind,
                            locale: spec.locale.clone(),
                            sources,
                        },
                    );
                    Verdict::Applied
                }
                Err(e) => return Verdict::Invalid(invalid_message(&e)),
            }
        };
        // The smallest name wins a kind+locale, the same choice on every replica.
        let key = (spec.kind, spec.locale.as_str());
        match self
            .by_name
            .iter()
            .find(|(_, a)| (a.spec.kind, a.locale.as_str()) == key)
        {
            Some((winner, _)) if winner != name => Verdict::Conflict {
                winner: winner.clone(),
            },
            _ => verdict,
        }
    }

    /// The accepted (last compiling) spec of a resource.
    pub fn accepted(&self, name: &str) -> Option<&EmailTemplateSpec> {
        self.by_name.get(name).map(|a| &a.spec)
    }

    /// Forgets a deleted resource; the built-in (or a conflicting resource) takes its place.
    pub fn remove(&mut self, name: &str) -> bool {
        self.by_name.remove(name).is_some()
    }

    /// Forgets every resource not in `names` (deleted while the watch was down).
    pub fn retain(&mut self, names: &HashSet<String>) -> bool {
        let before = self.by_name.len();
        self.by_name.retain(|name, _| names.contains(name));
        before != self.by_name.len()
    }

    /// The built-ins overridden by the winning resource of every kind+locale.
    pub fn templates(&self) -> Result<Templates, TemplateError> {
        let mut taken = HashSet::new();
        let mut sources = Vec::new();
        for accepted in self.by_name.values() {
            if taken.insert((accepted.kind, accepted.locale.clone())) {
                sources.extend(accepted.sources.iter().cloned());
            }
        }
        Templates::with_overrides(sources)
    }
}

fn invalid_message(e: &TemplateError) -> String {
    // minijinja's message names the part and line; it never holds message data (nothing was
    // rendered), so it is safe in a status anyone with `get` can read.
    format!("{e}; the previous version stays in use")
}
