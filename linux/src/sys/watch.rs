//! Syscall wrappers for the lifetime watcher (`crate::lifetime`): a
//! signalfd, signal delivery, and stdio handed back to `/dev/null`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::check;

/// Block `signals` for this thread and return a `signalfd` (close-on-exec)
/// that reads them. The mask is inherited by children spawned later, and
/// kept through exec.
pub fn signalfd_block(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given, which lives on
    // our stack; sigaddset then only writes into that initialised set.
    let set = unsafe {
        check(libc::sigemptyset(set.as_mut_ptr()).into())?;
        for &sig in signals {
            check(libc::sigaddset(set.as_mut_ptr(), sig).into())?;
        }
        set.assume_init()
    };
    // SAFETY: `set` is an initialised sigset_t on our stack; the old mask is
    // not asked for (null).
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    // SAFETY: -1 asks for a new descriptor; `set` is read for the call only.
    let fd = check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) }.into())?;
    // SAFETY: the kernel just returned `fd` for this call; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The signal numbers waiting on a (blocking) signalfd: one read, at least
/// one signal (poll it first).
pub fn read_signals(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
    let mut buf = [0u8; SIZE * 8];
    // SAFETY: `buf` is on our stack and its length is passed with it.
    let n = check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } as _)?;
    // ssi_signo is the first field (u32) of each 128-byte record.
    Ok(buf[..n as usize]
        .chunks_exact(SIZE)
        .map(|r| u32::from_ne_bytes([r[0], r[1], r[2], r[3]]))
        .collect())
}

/// `kill(pid, sig)`.
pub fn send_signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: integer arguments only.
    check(unsafe { libc::kill(pid, sig) }.into()).map(drop)
}

/// Point descriptors 0 and 1 at `/dev/null`, so that this process no longer
/// holds the pipes a child inherited from them (its reader's EOF and its
/// writer's EPIPE then depend on the child alone).
pub fn null_stdin_stdout() -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in [0, 1] {
        // SAFETY: `null` is owned and open; dup2 replaces 0 or 1, which no
        // Rust object owns.
        check(unsafe { libc::dup2(null.as_raw_fd(), target) }.into())?;
    }
    Ok(())
}

/// Set SIGCHLD back to its default disposition. An ignored SIGCHLD is
/// inherited through exec (a client may ignore it); with it ignored the
/// kernel reaps our children itself, so waiting for the server fails with
/// ECHILD and its pid is no longer ours to signal.
pub fn default_sigchld() -> io::Result<()> {
    // SAFETY: signal() with SIG_DFL installs no handler of ours; integer
    // arguments only.
    let old = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    if old == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphaned descendants are reparented
/// to this process instead of init, so it can still find and end them.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }.into()).map(drop)
}

/// `waitpid(pid, WNOHANG)`: reap `pid`, a child of ours, if it has
/// exited. `Ok(true)` reaped, `Ok(false)` still running.
pub fn reap_pid(pid: u32) -> io::Result<bool> {
    let mut status = 0;
    // SAFETY: `status` is on our stack for the call.
    let got =
        check(unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) }.into())?;
    Ok(got > 0)
}

/// `waitpid(-1, WNOHANG)`: reap one exited child if there is one.
/// `Ok(Some(pid))` reaped, `Ok(None)` children left but none exited,
/// `Err` with ECHILD when there are no children at all.
pub fn reap_one() -> io::Result<Option<u32>> {
    let mut status = 0;
    // SAFETY: `status` is on our stack for the call.
    let pid = check(unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) }.into())?;
    Ok((pid > 0).then_some(pid as u32))
}
