//! sandspawn's own directories: where they are under either default (what
//! a plan protects and hides beyond the paths of its own environment), and
//! making and checking those it keeps private.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::assemble::lookup;
use super::BuildError;

/// The cache roots and config directories sandspawn takes under either
/// default, `$XDG_*_HOME/sandspawn` and `~/.cache/sandspawn`,
/// `~/.config/sandspawn`: a run whose environment names one may share a
/// writable root with the other, which runs of another environment use
/// (a shell's XDG_CACHE_HOME, an MCP client's servers given HOME alone).
/// A memo or policy the child wrote there would be trusted by them.
pub(super) fn default_own_dirs(env: &[(OsString, OsString)]) -> Vec<PathBuf> {
    let mut dirs = default_cache_roots(env);
    dirs.extend(xdg_or_home(env, "XDG_CONFIG_HOME", ".config"));
    dirs
}

/// `$XDG_CACHE_HOME/sandspawn` and `~/.cache/sandspawn`, those that can be
/// named (absolute).
pub(super) fn default_cache_roots(env: &[(OsString, OsString)]) -> Vec<PathBuf> {
    xdg_or_home(env, "XDG_CACHE_HOME", ".cache")
}

/// `$XDG/sandspawn` and `$HOME/DOT/sandspawn`, each when absolute.
fn xdg_or_home(env: &[(OsString, OsString)], xdg: &str, dot: &str) -> Vec<PathBuf> {
    let absolute = |name: &str| {
        lookup(env, name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    [absolute(xdg), absolute("HOME").map(|h| h.join(dot))]
        .into_iter()
        .flatten()
        .map(|d| d.join("sandspawn"))
        .collect()
}

/// Create `path` (0700) if needed; it holds what stands in for a private
/// mount, so one that is not ours alone (planted in a shared cache) is
/// refused.
pub(super) fn make_private_dir(path: &Path) -> Result<PathBuf, BuildError> {
    use std::os::unix::fs::DirBuilderExt;
    let io_err = |source| BuildError::PrivateDir {
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_err)?;
    check_own_dir(path, &crate::trust::PRIVATE_DIR, true)?;
    // By its real path: under a symlinked HOME the written one has a link
    // hop the plan would have to grant, and Landlock holds the inode anyway.
    std::fs::canonicalize(path).map_err(|source| BuildError::PrivateDir {
        path: path.to_path_buf(),
        source,
    })
}

/// `path` must be a directory that `rule` accepts, and with `no_link` not
/// a symlink: another user's directory or a link planted in a shared cache
/// would hand what the sandbox keeps there (a server's packages, a
/// sandbox's HOME) to them.
pub(crate) fn check_own_dir(
    path: &Path,
    rule: &crate::trust::DirRule,
    no_link: bool,
) -> Result<(), BuildError> {
    let meta = if no_link {
        std::fs::symlink_metadata(path)
    } else {
        std::fs::metadata(path)
    }
    .map_err(|source| BuildError::PrivateDir {
        path: path.to_path_buf(),
        source,
    })?;
    let problem = if meta.file_type().is_symlink() {
        Some("is a symlink".to_string())
    } else if !meta.is_dir() {
        Some("is not a directory".to_string())
    } else {
        crate::trust::not_ours(&meta, rule)
    };
    match problem {
        Some(problem) => Err(BuildError::UnsafePrivateDir {
            path: path.to_path_buf(),
            problem,
        }),
        None => Ok(()),
    }
}
