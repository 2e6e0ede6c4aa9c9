//! Password hashing and opaque tokens.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use std::cell::RefCell;
use std::time::Instant;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::domain::Password;

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the stored password hash is not a valid PHC string")]
    CorruptHash,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Runs argon2id on a pool of its own: `concurrency` threads at a lower scheduling priority, so
/// a login storm queues here and never starves the async workers that serve every other
/// request (reads stay fast while hashing saturates the cores). A fixed set of threads also
/// bounds memory: each keeps its ~19 MiB working area in its own allocator arena, where tokio's
/// growing blocking pool would leave one behind in every thread it ever started.
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    /// Verified against when the email is unknown, so that case costs the same time.
    dummy_hash: Arc<String>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Niceness of the hashing threads: the lowest, far below the async workers (0), so the kernel
/// runs request handling first whenever both want a core (bench/: reads during a login storm).
/// Only this process's own threads compete with it: in a container the cgroup's share is
/// unchanged.
const HASH_THREAD_NICENESS: i32 = 19;

fn start_pool(threads: usize) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    // The lock is released as soon as a job is taken.
                    let job = match receiver.lock().map(|r| r.recv()) {
                        Ok(Ok(job)) => job,
                        _ => return,
                    };
                    job();
                }
            })
            .expect("a hashing thread starts");
    }
    sender
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux, PRIO_PROCESS with a thread id sets that thread's niceness alone.
    // SAFETY: plain syscalls on the calling thread, no memory is shared with the kernel.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, HASH_THREAD_NICENESS)
    };
    if result != 0 {
        tracing::warn!("could not lower the priority of a hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("constant params are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let dummy = hash_phc(URL_SAFE_NO_PAD.encode(random).as_bytes(), &new_salt())
            .expect("hashing a random password cannot fail");
        Self {
            jobs: start_pool(concurrency.max(1)),
            dummy_hash: Arc::new(dummy),
        }
    }

    /// Runs `work` on the pool. The caller's span (`password.hash`, `password.verify`) gets
    /// the time the job waited for a thread and the time it computed, the two halves of a
    /// slow login.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let queued = Instant::now();
        let job: Job = Box::new(move || {
            // The request gave up (timed out, client gone) while this waited: skip the work.
            if done.is_closed() {
                return;
            }
            let waited = queued.elapsed();
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = done.send((outcome, waited, started.elapsed()));
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Internal("the hashing threads are gone".into()))?;
        match result.await {
            Ok((outcome, waited, computed)) => {
                let span = tracing::Span::current();
                span.record("queue_wait_ms", waited.as_secs_f64() * 1e3);
                span.record("compute_ms", computed.as_secs_f64() * 1e3);
                outcome.map_err(|_| HashError::Internal("hashing panicked".into()))
            }
            Err(_) => Err(HashError::Internal("hashing was dropped".into())),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    #[tracing::instrument(name = "password.hash", skip_all, fields(queue_wait_ms = tracing::field::Empty, compute_ms = tracing::field::Empty))]
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = password.expose().to_owned();
        self.run(move || hash_phc(secret.as_bytes(), &new_salt()))
            .await?
    }

    /// Whether a stored hash was made with other parameters than today's (then it is upgraded
    /// at the next successful login).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let current = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("constant params");
        parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
            || Params::try_from(&parsed).map_or(true, |p| {
                p.m_cost() != current.m_cost()
                    || p.t_cost() != current.t_cost()
                    || p.p_cost() != current.p_cost()
            })
    }

    /// Checks a password against a stored hash; `None` burns the same time on a dummy hash.
    #[tracing::instrument(name = "password.verify", skip_all, fields(queue_wait_ms = tracing::field::Empty, compute_ms = tracing::field::Empty))]
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<bool, HashError> {
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), str::to_owned);
        let secret = password.expose().to_owned();
        let ok = self
            .run(move || verify_phc(secret.as_bytes(), &stored))
            .await??;
        Ok(known && ok)
    }
}

thread_local! {
    /// argon2's working memory (~19 MiB), allocated once per hashing thread and reused: the
    /// crate's own `hash_password` allocates and frees it on every call, which fragments the
    /// allocator's arenas until a busy process holds hundreds of MiB it does not use.
    static SCRATCH: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn with_scratch<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        if scratch.len() < blocks {
            scratch.resize(blocks, Block::default());
        }
        work(&mut scratch[..blocks])
    })
}

fn internal(e: impl std::fmt::Display) -> HashError {
    HashError::Internal(e.to_string())
}

/// argon2id with today's parameters, as a PHC string.
fn hash_phc(password: &[u8], salt: &SaltString) -> Result<String, HashError> {
    let argon2 = argon2();
    let params = argon2.params().clone();
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    with_scratch(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)
    })
    .map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string, with the parameters the string names (so hashes
/// made with older parameters still verify). The comparison is constant-time (`Output`'s
/// equality).
fn verify_phc(password: &[u8], phc: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|_| HashError::CorruptHash)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|_| HashError::CorruptHash)?;
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .map_err(|_| HashError::CorruptHash)?;
    let params = Params::try_from(&parsed).map_err(|_| HashError::CorruptHash)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(HashError::CorruptHash);
    };
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_buf)
        .map_err(|_| HashError::CorruptHash)?;
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    with_scratch(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)
    })
    .map_err(|_| HashError::CorruptHash)?;
    Ok(Output::new(&out).map_err(internal)? == expected)
}

/// 128 random bits, as argon2's reference recommends.
fn new_salt() -> SaltString {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).expect("16 bytes is a valid salt length")
}

/// A fresh opaque token: 256 random bits, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Length of a routing tag, the first characters of every session token.
pub const ROUTING_TAG_LEN: usize = 4;

/// An account's routing tag: 24 bits of the SHA-256 of its id, URL-safe base64. A user's
/// Redis keys carry it as their Cluster hash tag (store::keys), and each session token starts
/// with it so that the session's key follows from the token alone. Not a secret (it only says
/// which slot holds the keys); two accounts may share one.
pub fn routing_tag(user_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(user_id.as_bytes())[..3])
}

/// A session token: the account's routing tag, then 232 random bits; 43 URL-safe characters
/// like every other token.
pub fn new_session_token(user_id: &str) -> String {
    let mut bytes = [0u8; 29];
    rand::rng().fill_bytes(&mut bytes);
    format!("{}{}", routing_tag(user_id), URL_SAFE_NO_PAD.encode(bytes))
}

/// What a session is stored under: the token's routing tag and the digest of the whole token
/// (`<tag>.<hex>`). Tokens issued before routing tags existed give a tag that leads nowhere.
pub fn session_digest(token: &str) -> String {
    let tag = token.get(..ROUTING_TAG_LEN).unwrap_or_default();
    format!("{tag}.{}", token_digest(token))
}

/// A public session id: 128 random bits, URL-safe base64 (22 characters). Not a secret,
/// but unguessable so that ids cannot be enumerated.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A user's security stamp: 128 random bits, URL-safe base64. Every session and every emailed
/// link records the stamp it was made under; moving the stamp ends all of them at once.
pub fn new_stamp() -> String {
    new_session_id()
}

/// What is stored instead of a token: a leak of Redis must not hand out live sessions.
/// SHA-256 suffices (no salt, no stretching) because tokens carry 256 bits of entropy.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a string has the shape of one of our tokens; anything else is refused before a
/// Redis round trip.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_our_parameters() {
        let hasher = Hasher::new(2);
        let password = Password::parse("correct horse battery staple").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        let wrong = Password::for_verification("incorrect horse battery");
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&password, None).await.unwrap());
        assert!(matches!(
            hasher.verify(&password, Some("garbage")).await,
            Err(HashError::CorruptHash)
        ));
    }

    #[test]
    fn compatible_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let password = b"correct horse battery staple";
        let ours = hash_phc(password, &new_salt()).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(password, &parsed).is_ok());
        // A hash from the crate's own API, with older parameters, verifies here.
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(password, &new_salt())
        .unwrap()
        .to_string();
        assert!(verify_phc(password, &theirs).unwrap());
        assert!(!verify_phc(b"another password entirely", &theirs).unwrap());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(password, &new_salt())
            .unwrap()
            .to_string();
        assert!(verify_phc(password, &argon2i).unwrap());
    }

    #[test]
    fn tokens_are_256_bit_and_digests_hide_them() {
        let a = new_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, new_token());
        assert_eq!(token_digest(&a).len(), 64);
        let session = new_session_token("user-1");
        assert!(looks_like_token(&session), "{session}");
        assert!(session.starts_with(&routing_tag("user-1")));
        assert_ne!(session, new_session_token("user-1"));
        assert!(session_digest(&session).starts_with(&format!("{}.", &session[..4])));
        assert!(!looks_like_token("short"));
    }
}
