//! Landlock: one ruleset from the helper policy, negotiated against the kernel.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
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
    for (path, level) in &policy.rules {
        if *level == Level::None {
            continue;
        }
        let Some((fd, is_dir)) = open(path)? else {
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

/// Open `path` (`O_PATH`, following links, as before) and tell a directory
/// from the rest by `fstat` on the descriptor: one path walk per rule, and
/// the type checked is that of the very object the rule is attached to.
fn open(path: &Path) -> Result<Option<(OwnedFd, bool)>, LandlockError> {
    let fd = match crate::sys::open_path(path) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LandlockError::Path {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    // As before: a type that cannot be read gets file rights only.
    let is_dir = crate::sys::fd_is_dir(fd.as_fd()).unwrap_or(false);
    Ok(Some((fd, is_dir)))
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
        let (fd, is_dir) = open(&socket).unwrap().expect("the socket exists");
        assert!(!is_dir);
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        assert_ne!(flags & libc::O_PATH, 0, "flags {flags:o}");
        assert!(open(&dir.path().join("absent")).unwrap().is_none());
    }
}
