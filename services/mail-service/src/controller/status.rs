//! The status a resource should have: computed the same on every replica, so only a change
//! of meaning is ever written.

use common::email::EmailKind;

use super::overrides::Verdict;
use crate::crd::{EmailTemplateSpec, EmailTemplateStatus, READY, TemplateCondition};

/// The status a resource should have after `verdict`. A condition whose status, reason,
/// message and generation are unchanged keeps its timestamps, so every replica arrives at the
/// same status and `current == desired` means there is nothing to write.
pub fn desired_status(
    current: Option<&EmailTemplateStatus>,
    name: &str,
    spec: &EmailTemplateSpec,
    generation: Option<i64>,
    verdict: &Verdict,
    now: &str,
) -> EmailTemplateStatus {
    let (status, reason, message) = ready_meaning(name, spec, verdict);
    let previous = current.and_then(EmailTemplateStatus::ready);
    let same_status = previous.is_some_and(|p| p.status == status);
    let same_meaning = previous.is_some_and(|p| {
        p.status == status
            && p.reason == reason
            && p.message == message
            && p.observed_generation == generation
    });
    let last_transition_time = match previous {
        Some(p) if same_status => p.last_transition_time.clone(),
        _ => now.to_owned(),
    };
    let last_applied = if status == "True" && !same_meaning {
        Some(now.to_owned())
    } else {
        current.and_then(|c| c.last_applied.clone())
    };
    let ready = TemplateCondition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    };
    // Conditions of other writers are kept as they are.
    let mut conditions: Vec<_> = current
        .map(|c| c.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != READY)
        .collect();
    conditions.insert(0, ready);
    EmailTemplateStatus {
        conditions,
        last_applied,
    }
}

/// The `Ready` condition's status, reason and message for `verdict`.
fn ready_meaning(
    name: &str,
    spec: &EmailTemplateSpec,
    verdict: &Verdict,
) -> (&'static str, &'static str, String) {
    match verdict {
        Verdict::Applied | Verdict::Unchanged => (
            "True",
            "Applied",
            format!(
                "in use for {} emails in locale {}",
                EmailKind::from(spec.kind),
                spec.locale
            ),
        ),
        Verdict::Invalid(message) => ("False", "TemplateInvalid", message.clone()),
        Verdict::Conflict { winner } => (
            "False",
            "Conflict",
            format!(
                "EmailTemplate {winner} has the same kind and locale and wins (smallest name); \
                 {name} is not used"
            ),
        ),
    }
}
