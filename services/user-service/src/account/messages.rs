//! The emails and events the workflows write to the outbox.

use common::email::{EmailKind, EmailMessage, Recipient};

use crate::events::DomainEvent;
use crate::mailer::Mailer;
use crate::store::outbox::OutboxEntry;
use crate::store::users::UserDoc;

/// The account's own, proven address: the display name may greet its owner.
pub fn to_owner(user: &UserDoc) -> Recipient {
    Recipient {
        email: user.email.clone(),
        name: user
            .email_verified
            .then(|| user.display_name.clone())
            .flatten(),
    }
}

/// An address not (yet) proven to be the account's: whoever asked chose both the address and
/// any name, so no name goes into mail to it.
pub fn to_unproven(email: &str) -> Recipient {
    Recipient {
        email: email.to_owned(),
        name: None,
    }
}

pub fn notice(user: &UserDoc, kind: EmailKind) -> EmailMessage {
    EmailMessage::new(to_owner(user), kind, &user.locale)
}

/// An emailed link: the token, and the page (`page`, in the reader's language) that takes it.
pub fn with_link(message: EmailMessage, page: &str, token: &str, locale: &str) -> EmailMessage {
    message
        .with_data("token", token)
        .with_data("action_url", format!("{page}?token={token}&lang={locale}"))
}

pub fn email_entry(message: &EmailMessage) -> OutboxEntry {
    OutboxEntry::new(message, Mailer::lease())
}

pub fn event_entry(event: &DomainEvent) -> OutboxEntry {
    OutboxEntry::event(event, Mailer::lease())
}
