//! The filesystem view of a plan: entries with an access and a reason, and
//! the one rule that decides what a path gets — the deepest entry that
//! contains it wins, so a deny inside a read root hides, and a bundle file
//! inside a denied directory is still readable.

use std::path::{Path, PathBuf};

use serde::Serialize;

use sandspawn_linux::pathcmp::Keyed;

use crate::paths::depth;

/// What an entry grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Access {
    /// Readable, from the host, read-only.
    Read,
    /// Readable and writable, from the host.
    Write,
    /// An empty private writable directory (the host's content is hidden).
    Tmpfs,
    /// A symlink the sandbox recreates (e.g. /bin -> usr/bin on merged-/usr hosts).
    Link {
        /// The link's target as stored.
        target: PathBuf,
    },
    /// Hidden.
    Deny,
}

/// What a denied path is on the host, so enforcement can mask it properly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A directory.
    Dir,
    /// A file (or anything that is not a directory).
    File,
    /// Absent at plan time: nothing to hide.
    Missing,
    /// Present but neither readable nor searchable by the caller, so not by
    /// the sandbox either (same uid, fewer capabilities): nothing to hide.
    Unreadable,
}

/// One entry of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsEntry {
    /// Absolute path.
    pub path: PathBuf,
    /// What it grants.
    pub access: Access,
    /// Why it is there ("system", "preset readonly", "trust bundle: SSL_CERT_FILE…").
    pub reason: String,
    /// For deny entries: what is being hidden. For read and write roots:
    /// `Missing` when absent on the host (listed, not mounted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<PathKind>,
    /// For deny and policy grant entries reached through a symlink on the
    /// host: the deepest such link (the path itself when it is one). A
    /// grant that binds the view above the link shows the link, which
    /// leads to the resolved path, decided by its own entry: a mount here
    /// would sit behind the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_link: Option<PathBuf>,
    /// A protected path (.git, .sandspawn, own state, a CA input) inside a
    /// writable root: read-only. On a deny (a CA input that holds a key):
    /// hidden, with the directories above it kept in place all the same.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
}

/// The whole view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FsView {
    /// Entries in insertion order (lowering sorts them).
    pub entries: Vec<FsEntry>,
}

impl FsView {
    /// Add an entry unless one with the same path and access exists, and
    /// return that entry (the new one or the one already there). Write
    /// includes read: a read of a path already writable is dropped (`None`),
    /// and a write of a path already readable upgrades that entry.
    pub fn add(
        &mut self,
        path: PathBuf,
        access: Access,
        reason: impl Into<String>,
    ) -> Option<&mut FsEntry> {
        // The new path is compared with every entry (up to three passes):
        // its spelling is scanned once, an entry's only when the bytes
        // cannot decide (`Keyed::same_as`).
        let key = Keyed::new(&path);
        let same = |e: &FsEntry| key.same_as(&e.path);
        if access == Access::Read
            && self
                .entries
                .iter()
                .any(|e| e.access == Access::Write && same(e))
        {
            return None;
        }
        if access == Access::Write {
            self.entries
                .retain(|e| !(e.access == Access::Read && same(e)));
        }
        let at = match self
            .entries
            .iter()
            .position(|e| e.access == access && same(e))
        {
            Some(at) => at,
            None => {
                self.entries.push(FsEntry {
                    path,
                    access,
                    reason: reason.into(),
                    kind: None,
                    via_link: None,
                    protected: false,
                });
                self.entries.len() - 1
            }
        };
        self.entries.get_mut(at)
    }

    /// The entry deciding `path`: the deepest containing entry. At equal
    /// depth a deny beats a host grant (fail closed), and a private tmpfs
    /// beats a deny: it shows none of the host's content either.
    pub fn decide(&self, path: &Path) -> Option<&FsEntry> {
        let key = Keyed::new(path);
        self.entries
            .iter()
            .filter(|e| key.starts_with_path(&e.path))
            .max_by_key(|e| (depth(&e.path), tie_rank(&e.access)))
    }

    /// Whether `entry` loses the tie at its own path: a deny there hides a
    /// grant (`--write x --deny x`, a protected `.git` also denied), a
    /// private tmpfs replaces a deny. Such an entry promises nothing, so
    /// `explain` must not list it as granted nor `--verify` check it.
    pub fn overridden(&self, entry: &FsEntry) -> bool {
        let rank = tie_rank(&entry.access);
        let key = Keyed::new(&entry.path);
        self.entries
            .iter()
            .any(|e| tie_rank(&e.access) > rank && key.same_as(&e.path))
    }

    /// Whether `path` can be read (or, for a link entry, followed).
    pub fn readable(&self, path: &Path) -> bool {
        matches!(
            self.decide(path).map(|e| &e.access),
            Some(Access::Read | Access::Write | Access::Tmpfs | Access::Link { .. })
        )
    }

    /// Whether `path` can be written.
    pub fn writable(&self, path: &Path) -> bool {
        matches!(
            self.decide(path).map(|e| &e.access),
            Some(Access::Write | Access::Tmpfs)
        )
    }

    /// Entries with the given kind of access.
    pub fn with<'a>(
        &'a self,
        pred: impl Fn(&Access) -> bool + 'a,
    ) -> impl Iterator<Item = &'a FsEntry> + 'a {
        self.entries.iter().filter(move |e| pred(&e.access))
    }
}

/// Order of entries at the same path; see [`FsView::decide`].
pub(crate) fn tie_rank(access: &Access) -> u8 {
    match access {
        Access::Tmpfs => 2,
        Access::Deny => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepest_entry_wins_and_deny_wins_ties() {
        let mut v = FsView::default();
        v.add("/".into(), Access::Read, "read-all");
        v.add("/home/u/.ssh".into(), Access::Deny, "deny");
        v.add("/home/u/.ssh/known_hosts".into(), Access::Read, "explicit");
        v.add("/work".into(), Access::Write, "write");
        v.add("/work".into(), Access::Deny, "deny same path");
        assert!(v.readable(Path::new("/etc/passwd")));
        assert!(!v.readable(Path::new("/home/u/.ssh/id_ed25519")));
        assert!(v.readable(Path::new("/home/u/.ssh/known_hosts")));
        assert!(!v.readable(Path::new("/work/x")));
        assert!(!v.writable(Path::new("/etc")));
        v.add("/home/u".into(), Access::Deny, "deny home");
        v.add("/home/u".into(), Access::Tmpfs, "private home");
        assert!(
            v.writable(Path::new("/home/u")),
            "tmpfs beats deny at the same path"
        );
    }

    #[test]
    fn an_entry_losing_the_tie_at_its_own_path_is_overridden() {
        let mut v = FsView::default();
        v.add("/work".into(), Access::Write, "write");
        v.add("/work/src".into(), Access::Write, "write");
        v.add("/work/src".into(), Access::Deny, "deny same path");
        v.add("/home/u".into(), Access::Deny, "deny home");
        v.add("/home/u".into(), Access::Tmpfs, "private home");
        let is = |path: &str, access: Access| {
            let e = v
                .entries
                .iter()
                .find(|e| e.path == Path::new(path) && e.access == access)
                .unwrap();
            v.overridden(e)
        };
        assert!(is("/work/src", Access::Write));
        assert!(!is("/work/src", Access::Deny));
        assert!(
            !is("/work", Access::Write),
            "a deeper deny does not override"
        );
        assert!(is("/home/u", Access::Deny));
        assert!(!is("/home/u", Access::Tmpfs));
    }

    #[test]
    fn nothing_is_readable_in_an_empty_view() {
        let v = FsView::default();
        assert!(!v.readable(Path::new("/")));
        assert!(v.decide(Path::new("/x")).is_none());
    }
}
