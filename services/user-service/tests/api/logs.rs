//! Everything the application logs while the tests run, at every level, kept in memory so a
//! test can check that no secret reached the logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static LOGS: OnceLock<Buffer> = OnceLock::new();

/// Starts capturing (once per test binary; later calls keep the same capture).
pub fn capture() {
    LOGS.get_or_init(|| {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            // Everything of the service's own (its audit lines too); only warnings of the libraries (their trace
            // output would slow every other test of the binary down).
            .with_env_filter("user_service=trace,user_platform_common=trace,audit=trace,warn")
            .with_ansi(false)
            .with_writer(buffer.clone())
            .finish();
        // Another test binary's subscriber is not ours to replace; then nothing is captured.
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    });
}

/// What was logged since `capture`.
pub fn text() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.0.lock().unwrap()).into_owned())
        .unwrap_or_default()
}
