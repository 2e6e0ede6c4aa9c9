//! `DisplayName::parse`: a name shown to other people in mail and pages. What it accepts is
//! trimmed, 1 to 100 characters, free of control characters and of the invisible characters
//! that can reorder or hide text (issue 11), and stable when parsed again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use user_domain::DisplayName;

/// Characters a display name must never carry: bidirectional embeddings, overrides, isolates
/// and marks, line and paragraph separators, and zero-width spaces. (Zero-width joiners, used
/// in emoji sequences, are left to the service's own rule.)
fn is_hidden_or_reordering(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let trimmed = raw.trim();
    // At most 100 characters as sent (the OpenAPI schema's maxLength), blank-padded or not.
    let plain = !trimmed.is_empty()
        && raw.chars().count() <= 100
        && raw.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let name = match DisplayName::parse(raw) {
        Ok(name) => name,
        Err(invalid) => {
            assert!(!plain, "refused a plain ASCII name: {}", invalid.code);
            return;
        }
    };
    let s = name.clone().into_inner();
    assert_eq!(s, s.trim(), "not trimmed");
    assert!((1..=100).contains(&s.chars().count()), "length {s:?}");
    assert!(
        !s.chars().any(char::is_control),
        "control character in {s:?}"
    );
    assert!(
        !s.chars().any(is_hidden_or_reordering),
        "invisible or reordering character in {s:?}"
    );
    assert_eq!(DisplayName::parse(&s), Ok(name), "not idempotent");
});
