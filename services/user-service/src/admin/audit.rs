//! The audit trail of operators' actions: a domain event (through the outbox, atomically with
//! the change where there is one), a structured log line and a metric, each naming the actor.

use serde_json::Value;

use crate::events::{DomainEvent, EventType};
use crate::state::AppState;

/// Who did it: the name of the admin token used (never the token).
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// An operator's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Disabled,
    Enabled,
    SessionsRevoked,
    Updated,
    EmailVerified,
    EmailSent,
    Deleted,
    Invited,
    MfaRemoved,
    PasskeyRemoved,
}

impl Action {
    /// The action's name in events and metrics (one of `metrics::ADMIN_ACTIONS`).
    pub fn name(self) -> &'static str {
        match self {
            Action::Disabled => "disabled",
            Action::Enabled => "enabled",
            Action::SessionsRevoked => "sessions_revoked",
            Action::Updated => "updated",
            Action::EmailVerified => "email_verified",
            Action::EmailSent => "email_sent",
            Action::Deleted => "deleted",
            Action::Invited => "invited",
            Action::MfaRemoved => "mfa_removed",
            Action::PasskeyRemoved => "passkey_removed",
        }
    }

    fn event_type(self) -> EventType {
        match self {
            Action::Disabled => EventType::AdminDisabled,
            Action::Enabled => EventType::AdminEnabled,
            Action::SessionsRevoked => EventType::AdminSessionsRevoked,
            Action::Updated => EventType::AdminUpdated,
            Action::EmailVerified => EventType::AdminEmailVerified,
            Action::EmailSent => EventType::AdminEmailSent,
            Action::Deleted => EventType::AdminDeleted,
            Action::Invited => EventType::AdminInvited,
            Action::MfaRemoved => EventType::AdminMfaRemoved,
            Action::PasskeyRemoved => EventType::AdminPasskeyRemoved,
        }
    }
}

/// The event of an action: `user.admin.<action>` with `actor` and `change` (never a secret).
pub fn event(actor: &Actor, action: Action, user_id: &str, change: Value) -> DomainEvent {
    DomainEvent::new(action.event_type(), user_id)
        .with("actor", actor.0.as_str())
        .with("change", change)
}

/// After the action took effect: the audit log line and the metric.
pub fn done(state: &AppState, event: &DomainEvent) {
    let actor = event
        .data
        .get("actor")
        .and_then(Value::as_str)
        .unwrap_or("");
    let change = event.data.get("change").cloned().unwrap_or(Value::Null);
    let action = event.kind.as_str();
    tracing::info!(
        target: "audit",
        actor,
        action,
        user_id = %event.user_id,
        event_id = %event.event_id,
        change = %change,
        "admin action"
    );
    let name = action.strip_prefix("user.admin.").unwrap_or(action);
    state.metrics.admin_actions.with_label_values(&[name]).inc();
}

#[cfg(test)]
mod tests {
    use super::Action;
    use crate::metrics::ADMIN_ACTIONS;

    #[test]
    fn every_action_is_a_label_that_starts_at_zero() {
        let actions = [
            Action::Disabled,
            Action::Enabled,
            Action::SessionsRevoked,
            Action::Updated,
            Action::EmailVerified,
            Action::EmailSent,
            Action::Deleted,
            Action::Invited,
            Action::MfaRemoved,
            Action::PasskeyRemoved,
        ];
        let names: Vec<&str> = actions.iter().map(|a| a.name()).collect();
        assert_eq!(names, ADMIN_ACTIONS);
    }
}
