//! PATH on the Landlock backend: the directories the sandbox hides are left
//! out of it.
//!
//! Landlock governs opening, not lookup: a hidden directory's names can
//! still be `stat`ed and `access(X_OK)` says yes. A PATH search that meets
//! a hidden entry first (a pyenv shim directory before /usr/bin) either
//! fails with EACCES where bwrap's ENOENT would have let it go on, or, as
//! Python does to find `sys.executable`, takes the hidden name for its own:
//! `python3 -m venv` then links the venv to a program that cannot run.
//! Without those entries a search sees what it sees under bwrap, where the
//! hidden directories are not there at all.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::{Access, FsView};
use crate::paths::is_within;

/// PATH without its absolute entries that are not readable in `fs` at the
/// real path `resolve` gives (their own name when it gives none: Landlock
/// follows files, not names, so a link to a granted directory opens and a
/// readable link to a hidden one does not), and
/// that hold no grant of their own (the MCP profile grants `~/.local/bin/uvx`
/// alone, and a search finds it there). None when every entry stays.
/// Relative and empty entries (the working directory) are the child's
/// business and stay.
pub(super) fn visible_entries(
    value: &OsStr,
    fs: &FsView,
    resolve: impl Fn(&Path) -> Option<PathBuf>,
) -> Option<OsString> {
    let entries: Vec<&[u8]> = value.as_bytes().split(|&b| b == b':').collect();
    let keep = |e: &&[u8]| {
        let path = Path::new(OsStr::from_bytes(e));
        if !path.is_absolute() {
            return true;
        }
        // Landlock follows links: what a search through a link reaches is
        // decided at its real path alone, whatever its name's tree allows.
        let real = resolve(path).filter(|r| r != path);
        let at = real.as_deref().unwrap_or(path);
        fs.readable(at)
            || fs
                .with(|a| matches!(a, Access::Read | Access::Write | Access::Link { .. }))
                .any(|e| is_within(&e.path, at) || is_within(&e.path, path))
    };
    let kept: Vec<&[u8]> = entries.iter().copied().filter(keep).collect();
    if kept.len() == entries.len() {
        return None;
    }
    Some(OsString::from_vec(kept.join(&b':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_entries_go_and_the_rest_keeps_its_order() {
        let mut fs = FsView::default();
        fs.add("/usr".into(), Access::Read, "system");
        fs.add("/opt".into(), Access::Read, "system");
        fs.add(
            "/home/u/.local/bin/uvx".into(),
            Access::Read,
            "mcp: launcher",
        );
        fs.add(
            "/home/u/.cache/sandspawn/home".into(),
            Access::Write,
            "landlock: HOME",
        );
        let path = OsStr::new(
            "/home/u/.pyenv/shims:/usr/local/bin:/home/u/bin:/home/u/.local/bin:/usr/bin::bin:/home/u/.cache/sandspawn/home/.local/bin",
        );
        // ~/bin is a link to /opt/bin: it opens under Landlock, so it stays;
        // ~/.local/bin holds a granted launcher, so it stays too.
        let resolve = |p: &Path| (p == Path::new("/home/u/bin")).then(|| PathBuf::from("/opt/bin"));
        assert_eq!(
            visible_entries(path, &fs, resolve).as_deref(),
            Some(OsStr::new(
                "/usr/local/bin:/home/u/bin:/home/u/.local/bin:/usr/bin::bin:/home/u/.cache/sandspawn/home/.local/bin"
            ))
        );
        // Nothing hidden: unchanged, and said so.
        assert_eq!(
            visible_entries(OsStr::new("/usr/bin:/opt/x"), &fs, |_| None),
            None
        );
        // A readable name whose real path is hidden (~/bin a link to the
        // hidden shims, under a readable HOME) goes: Landlock follows the
        // link, and a search there stops at EACCES.
        let mut under_home = FsView::default();
        under_home.add("/home/u".into(), Access::Read, "--read");
        under_home.add("/home/u/.pyenv".into(), Access::Deny, "--deny");
        under_home.add("/usr".into(), Access::Read, "system");
        let to_shims = |p: &Path| {
            (p == Path::new("/home/u/bin")).then(|| PathBuf::from("/home/u/.pyenv/shims"))
        };
        assert_eq!(
            visible_entries(OsStr::new("/home/u/bin:/usr/bin"), &under_home, to_shims).as_deref(),
            Some(OsStr::new("/usr/bin"))
        );
        // Non-UTF-8 entries are compared as bytes, never altered.
        let odd = OsStr::from_bytes(b"/usr/\xffbin:/home/u/.cargo/bin");
        assert_eq!(
            visible_entries(odd, &fs, |_| None).as_deref(),
            Some(OsStr::from_bytes(b"/usr/\xffbin"))
        );
    }
}
