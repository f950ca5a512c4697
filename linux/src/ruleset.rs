//! Landlock: one ruleset from the helper policy, negotiated against the kernel.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, RulesetAttr,
    RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, ABI,
};

use crate::policy::{HelperPolicy, Level, Requirement};
use crate::spec::NetworkMode;

/// The newest ABI whose features we ask for; older kernels get what they
/// offer (best effort), newer ones add nothing we use.
pub const TARGET_ABI: ABI = ABI::V6;

/// Why the Landlock step failed.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    /// A rule's path could not be opened.
    #[error("landlock: opening {path}: {source}")]
    Path {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Building or enforcing the ruleset failed.
    #[error("landlock: {0}")]
    Ruleset(#[source] RulesetError),
    /// A rule's root is not the object the plan checked.
    #[error(transparent)]
    Changed(#[from] crate::pin::Changed),
    /// The policy requires Landlock but the kernel enforced nothing.
    #[error("landlock is required but not enforced by this kernel (ABI {abi})")]
    NotEnforced { abi: u32 },
}

impl From<RulesetError> for LandlockError {
    fn from(e: RulesetError) -> Self {
        LandlockError::Ruleset(e)
    }
}

/// Access rights for a level on a directory or a file.
fn rights(level: Level, is_dir: bool) -> BitFlags<AccessFs> {
    let all = match level {
        Level::None => BitFlags::empty(),
        Level::List => AccessFs::ReadDir.into(),
        Level::Read => AccessFs::from_read(TARGET_ABI),
        Level::Write => AccessFs::from_all(TARGET_ABI),
    };
    if is_dir {
        all
    } else {
        all & AccessFs::from_file(TARGET_ABI)
    }
}

/// Build and enforce the ruleset on the calling thread (inherited by the
/// exec'd target). Returns how much the kernel enforced.
///
/// Handled: every filesystem right of [`TARGET_ABI`]; TCP bind and connect
/// in `none` with no port allowed; abstract Unix sockets and signals scoped
/// to the sandbox. A rule path that does not exist grants nothing and is
/// skipped (fail closed).
pub fn apply(policy: &HelperPolicy) -> Result<RulesetStatus, LandlockError> {
    // Negotiate down to what the kernel offers either way; `Required` is
    // checked on the outcome (fail closed when nothing is enforced).
    let mut ruleset = landlock::Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TARGET_ABI))?;
    if policy.network == NetworkMode::None {
        ruleset = ruleset.handle_access(AccessNet::from_all(TARGET_ABI))?;
    }
    let mut created = ruleset.scope(Scope::from_all(TARGET_ABI))?.create()?;
    // Each pinned root is opened as its rule would be and checked on that
    // descriptor: the rule at its path is built from it, and the rules
    // below it (a split root's entries, a protected path inside) are
    // opened beneath it, not by a path that may lead elsewhere by now.
    let mut anchors: HashMap<&Path, Opened> = HashMap::with_capacity(policy.pins.len());
    for pin in &policy.pins {
        let opened = open(None, &pin.path)?;
        // Gone since the plan saw it, or another object: moved or replaced.
        if opened.as_ref().and_then(|(_, _, id)| *id) != Some(pin.id) {
            return Err(crate::pin::Changed {
                path: pin.path.clone(),
            }
            .into());
        }
        if anchors_rules_below(&pin.path) {
            anchors.extend(opened.map(|o| (pin.path.as_path(), o)));
        }
    }
    for (path, level) in &policy.rules {
        if *level == Level::None {
            continue;
        }
        if let Some((fd, is_dir, _)) = anchors.get(path.as_path()) {
            let rule = PathBeneath::new(fd.as_fd(), rights(*level, *is_dir));
            created = created.add_rule(rule)?;
            continue;
        }
        // The deepest anchor above it: its ancestors looked up, nearest
        // first (thousands of roots, each rule a handful of lookups).
        let beneath = (path.ancestors().skip(1))
            .find_map(|up| Some((anchors.get(up)?.0.as_fd(), path.strip_prefix(up).ok()?)));
        let Some((fd, is_dir, _)) = open(beneath, path)? else {
            continue;
        };
        created = created.add_rule(PathBeneath::new(fd, rights(*level, is_dir)))?;
    }
    let status = created.restrict_self()?;
    if policy.landlock == Requirement::Required && status.ruleset == RulesetStatus::NotEnforced {
        return Err(LandlockError::NotEnforced {
            abi: crate::sys::landlock_abi(),
        });
    }
    Ok(status.ruleset)
}

/// Whether the rules below a recorded root are opened beneath it. Not
/// below `/` (`--read /`, the read-all preset): there every rule would be
/// opened without following links, and the host's own links on the way to
/// rules the plan did not derive from that root (a container's `/dev/ptmx
/// -> pts/ptmx`, `/home -> var/home` on the way to a private HOME) would
/// read as a root changed since planning. Nothing below `/` is listed from
/// it either: a split of `/` lists its entries as rules of their own.
fn anchors_rules_below(root: &Path) -> bool {
    root.parent().is_some()
}

/// A rule's descriptor, whether it is a directory, and its identity (none
/// when `fstat` fails).
type Opened = (OwnedFd, bool, Option<crate::spec::FileId>);

/// Open `path` (`O_PATH`, following links, as before; with `beneath`, its
/// part below an anchor, opened in that directory) and tell a directory
/// from the rest by `fstat` on the descriptor: one path walk per rule, and
/// the type and identity are those of the very object the rule is attached
/// to.
fn open(
    beneath: Option<(BorrowedFd<'_>, &Path)>,
    path: &Path,
) -> Result<Option<Opened>, LandlockError> {
    let opened = match beneath {
        Some((dir, rel)) => crate::sys::open_path_beneath(dir, rel),
        None => crate::sys::open_path(path),
    };
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // Below a checked root, a link (or a way out of it) where the plan
        // listed none: the root's content changed since it was judged.
        Err(e)
            if beneath.is_some() && matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV)) =>
        {
            return Err(crate::pin::Changed {
                path: path.to_path_buf(),
            }
            .into())
        }
        Err(source) => {
            return Err(LandlockError::Path {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    // As before: a type that cannot be read gets file rights only.
    let (is_dir, id) = match crate::sys::fd_stat(fd.as_fd()) {
        Ok((is_dir, id)) => (is_dir, Some(id)),
        Err(_) => (false, None),
    };
    Ok(Some((fd, is_dir, id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_rules_never_carry_directory_rights() {
        assert!(!rights(Level::Write, false).contains(AccessFs::ReadDir));
        assert!(!rights(Level::Write, false).contains(AccessFs::MakeReg));
        assert!(rights(Level::Write, false).contains(AccessFs::WriteFile));
        assert!(rights(Level::Read, true).contains(AccessFs::ReadDir));
        assert!(!rights(Level::Read, true).contains(AccessFs::WriteFile));
        assert!(rights(Level::None, true).is_empty());
    }

    /// A rule's path is opened with `O_PATH`, not for reading: opening a
    /// socket file (like a device without a driver: `/dev/tty` with no
    /// terminal) fails with ENXIO, a FIFO blocks, an unreadable file gives
    /// EACCES. (With musl, std's `OpenOptions` drops `O_PATH`; this caught it.)
    #[test]
    fn rule_paths_are_opened_as_paths_not_as_objects() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let (fd, is_dir, _) = open(None, &socket).unwrap().expect("the socket exists");
        assert!(!is_dir);
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        assert_ne!(flags & libc::O_PATH, 0, "flags {flags:o}");
        assert!(open(None, &dir.path().join("absent")).unwrap().is_none());
    }

    fn policy(rules: Vec<(PathBuf, Level)>, pins: Vec<crate::spec::Pin>) -> HelperPolicy {
        HelperPolicy {
            rules,
            network: NetworkMode::Full,
            landlock: Requirement::BestEffort,
            proxy_port: None,
            checks: Vec::new(),
            stdout_fd: None,
            pins,
        }
    }

    fn pin_of(path: &Path) -> crate::spec::Pin {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path).unwrap();
        crate::spec::Pin {
            path: path.to_path_buf(),
            id: crate::spec::FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            },
        }
    }

    fn changed(path: &Path) -> String {
        format!(
            "root {} changed between planning and start (another object or none is there now: device/inode differ; was it replaced or moved?); \
             nothing was run: check what writes there, then plan and start again",
            path.display()
        )
    }

    /// The plan saw `out` a directory; by the time the rule is opened it
    /// is a link to `tgt`, and the rule would grant `tgt`. Refused on the
    /// rule's own descriptor, before anything is enforced (so this test
    /// thread stays unconfined).
    #[test]
    fn a_rule_whose_root_was_replaced_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (out, tgt) = (dir.path().join("out"), dir.path().join("tgt"));
        std::fs::create_dir(&out).unwrap();
        std::fs::create_dir(&tgt).unwrap();
        let pin = pin_of(&out);
        std::fs::remove_dir(&out).unwrap();
        std::os::unix::fs::symlink(&tgt, &out).unwrap();
        let e = apply(&policy(
            vec![(out.clone(), Level::Write)],
            vec![pin.clone()],
        ))
        .unwrap_err();
        assert!(matches!(e, LandlockError::Changed(_)), "{e:?}");
        assert_eq!(e.to_string(), changed(&out));
        // Split by a deny (its entries got the rules): checked on its own.
        let e = apply(&policy(
            vec![(out.join("a"), Level::Write)],
            vec![pin.clone()],
        ));
        assert_eq!(e.unwrap_err().to_string(), changed(&out));
        // Gone: it was there when planned.
        std::fs::remove_file(&out).unwrap();
        let e = apply(&policy(vec![(out.clone(), Level::Write)], vec![pin]));
        assert_eq!(e.unwrap_err().to_string(), changed(&out));
    }

    /// The same object passes, followed through a link above it as the
    /// rule is. Enforced on a thread of its own, which then ends.
    #[test]
    fn a_rule_whose_root_is_unchanged_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("up")).unwrap();
        let via_link = dir.path().join("up/out");
        let mut pin = pin_of(&out);
        pin.path = via_link.clone();
        let policy = policy(vec![(via_link, Level::Write)], vec![pin]);
        let outcome = std::thread::spawn(move || apply(&policy).map(|_| ()))
            .join()
            .unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }

    /// A rule below a pinned root is opened in the root's checked
    /// descriptor: the root moved away and another put at its path after
    /// the check, the rule still lands in the one checked.
    #[test]
    fn rules_below_an_anchor_are_opened_in_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (out, old) = (dir.path().join("out"), dir.path().join("old"));
        std::fs::create_dir_all(out.join("a")).unwrap();
        let (anchor, ..) = open(None, &out).unwrap().unwrap();
        std::fs::rename(&out, &old).unwrap();
        std::fs::create_dir_all(out.join("a")).unwrap();
        let rule = out.join("a");
        let beneath = Some((anchor.as_fd(), Path::new("a")));
        let (_, is_dir, id) = open(beneath, &rule).unwrap().unwrap();
        let checked = std::fs::metadata(old.join("a")).unwrap();
        assert!(is_dir);
        assert_eq!(id.map(|id| id.ino), Some(checked.ino()));
        assert_ne!(checked.ino(), std::fs::metadata(&rule).unwrap().ino());
    }

    /// `/` as a recorded root (read-all) opens the host's paths as before.
    #[test]
    fn the_root_directory_anchors_nothing_below_it() {
        assert!(!anchors_rules_below(Path::new("/")));
        assert!(anchors_rules_below(Path::new("/ws")));
        assert!(anchors_rules_below(Path::new("/home/u/proj")));
    }

    /// Below a checked root, an entry the plan listed as a directory that
    /// is now a link to outside is refused as a changed root, not followed
    /// (the rule would land on the link's target); a plain entry opens.
    #[test]
    fn entries_below_an_anchor_never_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let (ws, outside) = (dir.path().join("ws"), dir.path().join("ssh"));
        std::fs::create_dir_all(ws.join("b")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.join("a")).unwrap();
        let anchor = crate::sys::open_path(&ws).unwrap();
        let beneath = |rel: &str| open(Some((anchor.as_fd(), Path::new(rel))), &ws.join(rel));
        match beneath("a") {
            Err(LandlockError::Changed(c)) => assert_eq!(c.path, ws.join("a")),
            other => panic!("{:?}", other.map(|o| o.map(|(_, d, id)| (d, id)))),
        }
        let (_, is_dir, _) = beneath("b").unwrap().expect("b exists");
        assert!(is_dir);
    }
}
