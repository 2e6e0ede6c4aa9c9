/// Why a value was refused: a stable machine code plus a human sentence that never quotes a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub detail: String,
}

impl Invalid {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}
