//! Time-based one-time passwords (RFC 6238 over RFC 4226), as authenticator apps expect them:
//! HMAC-SHA-1, 6 digits, 30-second steps, a 160-bit secret shown as base32.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use sha1::Sha1;

/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (RFC 4226 recommends 160 bits).
pub const SECRET_BYTES: usize = 20;
/// Steps before and after the current one whose code is still taken (clock drift, typing).
pub const TOLERANCE: u64 = 1;

/// A fresh random secret.
pub fn new_secret() -> SecretSlice<u8> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    bytes.into()
}

/// The secret as authenticator apps take it when typed in: base32 without padding.
pub fn to_base32(secret: &SecretSlice<u8>) -> String {
    BASE32_NOPAD.encode(secret.expose_secret())
}

/// The time step a Unix time falls into.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The current time step.
pub fn current_step() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    step_at(now)
}

/// The HOTP value (RFC 4226, section 5.3) of `counter` with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The code of `step` as the app shows it (zero-padded).
pub fn code_at(secret: &SecretSlice<u8>, step: u64) -> String {
    format!(
        "{:0width$}",
        hotp(secret.expose_secret(), step, DIGITS),
        width = DIGITS as usize
    )
}

/// The step (within the tolerance around `now_step`) whose code `code` is, if any. Compared in
/// constant time per candidate, so timing does not tell how close a guess was.
pub fn matching_step(secret: &SecretSlice<u8>, code: &str, now_step: u64) -> Option<u64> {
    use subtle::ConstantTimeEq;
    let first = now_step.saturating_sub(TOLERANCE);
    let mut found = None;
    for step in first..=now_step + TOLERANCE {
        let expected = code_at(secret, step);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Whether `code` has the shape of a code (six ASCII digits).
pub fn is_code_shaped(code: &str) -> bool {
    code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())
}

/// The `otpauth://` URI authenticator apps scan (the de-facto Key Uri Format).
pub fn otpauth_uri(secret: &SecretSlice<u8>, issuer: &str, account: &str) -> String {
    let issuer_enc = percent(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent(account),
        to_base32(secret),
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B (the SHA-1 rows; 8 digits, 30-second steps).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(secret, step_at(time), 8), expected, "T = {time}");
        }
    }

    /// RFC 4226, appendix D.
    #[test]
    fn rfc4226_test_vectors() {
        let secret = b"12345678901234567890";
        let expected = [755224, 287082, 359152, 969429, 338314, 254676];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), value);
        }
    }

    #[test]
    fn accepts_one_step_either_side_only() {
        let secret: SecretSlice<u8> = b"12345678901234567890".to_vec().into();
        let now = 1000;
        for step in [now - 1, now, now + 1] {
            assert_eq!(
                matching_step(&secret, &code_at(&secret, step), now),
                Some(step)
            );
        }
        for step in [now - 2, now + 2] {
            assert_eq!(matching_step(&secret, &code_at(&secret, step), now), None);
        }
        assert_eq!(code_at(&secret, step_at(59)), "287082");
    }

    #[test]
    fn uri_and_shape() {
        let secret: SecretSlice<u8> = vec![0u8; 20].into();
        let uri = otpauth_uri(&secret, "User platform", "ada@example.com");
        assert!(uri.starts_with("otpauth://totp/User%20platform:ada%40example.com?secret=AAAA"));
        assert!(uri.ends_with("&issuer=User%20platform&algorithm=SHA1&digits=6&period=30"));
        assert!(is_code_shaped("012345"));
        assert!(!is_code_shaped("12345") && !is_code_shaped("12345a") && !is_code_shaped("١٢٣٤٥٦"));
    }
}
