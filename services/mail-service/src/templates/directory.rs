//! Templates from a directory (`TEMPLATE_DIR`): reading them, and the fingerprint that tells
//! a reload is due.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::email::EmailKind;
use tracing::warn;

use super::registry::{PARTS, TemplateError, Templates};

/// Where every template file resolves to, with its mtime and size.
pub(super) type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

impl Templates {
    /// The built-ins with every template found in `dir` in place of (or next to) them.
    pub fn with_dir(dir: &Path) -> Result<Self, TemplateError> {
        Self::with_overrides(read_dir_sources(dir)?)
    }
}

/// Reads `<dir>/<kind>/<locale>/<part>` for the known parts, following symlinks and skipping
/// hidden entries (a ConfigMap mount's `..data` and timestamped directories are reached through
/// the visible symlinks).
fn read_dir_sources(dir: &Path) -> Result<Vec<(String, String)>, TemplateError> {
    let io = |path: &Path, e: std::io::Error| TemplateError::Io(format!("{}: {e}", path.display()));
    let mut sources = Vec::new();
    for kind_dir in visible_dirs(dir).map_err(|e| io(dir, e))? {
        let kind = file_name(&kind_dir);
        if !EmailKind::ALL.iter().any(|k| k.as_str() == kind) {
            warn!(dir = %kind_dir.display(), "template directory for an unknown kind ignored");
            continue;
        }
        for locale_dir in visible_dirs(&kind_dir).map_err(|e| io(&kind_dir, e))? {
            let locale = file_name(&locale_dir);
            for part in PARTS {
                let path = locale_dir.join(part);
                match std::fs::read_to_string(&path) {
                    Ok(source) => sources.push((format!("{kind}/{locale}/{part}"), source)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path, e)),
                }
            }
        }
    }
    Ok(sources)
}

fn visible_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !file_name(&path).starts_with('.') && path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where every template file resolves to, and its size and mtime: a ConfigMap update changes
/// the resolved paths, an in-place edit the mtime or size.
pub(super) fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files = Vec::new();
    let Ok(kinds) = visible_dirs(dir) else {
        return files;
    };
    for kind_dir in kinds {
        for locale_dir in visible_dirs(&kind_dir).unwrap_or_default() {
            for part in PARTS {
                let path = locale_dir.join(part);
                if let Ok(meta) = std::fs::metadata(&path) {
                    let resolved = std::fs::canonicalize(&path).unwrap_or(path);
                    files.push((resolved, meta.modified().ok(), meta.len()));
                }
            }
        }
    }
    files
}
