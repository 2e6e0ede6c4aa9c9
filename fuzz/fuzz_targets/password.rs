//! `Password::parse`: the policy is 15 to 1024 code points after NFKC normalisation, never
//! truncated, and a parsed password never prints itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unicode_normalization::UnicodeNormalization;
use user_domain::{Email, Password};

// The bounds of the policy (user-service's `domain::password::{MIN_CHARS, MAX_CHARS}`, which
// the crate does not export).
const MIN_CHARS: usize = 15;
const MAX_CHARS: usize = 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let normalised: String = raw.nfkc().collect();
    let count = normalised.chars().count();
    let password = match Password::parse(raw) {
        Ok(password) => password,
        Err(invalid) => {
            let expected = if count < MIN_CHARS {
                "password_too_short"
            } else {
                "password_too_long"
            };
            assert!(
                !(MIN_CHARS..=MAX_CHARS).contains(&count),
                "refused ({}) with {count} code points after NFKC",
                invalid.code
            );
            assert_eq!(invalid.code, expected, "{count} code points after NFKC");
            return;
        }
    };
    assert!(
        (MIN_CHARS..=MAX_CHARS).contains(&count),
        "accepted with {count} code points after NFKC"
    );
    // Held as its NFKC form, whole (never truncated), and that form is stable.
    assert!(password.expose() == normalised, "not the NFKC form");
    let again = Password::parse(password.expose()).expect("its own NFKC form is accepted");
    assert!(again.expose() == password.expose(), "NFKC not idempotent");
    // A login normalises the same way, so the password set is the one that verifies.
    assert!(Password::for_verification(raw).expose() == password.expose());
    assert_eq!(format!("{password:?}"), "Password(***)");
    // The follow-up checks take any accepted password without panicking.
    let _ = password.check_not_common();
    if let Ok(email) = Email::parse("lovelace@example.com") {
        let refused = password.check_not_derived_from(&email).is_err();
        assert_eq!(
            refused,
            password.expose().to_lowercase().contains("lovelace"),
            "containing the local part decides"
        );
    }
});
