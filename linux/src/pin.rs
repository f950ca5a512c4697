//! Roots checked by identity, not by path: the plan resolved and judged
//! each root by its path, and a process that can write where the root lies
//! (another sandbox with `--write .`) can replace it (a directory by a link
//! to `~/tgt`) before the sandbox starts. The helper stage compares what it
//! is about to grant with what the plan saw, on the descriptor it grants
//! through (Landlock, `crate::ruleset`, which also opens the rules below a
//! pinned root beneath that checked descriptor) or on the mount itself
//! (bwrap, here), and refuses on any difference.

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::spec::{FileId, Pin};

/// A root that is not the object the plan checked.
#[derive(Debug, thiserror::Error)]
#[error("root {} changed between planning and start (another object or none is there now: device/inode differ; was it replaced or moved?); nothing was run: check what writes there, then plan and start again", path.display())]
pub struct Changed {
    /// The root, as planned.
    pub path: PathBuf,
}

/// Compare the object `fd` names with the plan's record of `path`.
fn check_fd(want: &FileId, path: &Path, fd: BorrowedFd<'_>) -> Result<(), Changed> {
    match crate::sys::fd_stat(fd) {
        Ok((_, id)) if id == *want => Ok(()),
        // One that cannot be read is no proof of the same object.
        _ => Err(Changed {
            path: path.to_path_buf(),
        }),
    }
}

/// Inside bwrap: each pinned root is a mount at its own path, and a bind
/// mount shows its source's device and inode. The path is opened without
/// following a link at its end, so a link left there (bwrap mounts through
/// it, elsewhere) reads as the link it is.
pub fn check_mounted(pins: &[Pin]) -> Result<(), Changed> {
    for pin in pins {
        let changed = || Changed {
            path: pin.path.clone(),
        };
        let fd = crate::sys::open_path_nofollow(&pin.path).map_err(|_| changed())?;
        check_fd(&pin.id, &pin.path, std::os::fd::AsFd::as_fd(&fd))?;
    }
    Ok(())
}
