//! The MIME message of one email.

use lettre::Message;
use lettre::message::header::{ContentType, MessageId};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use uuid::Uuid;

use super::error::{SendError, SmtpFailure};
use crate::templates::Rendered;

/// Domain part of our Message-IDs. Fixed rather than the host name so that redelivering a
/// message from another replica produces the same ID, letting receivers deduplicate.
const MESSAGE_ID_DOMAIN: &str = "user-platform";

/// The MIME message: From, To, Subject, Message-ID and a text/HTML alternative.
pub fn build_message(
    from: &Mailbox,
    message_id: Uuid,
    to_email: &str,
    to_name: Option<&str>,
    rendered: &Rendered,
) -> Result<Message, SendError> {
    let address = to_email
        .parse()
        .map_err(|e| SendError::Permanent(SmtpFailure::Recipient(e)))?;
    let to = Mailbox::new(to_name.map(str::to_owned), address);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject.clone())
        .header(MessageId::from(format!(
            "<{message_id}@{MESSAGE_ID_DOMAIN}>"
        )))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html.clone()),
                ),
        )
        .map_err(|e| SendError::Permanent(SmtpFailure::Build(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> Rendered {
        Rendered {
            subject: "Hi".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        }
    }

    #[test]
    fn message_carries_a_stable_message_id_and_both_bodies() {
        let from: Mailbox = "Platform <no-reply@example.com>".parse().unwrap();
        let id = Uuid::now_v7();
        let m = build_message(&from, id, "ada@example.com", Some("Ada"), &rendered()).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(
            raw.contains(&format!("Message-ID: <{id}@user-platform>")),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("To: Ada <ada@example.com>"), "{raw}");
    }

    #[test]
    fn a_bad_address_is_permanent() {
        let from: Mailbox = "no-reply@example.com".parse().unwrap();
        let err = build_message(&from, Uuid::nil(), "a b@@x", None, &rendered()).unwrap_err();
        assert!(err.is_permanent());
    }
}
