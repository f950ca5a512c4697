//! The only module with `unsafe`: thin wrappers over single syscalls.
//!
//! Each wrapper makes one call with plain integer arguments (no pointers into
//! Rust memory, except the status word of `waitpid`), checks its return value
//! and maps errno in one place. Nothing here decides anything.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Map a `-1`-on-error return into `io::Result`.
fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: execve can no longer grant privileges
/// (setuid bits and file capabilities are ignored). Irreversible.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes only integer arguments
    // (the unused ones must be zero, and are); it touches no memory of ours.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    check(ret.into()).map(drop)
}

/// `prctl(PR_GET_NO_NEW_PRIVS)`.
pub fn no_new_privs() -> io::Result<bool> {
    // SAFETY: PR_GET_NO_NEW_PRIVS only returns a value; integer arguments, all zero.
    let ret = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    check(ret.into()).map(|v| v == 1)
}

/// Mark every descriptor from `first` up close-on-exec
/// (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`).
///
/// Marking rather than closing keeps every `OwnedFd` of this process valid
/// until the exec (no double close, no reuse of a number something still
/// owns); the kernel closes them all atomically at exec, so the target
/// inherits only what is below `first`.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; integer arguments; no memory is passed. It cannot
    // invalidate a descriptor another part of the program uses.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    check(ret).map(drop)
}

/// Clear close-on-exec on `fd`, so that it survives an exec (used to hand
/// the helper binary to bwrap as `/proc/self/fd/N`).
pub fn inherit_fd(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is borrowed, so it is open for the duration of the call;
    // F_SETFD with 0 only clears FD_CLOEXEC; no memory is passed.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    check(ret.into()).map(drop)
}

/// The kernel's Landlock ABI version, 0 when Landlock is unavailable.
pub fn landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag the kernel requires a NULL attribute
    // pointer and size 0 and only returns a number; no memory is read or written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(ret).unwrap_or(0)
}

/// Whether this kernel offers seccomp filters (`prctl(PR_GET_SECCOMP)` works).
pub fn seccomp_available() -> bool {
    // SAFETY: PR_GET_SECCOMP only returns the current mode; integer arguments.
    let ret = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    ret >= 0
}

/// Whether this process may create a user namespace: a forked child calls
/// `unshare(CLONE_NEWUSER)` and `_exit`s with 0 or the errno, which is
/// returned as the error. The child can neither block nor outlive the call
/// (it makes two syscalls), so the wait is bounded.
///
/// A fork, not a thread: `unshare(CLONE_NEWUSER)` fails with EINVAL in a
/// multi-threaded process, and a namespace must not stick to this process.
pub fn try_new_user_namespace() -> io::Result<()> {
    // SAFETY: fork takes no arguments. In the child (pid 0) only the two
    // async-signal-safe calls below run (no allocation, no lock), so forking
    // a multi-threaded process is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: integer arguments only; `_exit` never returns and runs no
        // destructors or atexit handlers of the parent's copy.
        unsafe {
            let code = if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                0
            } else {
                *libc::__errno_location() & 0xff
            };
            libc::_exit(code)
        }
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a live, writable c_int on our stack for the
        // duration of the call; `pid` is our own child.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(()),
        (true, errno) => Err(io::Error::from_raw_os_error(errno)),
        _ => Err(io::Error::other("the probe child died by a signal")),
    }
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills this process when the
/// thread that forked it exits. Survives execve (no setuid transition here).
pub fn kill_with_parent() -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; integer arguments only,
    // the unused ones zero; no memory is passed.
    let ret = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    check(ret.into()).map(drop)
}
