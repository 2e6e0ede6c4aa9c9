//! Creating an account by invitation: no password yet; a set-password link goes to the
//! address through the normal email path (outbox, `email_queue`, mail service).

use serde_json::json;

use super::audit::{self, Action, Actor};
use crate::account::AccountError;
use crate::account::messages::{email_entry, event_entry};
use crate::account::registration::{new_account, registered_event};
use crate::account::reset::{LinkKind, link_email};
use crate::crypto::new_token;
use crate::domain::{DisplayName, Email, Locale, Password};
use crate::state::AppState;
use crate::store::users::{Inserted, UserDoc};

/// A new account's fields, valid.
pub struct Invitation {
    pub email: Email,
    pub display_name: Option<DisplayName>,
    pub locale: Locale,
}

/// Creates the account (unverified, with a password nobody knows) and, in the same
/// transaction, the invitation email, `user.registered` and the audit event. Using the link
/// sets the password and confirms the address. `EmailTaken` if the address has an account.
#[tracing::instrument(name = "admin.invite", skip_all)]
pub async fn invite(
    state: &AppState,
    actor: &Actor,
    invitation: Invitation,
) -> Result<UserDoc, AccountError> {
    let unknown = Password::parse(&new_token()).map_err(|_| AccountError::Conflict)?;
    let password_hash = state.hasher.hash(&unknown).await?;
    let user = new_account(
        &invitation.email,
        password_hash,
        invitation.display_name,
        &invitation.locale,
    );
    // The token goes to Redis first: if that fails nothing else has happened yet.
    let message = link_email(state, &user, LinkKind::Invitation).await?;
    let registered = registered_event(&user).with("invited", true);
    let event = audit::event(
        actor,
        Action::Invited,
        &user.id,
        json!({ "email": user.email, "locale": user.locale }),
    );
    let entries = vec![
        email_entry(&message),
        event_entry(&registered),
        event_entry(&event),
    ];
    match state.users.insert_with_outbox(&user, &entries).await? {
        Inserted::Created => {
            state.mailer.dispatch(entries);
            audit::done(state, &event);
            Ok(user)
        }
        Inserted::EmailTaken => Err(AccountError::EmailTaken),
    }
}
