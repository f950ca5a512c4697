//! Syscall wrappers for the proxy bridge's hand-over check
//! (`crate::bridge_peer`): who is at the other end of a Unix socket, and
//! which network namespace a socket belongs to.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::check;

/// `getsockopt(SOL_SOCKET, name)` into a `T` the option fills exactly.
fn get<T: Copy>(fd: BorrowedFd<'_>, name: libc::c_int, mut value: T) -> io::Result<T> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` are on our stack for the call and `len`
    // says exactly how many bytes `value` has; the kernel writes at most
    // that many. `fd` is borrowed, so open. Callers pass only plain integer
    // types or `ucred`, for which any bytes are a valid value.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    check(ret.into())?;
    if len as usize != std::mem::size_of::<T>() {
        return Err(io::Error::other("socket option of unexpected size"));
    }
    Ok(value)
}

/// `SO_PEERCRED`: the pid of the process that connected the peer end of
/// the Unix socket `sock`, as seen in this process's pid namespace (0 when
/// it is not visible there).
pub fn peer_pid(sock: BorrowedFd<'_>) -> io::Result<libc::pid_t> {
    let cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    Ok(get(sock, libc::SO_PEERCRED, cred)?.pid)
}

/// `SO_PEERPIDFD` (Linux 6.5): a pidfd of that same process, which stays
/// bound to it (a recycled pid number is a different process).
/// `ENOPROTOOPT` on older kernels.
pub fn peer_pidfd(sock: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let fd = get::<libc::c_int>(sock, libc::SO_PEERPIDFD, -1)?;
    if fd < 0 {
        return Err(io::Error::other("SO_PEERPIDFD returned no descriptor"));
    }
    // SAFETY: the kernel just installed `fd` in this process for this call,
    // so it is open and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `SO_NETNS_COOKIE` (Linux 5.14): the id of the network namespace the
/// socket `fd` belongs to. `ENOPROTOOPT` on older kernels.
pub fn netns_cookie(fd: BorrowedFd<'_>) -> io::Result<u64> {
    get::<u64>(fd, libc::SO_NETNS_COOKIE, 0)
}

/// Whether the process behind `pidfd` has exited (the pidfd polls
/// readable then). Does not wait.
pub fn has_exited(pidfd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd on our stack for the call and the
    // count (1) matches it; `pidfd` is borrowed, so open. Timeout 0: no wait.
    let ret = unsafe { libc::poll(&mut pfd, 1, 0) };
    check(ret.into())?;
    Ok(pfd.revents != 0)
}
