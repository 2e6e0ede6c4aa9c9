//! PEM files named by configuration (a private CA for Redis, SMTP or the trace collector; a
//! client certificate): read and checked at start-up, so a missing or malformed file stops the
//! service with the variable's name and what is wrong, never later at the first connection.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::Env;

/// The file named by the optional variable `name`, if set: one or more PEM certificates.
pub fn optional_certificates(env: &mut Env, name: &str) -> Option<Vec<u8>> {
    let path: String = env.optional_opt(name)?;
    certificates(env, name, &path)
}

/// The file at `path` (from the variable `name`): one or more PEM certificates.
pub fn certificates(env: &mut Env, name: &str, path: &str) -> Option<Vec<u8>> {
    let pem = read(env, name, path)?;
    let parsed: Result<Vec<CertificateDer<'_>>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match parsed {
        Ok(certs) if !certs.is_empty() => Some(pem),
        _ => {
            env.invalid(name, "holds no PEM certificate");
            None
        }
    }
}

/// The bytes of the file at `path` (from the variable `name`).
pub fn read(env: &mut Env, name: &str, path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            // The path is configuration, not a secret; the error says what is wrong with it.
            env.invalid(name, format!("cannot be read ({path}: {e})"));
            None
        }
    }
}
