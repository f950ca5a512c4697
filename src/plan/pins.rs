//! What each user root is when the plan first looks at it, by identity
//! (device and inode), so that enforcement can refuse a root that was
//! replaced after the plan judged it (`sandspawn_linux::pin`).
//!
//! Recorded: the policy's read and write roots (by the path as written and,
//! for one written through a link, by the path it leads to, which is what
//! gets mounted), the working directory and the protected paths bound
//! read-only inside writable roots. These lie where the user, and so a
//! sandbox the user started with `--write`, can write. Not recorded:
//! the system roots (/usr, /etc…: only root writes there, and a process
//! that can is past any sandbox) and, outside writable roots, sandspawn's
//! own directories and files (its cache and state: created and checked for
//! ownership by sandspawn, never writable inside a sandbox; its trust
//! bundles are rewritten by sandspawn itself, new inodes each time).

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sandspawn_linux::{FileId, Mount, Pin};

use super::assemble::Alias;
use crate::policy::Policy;

/// Identities by path.
pub(crate) type Ids = HashMap<PathBuf, FileId>;

/// A root or protected path that the plan could not identify although it
/// is there (or was, for the check that judged it).
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}; nothing was run: check what writes there, then start again", path.display())]
pub struct PinError {
    /// The path, as planned.
    pub path: PathBuf,
    /// What went wrong.
    pub problem: String,
}

/// The record of a root absent when the plan looked: no object has this
/// identity (inode 0 is never a file's), so a bind of it (it appeared
/// while the plan was made, after its checks) is refused at the start,
/// while a root that stays absent is not bound and never compared.
pub(crate) const ABSENT: FileId = FileId { dev: 0, ino: 0 };

/// `path`'s own identity: none when absent or a link at its end (the path
/// it leads to is recorded instead, see [`add_resolved`]). Links above
/// it are followed, so the identity is that of the object the path names.
/// Any other failure (EACCES, ELOOP above it) is an error: a path the
/// plan cannot identify is not pinned, and would be bound unchecked.
fn identify(path: &Path) -> Result<Option<FileId>, PinError> {
    let fail = |e: std::io::Error| PinError {
        path: path.to_path_buf(),
        problem: format!("cannot be identified for the check at start ({e})"),
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    if meta.file_type().is_symlink() {
        return Ok(None);
    }
    let mut id = FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    };
    if meta.is_dir() {
        // An automount point (autofs) shows its own inode to lstat, which
        // does not mount it; bwrap's bind does, and then shows the mounted
        // one. An open with O_DIRECTORY mounts it (O_NOFOLLOW: a link
        // there now fails, and the lstat's record stands, to be refused).
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path);
        if let Ok(meta) = opened.and_then(|f| f.metadata()) {
            id = FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            };
        }
    }
    Ok(Some(id))
}

/// Nothing at the path: absent, or a file where a directory is named.
fn absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The roots' identities, taken before any check of where they lead.
pub(super) fn record(policy: &Policy, cwd: &Path) -> Result<Ids, PinError> {
    let roots = (policy.read.iter())
        .chain(&policy.write)
        .map(|r| r.path.as_path());
    record_paths(roots.chain(std::iter::once(cwd)))
}

fn record_paths<'a>(roots: impl Iterator<Item = &'a Path>) -> Result<Ids, PinError> {
    let mut ids = Ids::new();
    for path in roots {
        let absent = std::fs::symlink_metadata(path).is_err_and(|e| absent(&e));
        match identify(path)? {
            Some(id) => ids.insert(path.to_path_buf(), id),
            None if absent => ids.insert(path.to_path_buf(), ABSENT),
            None => None,
        };
    }
    Ok(ids)
}

/// A root written through a link is mounted at the path it leads to: the
/// same object as the written path when only a directory above it is a
/// link, else the target's identity now.
pub(super) fn add_resolved(
    ids: &mut Ids,
    aliases: &HashMap<PathBuf, Alias>,
) -> Result<(), PinError> {
    for (written, alias) in aliases {
        let id = match ids.get(written) {
            Some(id) => *id,
            None => identify(&alias.resolved)?.unwrap_or(ABSENT),
        };
        ids.entry(alias.resolved.clone()).or_insert(id);
    }
    Ok(())
}

/// The protected paths inside writable roots (bound read-only over
/// them): a writer of the root can replace them too. `.git` and
/// `.sandspawn` were recorded by the check that judged them
/// (`protect::probe`); the rest (git's hooks and included files, sandspawn's
/// own state, CA inputs) are recorded here, just after their checks, which
/// saw each there: one gone or a link by now was replaced in that short
/// stretch of planning, and is refused.
pub(super) fn add_protected(ids: &mut Ids, protected: &[PathBuf]) -> Result<(), PinError> {
    for path in protected {
        if ids.contains_key(path) {
            continue;
        }
        let Some(id) = identify(path)? else {
            return Err(PinError {
                path: path.clone(),
                problem: "was checked a moment ago and is gone or a link now: \
                          something is replacing it (a sandbox still running there?)"
                    .into(),
            });
        };
        ids.insert(path.clone(), id);
    }
    Ok(())
}

/// The pins of a lowered spec: each bind with a recorded identity that
/// no later operation at the same path replaces.
pub(super) fn for_mounts(mounts: &[Mount], ids: &Ids) -> Vec<Pin> {
    if ids.is_empty() {
        return Vec::new();
    }
    // From the last operation back: a path met before (later in the
    // spec) is replaced by that later operation.
    let mut later = std::collections::HashSet::with_capacity(mounts.len());
    let mut pins = Vec::new();
    for mount in mounts.iter().rev() {
        if !later.insert(mount.path()) {
            continue;
        }
        let (Mount::ReadOnly { path } | Mount::ReadWrite { path }) = mount else {
            continue;
        };
        if let Some(id) = ids.get(path) {
            pins.push(Pin {
                path: path.clone(),
                id: *id,
            });
        }
    }
    pins.reverse();
    pins
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root is recorded as the object it is; one whose last component
    /// is a link is recorded by the path it leads to (what gets mounted),
    /// never as the link; an absent one not at all.
    #[test]
    fn roots_are_recorded_as_objects_never_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, out, real) = (
            dir.path().join("ws"),
            dir.path().join("ws/out"),
            dir.path().join("real"),
        );
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let gone = dir.path().join("gone");
        let roots = [out.as_path(), link.as_path(), gone.as_path(), ws.as_path()];
        let mut ids = record_paths(roots.into_iter()).unwrap();
        let id = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            FileId {
                dev: m.dev(),
                ino: m.ino(),
            }
        };
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!(ids[&gone], ABSENT);
        assert_eq!(ids[&out], id(&out));
        assert_eq!(ids[&ws], id(&ws));
        let alias = Alias {
            link: link.clone(),
            resolved: real.clone(),
        };
        add_resolved(&mut ids, &HashMap::from([(link, alias)])).unwrap();
        assert_eq!(ids[&real], id(&real));
    }

    /// Only binds are pinned, and only where no later operation at the
    /// same path (a mask, a tmpfs) replaces what the bind showed.
    #[test]
    fn pins_are_the_binds_that_stay_in_view() {
        let fid = |ino| FileId { dev: 1, ino };
        let ids = Ids::from([
            (PathBuf::from("/ws"), fid(1)),
            (PathBuf::from("/ws/out"), fid(2)),
            (PathBuf::from("/ro"), fid(3)),
            (PathBuf::from("/hidden"), fid(4)),
        ]);
        let mounts = vec![
            Mount::ReadWrite { path: "/ws".into() },
            Mount::ReadOnly { path: "/ro".into() },
            Mount::ReadOnly {
                path: "/hidden".into(),
            },
            Mount::ReadOnly {
                path: "/usr".into(),
            },
            Mount::ReadWrite {
                path: "/ws/out".into(),
            },
            Mount::Mask {
                path: "/hidden".into(),
                is_dir: true,
            },
        ];
        let pins: Vec<(String, u64)> = for_mounts(&mounts, &ids)
            .into_iter()
            .map(|p| (p.path.display().to_string(), p.id.ino))
            .collect();
        let want = [("/ws", 1), ("/ro", 3), ("/ws/out", 2)];
        assert_eq!(pins, want.map(|(p, i)| (p.to_string(), i)));
    }

    /// A root that is there but cannot be identified (here ELOOP: a link
    /// loop above it) is refused, not left unpinned to be bound unchecked;
    /// so is a protected path its check saw that is gone or a link by now.
    #[test]
    fn an_unidentified_root_or_protected_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let root = looped.join("ws");
        let err = record_paths(std::iter::once(root.as_path())).unwrap_err();
        assert_eq!(err.path, root);
        let eloop = std::io::Error::from_raw_os_error(libc::ELOOP);
        assert_eq!(
            err.problem,
            format!("cannot be identified for the check at start ({eloop})")
        );

        let (config, elsewhere) = (dir.path().join("config"), dir.path().join("elsewhere"));
        std::fs::write(&elsewhere, "").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &config).unwrap();
        let gone = dir.path().join("gone");
        for path in [config, gone] {
            let err = add_protected(&mut Ids::new(), std::slice::from_ref(&path)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{}: was checked a moment ago and is gone or a link now: something is \
                     replacing it (a sandbox still running there?); nothing was run: check what \
                     writes there, then start again",
                    path.display()
                )
            );
        }
    }
}
