//! The only module (with its submodules `beneath`, `caps`, `peer`, `pidfd`, `watch`) with `unsafe`: thin
//! wrappers over single syscalls.
//!
//! Each wrapper makes one call, checks its return value and maps errno in
//! one place; memory passed to the kernel is on the wrapper's own stack for
//! the duration of the call. Nothing here decides anything.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

mod beneath;
mod caps;
mod peer;
mod pidfd;
mod watch;
pub use beneath::open_path_beneath;
pub use caps::{ambient_clear_all, capbset_drop, capbset_read, capget, capset_clear};
pub use peer::{has_exited, netns_cookie, peer_pid, peer_pidfd};
pub use pidfd::{pidfd_exited, pidfd_open, pidfd_send_signal};
pub use watch::{
    default_sigchld, null_stdin_stdout, read_signals, reap_one, reap_pid, send_signal,
    set_child_subreaper, signalfd_block,
};

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

/// Ignore SIGPIPE again, as the Rust runtime does at start: std's
/// `Command::exec` restores the default disposition in this very process
/// before execve, and when the exec fails the report of it would be killed
/// by the signal on a stderr nobody reads (a death by SIGPIPE, not 127).
pub fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: SIG_IGN installs no handler, so no code runs asynchronously;
    // integer arguments only, no memory is passed.
    let ret = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    if ret == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clear close-on-exec on `fd`, so that it survives an exec (used to hand
/// the helper binary to bwrap as `/proc/self/fd/N`).
pub fn inherit_fd(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is borrowed, so it is open for the duration of the call;
    // F_SETFD with 0 only clears FD_CLOEXEC; no memory is passed.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    check(ret.into()).map(drop)
}

/// The calling process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
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

/// The limits on open descriptors (`ulimit -n`): soft and hard.
fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `lim`, which lives on our
    // stack for the whole call.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }.into())?;
    Ok(lim)
}

/// Raise the soft limit on open descriptors to `want`, or to the hard
/// limit if that is lower. Returns the soft limit now in force.
pub fn raise_nofile_limit(want: u64) -> io::Result<u64> {
    let mut lim = nofile_limit()?;
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur >= target {
        return Ok(lim.rlim_cur);
    }
    lim.rlim_cur = target;
    // SAFETY: setrlimit reads one initialised rlimit from `lim`; lowering
    // nothing and staying within the hard limit needs no privilege.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }.into())?;
    Ok(target)
}

/// The soft limit on open descriptors (`ulimit -n`).
pub fn nofile_soft_limit() -> io::Result<u64> {
    Ok(nofile_limit()?.rlim_cur)
}

/// Block until `fd` is readable (or hung up). Retries on EINTR.
pub fn wait_readable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is a valid, initialised pollfd that lives on our stack
        // for the whole call, and the count (1) matches it; `fd` is borrowed,
        // so it stays open during the call.
        let ret = unsafe { libc::poll(&mut pfd, 1, -1) };
        if ret >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Move this process's stdout aside: a new inheritable descriptor (>= 3)
/// for it is returned, and fd 1 becomes `/dev/null`. Before exec'ing bwrap,
/// whose own processes keep 0-2 open for the sandbox's lifetime.
pub fn stdout_aside() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD duplicates fd 1 onto the lowest free number >= 3,
    // without FD_CLOEXEC (inherited by design); integer arguments only. A
    // closed stdout fails with EBADF and nothing changes.
    let raw = check(unsafe { libc::fcntl(1, libc::F_DUPFD, 3) }.into())?;
    // SAFETY: `raw` was just returned by F_DUPFD, so it is open and nothing
    // else in the program knows its number: the OwnedFd is its only owner.
    let aside = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw as i32) };
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: both descriptors are open (`null` is owned here, 1 is the
    // process's stdout, whose copy is `aside`); dup2 atomically replaces 1,
    // which no Rust object owns, so no owner is left with a stale number.
    check(unsafe { libc::dup2(null.as_raw_fd(), 1) }.into())?;
    Ok(aside)
}

/// Make `fd` this process's stdout (dup2 onto 1, then close `fd`).
pub fn move_to_stdout(fd: std::os::fd::OwnedFd) -> io::Result<()> {
    // SAFETY: `fd` is owned, hence open; dup2 replaces 1, which no Rust
    // object owns; `fd` itself is closed when it drops below.
    check(unsafe { libc::dup2(fd.as_raw_fd(), 1) }.into())?;
    Ok(())
}

/// Take ownership of descriptor `fd`, inherited from the parent and named
/// on our command line. Fails unless it is open.
pub fn take_inherited_fd(fd: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 3 {
        return Err(io::Error::other("not an inherited descriptor (below 3)"));
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; integer arguments.
    check(unsafe { libc::fcntl(fd, libc::F_GETFD) }.into())?;
    // SAFETY: the descriptor is open (checked above), was inherited across
    // exec by design, and this fresh process has not wrapped it anywhere
    // else: the returned OwnedFd is its only owner.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
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

/// `pipe2(O_CLOEXEC | O_NONBLOCK)`: `(read end, write end)`.
pub fn pipe_nonblocking() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: `fds` is a writable array of exactly the two ints pipe2
    // fills, on our stack for the duration of the call.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) }.into())?;
    // SAFETY: both descriptors were just returned by the kernel for this
    // call; nothing else in this process owns them.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// `fcntl(F_SETPIPE_SZ)`: ask for a pipe capacity of `bytes`; returns the
/// capacity granted.
pub fn set_pipe_size(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_SETPIPE_SZ takes an integer; `fd` is borrowed, so open for
    // the call; no memory is passed.
    let ret = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, want) }.into())?;
    Ok(usize::try_from(ret).unwrap_or(0))
}

/// `splice(from, NULL, to, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)`:
/// move up to `len` bytes between a socket and a pipe inside the kernel.
/// `Ok(0)` is end of file on `from`.
pub fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are borrowed, so open for the call; the two
    // offset pointers are NULL (sockets and pipes have no offset), so the
    // kernel reads and writes no memory of ours.
    let ret = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    check(ret as libc::c_long).map(|n| usize::try_from(n).unwrap_or(0))
}

/// `poll` on up to two descriptors, each with its `events` mask (`None`:
/// not watched), without a timeout. Returns each one's `revents`; EINTR
/// returns all-zero (the caller retries its operations anyway).
pub fn poll_two(watch: [(Option<BorrowedFd<'_>>, i16); 2]) -> io::Result<[i16; 2]> {
    let mut pfds = watch.map(|(fd, events)| libc::pollfd {
        fd: fd.map_or(-1, |f| f.as_raw_fd()),
        events,
        revents: 0,
    });
    // SAFETY: `pfds` is an initialised array of two pollfd on our stack for
    // the whole call and the count (2) matches it; the descriptors are
    // borrowed, so they stay open during the call (a -1 entry is ignored).
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok([0, 0]);
        }
        return Err(err);
    }
    Ok([pfds[0].revents, pfds[1].revents])
}

/// Room for one `SCM_RIGHTS` control message carrying one descriptor
/// (`CMSG_SPACE(sizeof(int))` is 24 on every Linux ABI; 32 leaves slack),
/// aligned for `cmsghdr`.
#[repr(C, align(8))]
struct OneFdControl([u8; 32]);

/// `sendmsg` of one byte with `fd` attached (`SCM_RIGHTS`) on the
/// connected Unix socket `sock`.
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = OneFdControl([0; 32]);
    // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    if space > control.0.len() {
        return Err(io::Error::other("SCM_RIGHTS control message does not fit"));
    }
    msg.msg_controllen = space as _;
    // SAFETY: `msg.msg_control` points at `control`, 8-aligned and at least
    // `space` bytes long (checked above), so CMSG_FIRSTHDR returns a
    // pointer to its start, not null, and CMSG_DATA points `CMSG_LEN(0)`
    // bytes into it with room for one int; both stay inside `control`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd.as_raw_fd());
    }
    // SAFETY: `msg` points at `iov` (one byte of `byte`) and `control`, all
    // on our stack and alive for the call; `sock` is borrowed, so open.
    let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    check(ret as libc::c_long).map(drop)
}

/// `recvmsg` of one byte on the Unix socket `sock`, taking the one
/// descriptor attached to it (`SCM_RIGHTS`, close-on-exec). `Ok(None)`:
/// end of file, or a message without exactly one descriptor (any that
/// came are closed).
pub fn recv_fd(sock: BorrowedFd<'_>) -> io::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = OneFdControl([0; 32]);
    // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` points at `iov` (one writable byte) and `control` (32
    // writable bytes), both on our stack for the call; the kernel writes
    // at most those lengths. `sock` is borrowed, so open.
    let ret = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if check(ret as libc::c_long)? == 0 {
        return Ok(None);
    }
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg.msg_control`/`msg_controllen` within
    // `control`; CMSG_FIRSTHDR/CMSG_NXTHDR walk only headers inside that
    // length and return null past its end. For SCM_RIGHTS headers the data
    // holds (cmsg_len - CMSG_LEN(0)) / sizeof(int) descriptors, read
    // unaligned; each was installed in this process by this call, so we
    // own it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..len / std::mem::size_of::<libc::c_int>() {
                    let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                    fds.push(std::os::fd::OwnedFd::from_raw_fd(raw));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if fds.len() == 1 && msg.msg_flags & libc::MSG_CTRUNC == 0 {
        Ok(fds.pop())
    } else {
        Ok(None)
    }
}

/// `getsockopt(SOL_SOCKET, name)` for an integer option.
pub fn socket_option(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are on our stack for the call and `len`
    // says exactly how many bytes `value` has; `fd` is borrowed, so open.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    check(ret.into())?;
    Ok(value)
}

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub fn epoll_create() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: one integer flag; returns a new descriptor or -1.
    let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }.into())?;
    // SAFETY: the descriptor was just returned by the kernel for this call;
    // nothing else in this process owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `epoll_ctl(EPOLL_CTL_ADD)`: watch `fd` for `events`, reported with
/// `token`.
pub fn epoll_add(
    ep: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is an initialised epoll_event on our stack for the call
    // (the kernel copies it); both descriptors are borrowed, so open.
    let ret =
        unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) };
    check(ret.into()).map(drop)
}

/// `epoll_wait` without a timeout: replaces `out` with the ready
/// `(events, token)` pairs, at most 64. EINTR leaves `out` empty.
pub fn epoll_wait(ep: BorrowedFd<'_>, out: &mut Vec<(u32, u64)>) -> io::Result<()> {
    const MAX: usize = 64;
    let mut buf = [libc::epoll_event { events: 0, u64: 0 }; MAX];
    out.clear();
    // SAFETY: `buf` is an initialised array of MAX epoll_event on our stack
    // for the whole call and the count passed is MAX, so the kernel writes
    // only inside it; `ep` is borrowed, so open.
    let ret = unsafe { libc::epoll_wait(ep.as_raw_fd(), buf.as_mut_ptr(), MAX as libc::c_int, -1) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok(())
        } else {
            Err(err)
        };
    }
    for ev in buf.iter().take(usize::try_from(ret).unwrap_or(0)) {
        // Copies out of the (packed) struct, no references into it.
        let (events, token) = (ev.events, ev.u64);
        out.push((events, token));
    }
    Ok(())
}

/// What `fstat` says of the open descriptor `fd` (an `O_PATH` one will
/// do): whether it is a directory, and its identity. No path is walked
/// again, so both are of the very object the descriptor names.
pub fn fd_stat(fd: BorrowedFd<'_>) -> io::Result<(bool, crate::spec::FileId)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is borrowed, so it is open during the call; `st` points at
    // writable stack memory of the size of `struct stat`, which fstat fills.
    let ret = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    check(ret.into())?;
    // SAFETY: fstat returned 0, so it initialised the whole struct.
    let st = unsafe { st.assume_init() };
    let id = crate::spec::FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    };
    Ok((st.st_mode & libc::S_IFMT == libc::S_IFDIR, id))
}

/// `open(path, O_PATH | O_CLOEXEC)`: a descriptor naming `path` (links
/// followed) without opening the object itself, so a device without its
/// driver, a FIFO or an unreadable file can still anchor a Landlock rule.
/// Called directly rather than through `std::fs::OpenOptions`: with musl,
/// std masks custom flags with an `O_ACCMODE` that includes `O_PATH`, and
/// the object would be opened for reading instead (ENXIO on `/dev/tty`
/// without a terminal, EACCES on an unreadable file).
pub fn open_path(path: &std::path::Path) -> io::Result<std::os::fd::OwnedFd> {
    open_path_with(libc::AT_FDCWD, path, 0)
}

/// [`open_path`] without following a link at the end: a root replaced by
/// a link gives the link's own descriptor.
pub fn open_path_nofollow(path: &std::path::Path) -> io::Result<std::os::fd::OwnedFd> {
    open_path_with(libc::AT_FDCWD, path, libc::O_NOFOLLOW)
}

fn open_path_with(
    dir: libc::c_int,
    path: &std::path::Path,
    extra: libc::c_int,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call;
    // openat reads it and takes integer flags (`dir` is AT_FDCWD or a
    // descriptor its caller borrows, open during the call); no mode is
    // read without O_CREAT.
    let fd = unsafe { libc::openat(dir, c_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | extra) };
    check(fd.into())?;
    // SAFETY: open returned a new descriptor (checked non-negative above)
    // that nothing else in this process owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
