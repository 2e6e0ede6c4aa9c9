//! Lua scripts held in statics: `redis::Script::new` hashes its source (SHA-1) on every call,
//! so a script made per call pays that on every run of a hot path (the session check, each
//! consumed message). A [`LuaScript`] hashes once per process, on first use.

use std::ops::Deref;
use std::sync::OnceLock;

use redis::Script;

/// A Lua script for `static` items: `static CLAIM: LuaScript = LuaScript::new(r"...");`, then
/// `CLAIM.key(..).arg(..)` as with a [`Script`] (it dereferences to one).
pub struct LuaScript {
    source: &'static str,
    script: OnceLock<Script>,
}

impl LuaScript {
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            script: OnceLock::new(),
        }
    }
}

impl Deref for LuaScript {
    type Target = Script;

    fn deref(&self) -> &Script {
        self.script.get_or_init(|| Script::new(self.source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ECHO: LuaScript = LuaScript::new("return ARGV[1]");

    #[test]
    fn hashes_once_and_as_redis_does() {
        assert_eq!(ECHO.get_hash(), Script::new("return ARGV[1]").get_hash());
        assert!(std::ptr::eq(&*ECHO, &*ECHO));
    }
}
