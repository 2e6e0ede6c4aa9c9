//! Reading configuration from environment variables.
//!
//! Every problem is collected before failing, so an operator fixing a Deployment sees all of
//! them at once, and every message names the variable. Values are never echoed: a variable may
//! hold a secret, and a typo in one should not end up in a log aggregator.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// One variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarError {
    pub name: String,
    pub problem: String,
}

impl fmt::Display for VarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.problem)
    }
}

/// All configuration problems found, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<VarError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration")?;
        for error in &self.0 {
            write!(f, "\n  - {error}")?;
        }
        Ok(())
    }
}

/// Reads typed values from an environment and remembers what went wrong.
pub struct Env {
    vars: HashMap<String, String>,
    errors: Vec<VarError>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    /// An explicit environment from name/value pairs, for tests.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// An explicit environment, for tests and embedding.
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self {
            vars,
            errors: Vec::new(),
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        // An empty variable is what `env: [{name: X, value: ""}]` or an unset Helm value gives:
        // treat it as absent rather than as an empty string nobody meant.
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn fail(&mut self, name: &str, problem: impl Into<String>) {
        self.errors.push(VarError {
            name: name.to_owned(),
            problem: problem.into(),
        });
    }

    /// A variable that must be set. Returns `None` (and records the error) when it is not.
    pub fn required<T>(&mut self, name: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        if self.raw(name).is_none() {
            self.fail(name, "is required but not set");
            return None;
        }
        self.optional_opt(name)
    }

    /// A variable with a default.
    pub fn optional<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional_opt(name).unwrap_or(default)
    }

    /// A variable that may be absent.
    pub fn optional_opt<T>(&mut self, name: &str) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.raw(name).map(|v| v.trim().parse::<T>()) {
            Some(Ok(value)) => Some(value),
            Some(Err(e)) => {
                self.fail(name, format!("invalid value: {e}"));
                None
            }
            None => None,
        }
    }

    /// A secret kept verbatim (no trimming): passwords may legitimately end in spaces. Held as
    /// a `SecretString`, whose `Debug` prints `[REDACTED]`, so it cannot reach a log by a `{:?}`.
    pub fn secret(&mut self, name: &str) -> Option<SecretString> {
        self.vars
            .get(name)
            .filter(|v| !v.is_empty())
            .map(|v| SecretString::from(v.as_str()))
    }

    /// A secret that must be set (a connection string with a password, say).
    pub fn required_secret(&mut self, name: &str) -> Option<SecretString> {
        let value = self.secret(name);
        if value.is_none() {
            self.fail(name, "is required but not set");
        }
        value
    }

    /// A duration such as `30s`, `15m`, `24h` or `1h 30m`.
    pub fn duration(&mut self, name: &str, default: Duration) -> Duration {
        self.optional::<HumanDuration>(name, HumanDuration(default))
            .0
    }

    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
    pub fn flag(&mut self, name: &str, default: bool) -> bool {
        self.optional::<Flag>(name, Flag(default)).0
    }

    /// Records a problem found by a check across several variables.
    pub fn invalid(&mut self, name: &str, problem: impl Into<String>) {
        self.fail(name, problem);
    }

    /// Fails with every problem recorded so far.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.errors))
        }
    }
}

/// A duration parsed from humantime syntax (`10s`, `5m`, `1h 30m`).
#[derive(Debug, Clone, Copy)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s)
            .map(HumanDuration)
            .map_err(|e| format!("{e} (expected a duration such as 30s, 15m or 24h)"))
    }
}

#[derive(Debug, Clone, Copy)]
struct Flag(bool);

impl FromStr for Flag {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Flag(true)),
            "false" | "0" | "no" | "off" => Ok(Flag(false)),
            _ => Err("expected true or false"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn collects_every_problem_and_names_each_variable() {
        let mut e = env(&[("PORT", "eighty"), ("TTL", "forever")]);
        let _: Option<String> = e.required("URL");
        let _: Option<u16> = e.required("PORT");
        let _ = e.duration("TTL", Duration::from_secs(1));
        let err = e.finish().unwrap_err();
        let names: Vec<_> = err.0.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["URL", "PORT", "TTL"]);
        let text = err.to_string();
        assert!(text.contains("URL: is required"), "{text}");
        assert!(!text.contains("eighty"), "values are never echoed: {text}");
    }

    #[test]
    fn empty_means_unset_and_defaults_apply() {
        let mut e = env(&[("A", ""), ("B", "2m"), ("C", "yes")]);
        assert_eq!(e.optional("A", 7u32), 7);
        assert_eq!(e.duration("B", Duration::ZERO), Duration::from_secs(120));
        assert!(e.flag("C", false));
        assert!(e.finish().is_ok());
    }

    #[test]
    fn secrets_are_verbatim_and_redacted_in_debug() {
        use secrecy::ExposeSecret;
        let mut e = env(&[("URL", "amqp://u:s3cr3t @h")]);
        let url = e.required_secret("URL").unwrap();
        assert_eq!(url.expose_secret(), "amqp://u:s3cr3t @h");
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert!(e.required_secret("MISSING").is_none());
        assert_eq!(e.finish().unwrap_err().0[0].name, "MISSING");
    }
}
