//! `Email::parse`: whatever it accepts is the normalised form the unique index sits on, so it
//! must be stable (parsing it again gives itself), bounded and free of anything that could
//! split a mail header or a log line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unicode_normalization::is_nfc;
use user_domain::Email;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(email) = Email::parse(raw) else {
        return;
    };
    let s = email.as_str();
    assert!(s.len() <= 254, "longer than 254 bytes: {s:?}");
    assert_eq!(s.matches('@').count(), 1, "not exactly one '@': {s:?}");
    let (local, domain) = s.split_once('@').expect("one '@'");
    assert_eq!(email.local_part(), local);
    assert!(!local.is_empty(), "empty local part: {s:?}");
    // RFC 5321 counts the local part in octets, and issue 11 has the service do so too.
    assert!(local.len() <= 64, "local part over 64 octets: {s:?}");
    assert!(is_nfc(local), "local part not in NFC: {s:?}");
    assert_eq!(s, s.to_lowercase(), "not lower-case");
    assert!(
        !s.chars().any(|c| c.is_whitespace() || c.is_control()),
        "whitespace or control character in {s:?}"
    );
    assert_domain_is_ascii_host_name(domain);
    // Normalisation is idempotent: the stored form parses to itself.
    assert_eq!(Email::parse(s), Ok(email.clone()), "not idempotent");
});

fn assert_domain_is_ascii_host_name(domain: &str) {
    let labels: Vec<&str> = domain.split('.').collect();
    assert!(labels.len() >= 2, "domain without a dot: {domain:?}");
    for label in labels {
        assert!(
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "label {label:?} of {domain:?} is not a lower-case LDH label"
        );
    }
}
