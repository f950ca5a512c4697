//! Syscall wrappers for process descriptors (`crate::pidfd`): open one,
//! signal through one, ask through one whether the process has exited.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::check;

/// `pidfd_open(pid, 0)` (Linux 5.3): a descriptor naming the process `pid`
/// is now, readable once it exits.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or
    // -1; no memory is passed.
    let ret = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    let fd = i32::try_from(ret).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: `fd` was just returned by the kernel for this call, so it is
    // open and nothing else in this process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)` (Linux 5.1): `sig` to the
/// process `pidfd` names, never to one that took its pid number later.
/// ESRCH once that process was reaped.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only; the siginfo pointer is null, which
    // the call reads as "like kill(2)", and the flags are 0.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// `waitid(P_PIDFD, pidfd, WEXITED | WNOHANG | WNOWAIT)` (Linux 5.4):
/// whether the process `pidfd` names has exited, without reaping it.
/// ECHILD when it is not a child of this process (or already reaped).
pub fn pidfd_exited(pidfd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    let id = pidfd.as_raw_fd() as libc::id_t;
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is zeroed memory on our stack of the type waitid
    // fills; it outlives the call.
    let ret = unsafe { libc::waitid(libc::P_PIDFD, id, info.as_mut_ptr(), flags) };
    check(ret.into())?;
    // SAFETY: zero-initialised and written by the kernel on success; with
    // WNOHANG and nothing to report the kernel leaves si_pid 0.
    let pid = unsafe { info.assume_init().si_pid() };
    Ok(pid != 0)
}
