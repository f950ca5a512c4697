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
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sandspawn_linux::{FileId, Mount, Pin};

use super::assemble::Alias;
use crate::policy::Policy;

/// Identities by path.
pub(crate) type Ids = HashMap<PathBuf, FileId>;

/// `path`'s own identity: none when absent or a link at its end (the path
/// it leads to is recorded instead, see [`add_resolved`]). Links above
/// it are followed, so the identity is that of the object the path names.
fn identify(path: &Path) -> Option<FileId> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    (!meta.file_type().is_symlink()).then(|| FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// The roots' identities, taken before any check of where they lead.
pub(super) fn record(policy: &Policy, cwd: &Path) -> Ids {
    let roots = (policy.read.iter())
        .chain(&policy.write)
        .map(|r| r.path.as_path());
    record_paths(roots.chain(std::iter::once(cwd)))
}

fn record_paths<'a>(roots: impl Iterator<Item = &'a Path>) -> Ids {
    let mut ids = Ids::new();
    for path in roots {
        if let Some(id) = identify(path) {
            ids.insert(path.to_path_buf(), id);
        }
    }
    ids
}

/// A root written through a link is mounted at the path it leads to: the
/// same object as the written path when only a directory above it is a
/// link, else the target's identity now.
pub(super) fn add_resolved(ids: &mut Ids, aliases: &HashMap<PathBuf, Alias>) {
    for (written, alias) in aliases {
        let id = ids
            .get(written)
            .copied()
            .or_else(|| identify(&alias.resolved));
        if let Some(id) = id {
            ids.entry(alias.resolved.clone()).or_insert(id);
        }
    }
}

/// The protected paths inside writable roots (bound read-only over
/// them): a writer of the root can replace them too. `.git` and
/// `.sandspawn` were recorded by the check that judged them
/// (`protect::probe`); the rest (git's hooks and included files, sandspawn's
/// own state, CA inputs) are recorded here, just after their checks: a
/// swap inside that short stretch of planning leaves a link here, which is
/// not recorded, and the mount follows it as before.
pub(super) fn add_protected(ids: &mut Ids, protected: &[PathBuf]) {
    for path in protected {
        if ids.contains_key(path) {
            continue;
        }
        if let Some(id) = identify(path) {
            ids.insert(path.clone(), id);
        }
    }
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
        let mut ids = record_paths(roots.into_iter());
        let id = |p: &Path| {
            let m = std::fs::metadata(p).unwrap();
            FileId {
                dev: m.dev(),
                ino: m.ino(),
            }
        };
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(ids[&out], id(&out));
        assert_eq!(ids[&ws], id(&ws));
        let alias = Alias {
            link: link.clone(),
            resolved: real.clone(),
        };
        add_resolved(&mut ids, &HashMap::from([(link, alias)]));
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
}
