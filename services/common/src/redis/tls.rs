//! The PEM files of a TLS connection to Redis: a private CA (`REDIS_CA_FILE`; without it the
//! system roots are trusted) and a client certificate for mutual TLS
//! (`REDIS_CLIENT_CERT_FILE` with `REDIS_CLIENT_KEY_FILE`). Read and checked at start-up, so a
//! missing or malformed file stops the service with the variable's name.

use redis::{ClientTlsConfig, TlsCertificates};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Env;
use crate::pem::{certificates, read};

/// PEM files read at start-up: a private CA and the client certificate for mutual TLS.
#[derive(Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<Vec<u8>>,
    /// Certificate chain and private key, both PEM.
    pub client: Option<(Vec<u8>, SecretString)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

const CA: &str = "REDIS_CA_FILE";
const CERT: &str = "REDIS_CLIENT_CERT_FILE";
const KEY: &str = "REDIS_CLIENT_KEY_FILE";

/// Reads the files named by the TLS variables; `tls` says whether any connection uses TLS.
pub(super) fn read_files(env: &mut Env, tls: bool) -> TlsFiles {
    let ca_path: Option<String> = env.optional_opt(CA);
    let cert_path: Option<String> = env.optional_opt(CERT);
    let key_path: Option<String> = env.optional_opt(KEY);
    if !tls {
        for (name, set) in [(CA, &ca_path), (CERT, &cert_path), (KEY, &key_path)] {
            if set.is_some() {
                env.invalid(
                    name,
                    "is set but no connection uses TLS (a redis:// REDIS_URL, or REDIS_TLS off)",
                );
            }
        }
        return TlsFiles::default();
    }
    let ca = ca_path.and_then(|path| certificates(env, CA, &path));
    let client = match (cert_path, key_path) {
        (Some(cert), Some(key)) => {
            let chain = certificates(env, CERT, &cert);
            let key = private_key(env, &key);
            chain.zip(key)
        }
        (Some(_), None) => {
            env.invalid(KEY, format!("is required when {CERT} is set"));
            None
        }
        (None, Some(_)) => {
            env.invalid(CERT, format!("is required when {KEY} is set"));
            None
        }
        (None, None) => None,
    };
    TlsFiles { ca, client }
}

/// A PEM private key, kept as a secret.
fn private_key(env: &mut Env, path: &str) -> Option<SecretString> {
    let pem = read(env, KEY, path)?;
    if PrivateKeyDer::from_pem_slice(&pem).is_err() {
        env.invalid(KEY, "holds no PEM private key");
        return None;
    }
    match String::from_utf8(pem) {
        Ok(text) => Some(SecretString::from(text)),
        Err(_) => {
            env.invalid(KEY, "is not a text PEM file");
            None
        }
    }
}

impl TlsFiles {
    /// The redis crate's form; `None` when neither a CA nor a client certificate is set (then
    /// the system roots are trusted).
    pub(super) fn certificates(&self) -> Option<TlsCertificates> {
        if self.ca.is_none() && self.client.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.expose_secret().as_bytes().to_vec(),
            }),
            root_cert: self.ca.clone(),
        })
    }
}
