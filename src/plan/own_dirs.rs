//! Where sandspawn's own directories are under either default, and HOME
//! as the kernel opens it: what a plan protects and hides beyond the
//! paths of its own environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::assemble::lookup;
use crate::paths;

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

/// HOME where the kernel opens it, when it holds a `..` that climbs out
/// of a link ([`paths::dotdot_as_opened`]); `None` otherwise, and the
/// lexical path stands.
pub(super) fn home_as_opened(home: &Path) -> Option<PathBuf> {
    paths::dotdot_as_opened(home)
}
