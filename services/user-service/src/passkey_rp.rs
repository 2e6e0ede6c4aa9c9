//! The WebAuthn relying party (webauthn-rs): built once from `PasskeySettings`, and what its
//! refusals mean to a client. The attestation and assertion checks (origin, RP id hash,
//! challenge, signature, user verification, signature counter, backup flags) are the
//! library's; this service never parses authenticator data itself.

use webauthn_rs::prelude::{Webauthn, WebauthnBuilder, WebauthnError};

use crate::config::PasskeySettings;

/// The relying party of this service.
pub fn relying_party(settings: &PasskeySettings) -> Result<Webauthn, WebauthnError> {
    let (first, rest) = settings
        .origins
        .split_first()
        .ok_or(WebauthnError::Configuration)?;
    let mut builder = WebauthnBuilder::new(&settings.rp_id, first)?.rp_name(&settings.rp_name);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build()
}

/// Why the library refused a ceremony, as the stable reason a problem document names.
pub fn refusal(e: &WebauthnError) -> &'static str {
    use WebauthnError::*;
    match e {
        InvalidRPOrigin | CredentialCrossOrigin => "origin",
        InvalidRPIDHash => "rp_id",
        UserNotVerified | UserNotPresent | InconsistentUserVerificationPolicy => {
            "user_verification"
        }
        MismatchedChallenge | ChallengeNotFound | InvalidClientDataType => "challenge",
        CredentialNotFound | InvalidUserUniqueId => "unknown_credential",
        CredentialPossibleCompromise => "possible_clone",
        CredentialAlreadyExists | CredentialExcludedFromRequest => "already_registered",
        _ => "invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn settings(origins: &[&str]) -> PasskeySettings {
        PasskeySettings {
            rp_id: "example.com".to_owned(),
            rp_name: "Example".to_owned(),
            origins: origins.iter().map(|o| Url::parse(o).unwrap()).collect(),
            available: true,
        }
    }

    #[test]
    fn builds_with_every_configured_origin() {
        let rp = relying_party(&settings(&[
            "https://example.com",
            "https://app.example.com",
        ]))
        .expect("a valid relying party");
        assert_eq!(rp.get_allowed_origins().len(), 2);
        assert!(relying_party(&settings(&[])).is_err());
    }

    #[test]
    fn refusals_have_stable_reasons() {
        assert_eq!(refusal(&WebauthnError::InvalidRPOrigin), "origin");
        assert_eq!(refusal(&WebauthnError::InvalidRPIDHash), "rp_id");
        assert_eq!(
            refusal(&WebauthnError::UserNotVerified),
            "user_verification"
        );
        assert_eq!(
            refusal(&WebauthnError::CredentialPossibleCompromise),
            "possible_clone"
        );
        assert_eq!(refusal(&WebauthnError::AuthenticationFailure), "invalid");
    }
}
