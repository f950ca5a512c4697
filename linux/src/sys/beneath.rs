//! Opening a path strictly beneath a directory descriptor, no link
//! followed anywhere on the way: the rules below a checked root must name
//! objects inside that root, and a link put there after the plan listed
//! the root (to `~/.ssh`, or `..`) would lead the rule out of it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use super::check;

/// `rel` opened `O_PATH` beneath `dir`, refusing with ELOOP any link on
/// the way (the last component included) and with EXDEV an absolute path
/// or a `..`. `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` (Linux 5.6);
/// where the kernel lacks it (ENOSYS) or a seccomp filter refuses it
/// (EPERM), the same walk one component at a time with `O_NOFOLLOW`.
pub fn open_path_beneath(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    // A `..` is refused even where it would stay inside (as the walk
    // does): rule paths are normal, so one is never what the plan meant.
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    let c_rel = c_path(rel)?;
    // SAFETY: `open_how` is plain integers, for which all zeroes is valid
    // (and what the kernel wants in fields not set).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `c_rel` is NUL-terminated and `how` is a fully initialised
    // `open_how` on this stack, both outliving the call, whose size is
    // passed with it; `dir` is a descriptor borrowed for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            c_rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    match check(ret) {
        // SAFETY: openat2 returned a new descriptor that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => walk(dir, rel),
        Err(e) => Err(e),
    }
}

/// The fallback: each component opened with `O_PATH | O_NOFOLLOW` in the
/// one before (such an open of a link gives the link itself, so each is
/// checked by `fstat`).
fn walk(dir: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let mut here: Option<OwnedFd> = None;
    for part in rel.components() {
        let name = match part {
            Component::CurDir => continue,
            Component::Normal(name) => name,
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(io::Error::from_raw_os_error(libc::EXDEV))
            }
        };
        let at = here.as_ref().map_or(dir.as_raw_fd(), AsRawFd::as_raw_fd);
        let c_name = c_path(Path::new(name))?;
        // SAFETY: `c_name` is NUL-terminated and outlives the call; `at`
        // is `dir` (borrowed) or `here` (owned, open until replaced below).
        let fd = unsafe {
            libc::openat(
                at,
                c_name.as_ptr(),
                libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        check(fd.into())?;
        // SAFETY: openat returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `st` is writable memory of the size fstat fills.
        check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) }.into())?;
        // SAFETY: fstat returned 0, so it initialised the whole struct.
        if unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        here = Some(fd);
    }
    match here {
        Some(fd) => Ok(fd),
        // An empty path names `dir` itself: a new descriptor for it.
        None => walk_self(dir),
    }
}

fn walk_self(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: "." is a NUL-terminated literal; `dir` is borrowed for the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    check(fd.into())?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn refused(e: io::Error) -> Option<i32> {
        e.raw_os_error()
    }

    /// An entry that is a link to outside the anchor is refused (ELOOP),
    /// by openat2 and by the component walk alike; a `..` or an absolute
    /// path too (EXDEV); a plain entry opens.
    #[test]
    fn links_and_parents_never_lead_out_of_the_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let (anchor, outside) = (dir.path().join("ws"), dir.path().join("ssh"));
        std::fs::create_dir_all(anchor.join("plain/sub")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, anchor.join("a")).unwrap();
        std::os::unix::fs::symlink("plain", anchor.join("rel")).unwrap();
        let fd = std::fs::File::open(&anchor).unwrap();
        let fd = fd.as_fd();
        for open in [open_path_beneath, walk] {
            for link in ["a", "a/x", "rel/sub", "plain/../a"] {
                let err = open(fd, Path::new(link)).unwrap_err();
                let want = if link.contains("..") {
                    libc::EXDEV
                } else {
                    libc::ELOOP
                };
                assert_eq!(refused(err), Some(want), "{link}");
            }
            for out in ["..", "/etc"] {
                assert_eq!(
                    refused(open(fd, Path::new(out)).unwrap_err()),
                    Some(libc::EXDEV)
                );
            }
            let got = open(fd, Path::new("plain/sub")).unwrap();
            let want = std::fs::metadata(anchor.join("plain/sub")).unwrap();
            let (_, id) = super::super::fd_stat(got.as_fd()).unwrap();
            use std::os::unix::fs::MetadataExt;
            assert_eq!((id.dev, id.ino), (want.dev(), want.ino()));
        }
    }
}
