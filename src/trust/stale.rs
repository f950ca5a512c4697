//! Leftovers of interrupted cache writes.
//!
//! A bundle or memo is written to a temporary file in the cache directory
//! and renamed into place; a sandspawn killed in between (Ctrl-C, SIGTERM
//! from an MCP host during a cold start) leaves the temporary file behind,
//! and nothing else would ever remove it.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Old enough that no live writer still owns it: a write takes
/// milliseconds.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// Remove temporary files (`.tmp*`, `.memo-*`) older than [`STALE_AFTER`]
/// from `dir`. Best effort: whatever cannot be read or removed stays.
pub(crate) fn prune(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_encoded_bytes();
        if !(name.starts_with(b".tmp") || name.starts_with(b".memo-")) {
            continue;
        }
        // Not followed: only regular files of ours are temporaries.
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if meta.is_file() && old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_temporaries_go_and_fresh_ones_and_bundles_stay() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        for name in [".tmpOld123", ".memo-Old456", "ab.pem", ".tmpFresh"] {
            fs::write(dir.path().join(name), "x").unwrap();
        }
        for name in [".tmpOld123", ".memo-Old456", "ab.pem"] {
            let f = fs::File::options()
                .write(true)
                .open(dir.path().join(name))
                .unwrap();
            f.set_modified(old).unwrap();
        }
        super::super::bundle::store(dir.path(), b"content").unwrap();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != &super::super::bundle::file_name(b"content"))
            .collect();
        left.sort();
        assert_eq!(left, [".tmpFresh", "ab.pem"]);
    }
}
