//! Who may hand the inside listener to the host bridge: only a process of
//! the sandbox the bridge serves, and only a listener outside the host's
//! network namespace.
//!
//! The bridge socket lives in a private 0700 directory, but any process of
//! the same user can reach it while the bridge waits for the helper (so can
//! a sandbox of another backend whose Landlock ABI does not scope Unix
//! sockets). A listener taken from such a process would have its
//! connections carried to the upstream with the credentials the bridge adds
//! on the host. So, per connection on the bridge socket:
//!
//! - before anything is read, its peer (`SO_PEERCRED`, a pid in the
//!   bridge's pid namespace) must be a strict descendant of the bwrap
//!   process the bridge watches, followed through `/proc/PID/stat` parent
//!   links (at most [`MAX_DEPTH`] of them). Where the kernel has
//!   `SO_PEERPIDFD` (6.5) the peer is held by a pidfd and must still be
//!   alive after the walk, so the pid walked cannot have been recycled;
//!   older kernels get a pidfd opened on the pid at once (the connecting
//!   process must then have exited and its pid been reused by a process of
//!   the sandbox in between, which an outsider cannot arrange; before 5.3,
//!   without pidfds, the walk alone);
//! - the listener it passes must not belong to the bridge's own network
//!   namespace (`SO_NETNS_COOKIE`, 5.14; before that, a listener whose
//!   inode `/proc/self/net/tcp{,6}` lists is in it).
//!
//! Anything that cannot be checked is refused. A refusal is one line on
//! the bridge's stderr; the connection closes without the acknowledgement,
//! which the helper reports as a refused hand-over.

use std::fmt;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use crate::bridge::HANDOVER_TIMEOUT;
use crate::sys;

/// How many parent links are followed from the peer towards bwrap (bwrap,
/// its pid-namespace init and the helper are three; the rest is slack).
pub(crate) const MAX_DEPTH: usize = 32;

/// The check for one bridge.
pub(crate) struct Gate {
    /// The bwrap process (in the bridge's pid namespace).
    pub(crate) sandbox: libc::pid_t,
    /// The bridge's own network namespace cookie; `None` where the kernel
    /// has no `SO_NETNS_COOKIE` (then `/proc/self/net` decides).
    pub(crate) host: Option<u64>,
}

/// A connection's peer that passed [`Gate::peer`], held for the re-check.
pub(crate) struct Peer {
    pid: libc::pid_t,
    pidfd: Option<OwnedFd>,
}

/// Why a hand-over was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The peer is not inside the sandbox.
    Outsider(libc::pid_t),
    /// The peer or its listener could not be checked.
    Unchecked(libc::pid_t, String),
    /// The listener is bound in the bridge's own network namespace.
    HostNetns(libc::pid_t),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = "network proxy: refused a listener handed over by pid";
        match self {
            Self::Outsider(pid) => write!(f, "{by} {pid}: not a process of this sandbox"),
            Self::Unchecked(pid, why) => write!(f, "{by} {pid}: it could not be checked: {why}"),
            Self::HostNetns(pid) => write!(
                f,
                "{by} {pid}: the listener is in the host's network namespace, not the sandbox's"
            ),
        }
    }
}

impl Gate {
    /// The gate for the sandbox whose bwrap is `sandbox`; `own` is any
    /// socket of the bridge (its network namespace is the host's).
    pub(crate) fn new(sandbox: libc::pid_t, own: BorrowedFd<'_>) -> Self {
        Self {
            sandbox,
            host: sys::netns_cookie(own).ok(),
        }
    }

    /// Check the peer of the Unix connection `conn`, before reading from it.
    pub(crate) fn peer(&self, conn: BorrowedFd<'_>) -> Result<Peer, Refusal> {
        let pid = sys::peer_pid(conn).map_err(|e| Refusal::Unchecked(0, e.to_string()))?;
        if pid <= 0 {
            return Err(Refusal::Outsider(pid));
        }
        let pidfd = match sys::peer_pidfd(conn) {
            Ok(fd) => Some(fd),
            // Before 6.5: bind to whatever holds the pid now.
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => sys::pidfd_open(pid).ok(),
            Err(e) => return Err(Refusal::Unchecked(pid, format!("SO_PEERPIDFD: {e}"))),
        };
        let peer = Peer { pid, pidfd };
        match descends_from(pid, self.sandbox) {
            Ok(true) => {}
            Ok(false) => return Err(Refusal::Outsider(pid)),
            // Gone, or not readable: not provably ours.
            Err(e) => return Err(Refusal::Unchecked(pid, format!("/proc/{pid}/stat: {e}"))),
        }
        peer.still_there()?;
        Ok(peer)
    }

    /// Check the listener `peer` passed.
    pub(crate) fn listener(&self, peer: &Peer, listener: BorrowedFd<'_>) -> Result<(), Refusal> {
        let unchecked = |e: io::Error| Refusal::Unchecked(peer.pid, e.to_string());
        let in_host = match self.host {
            Some(host) => sys::netns_cookie(listener).map_err(unchecked)? == host,
            None => listed_here(listener).map_err(unchecked)?,
        };
        if in_host {
            return Err(Refusal::HostNetns(peer.pid));
        }
        peer.still_there()
    }
}

impl Peer {
    /// The process walked is the one that connected: its pidfd (when there
    /// is one) has not seen it exit, so its pid was not recycled.
    fn still_there(&self) -> Result<(), Refusal> {
        match self.pidfd.as_ref().map(|fd| sys::has_exited(fd.as_fd())) {
            None | Some(Ok(false)) => Ok(()),
            Some(Ok(true)) => Err(Refusal::Unchecked(self.pid, "it exited".into())),
            Some(Err(e)) => Err(Refusal::Unchecked(self.pid, e.to_string())),
        }
    }
}

/// Whether `ancestor` is a strict ancestor of `pid`, within [`MAX_DEPTH`]
/// parent links. A process reparented on the way (an ancestor exited) no
/// longer leads there: refused.
pub(crate) fn descends_from(pid: libc::pid_t, ancestor: libc::pid_t) -> io::Result<bool> {
    let mut cur = pid;
    for _ in 0..MAX_DEPTH {
        cur = parent(cur)?;
        if cur == ancestor {
            return Ok(true);
        }
        if cur <= 1 {
            return Ok(false);
        }
    }
    Ok(false)
}

/// The parent pid, field 4 of `/proc/PID/stat` (after the `comm` field,
/// which may hold spaces and parentheses, so the last `)` ends it).
fn parent(pid: libc::pid_t) -> io::Result<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected format");
    let rest = &stat[stat.rfind(')').ok_or_else(bad)? + 1..];
    rest.split_ascii_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(bad)
}

/// Whether the socket `fd` is listed in this process's network namespace
/// (`/proc/self/net/tcp` and `tcp6` list only its own sockets).
fn listed_here(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let link = link.to_string_lossy();
    let inode = link
        .strip_prefix("socket:[")
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("not a socket: {link}"))
        })?;
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let text = match std::fs::read_to_string(table) {
            Ok(t) => t,
            // No IPv6 in this kernel: nothing can be listed there.
            Err(e) if e.kind() == io::ErrorKind::NotFound && table.ends_with('6') => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{table}: {e}"))),
        };
        // Columns: sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
        if text
            .lines()
            .skip(1)
            .any(|l| l.split_ascii_whitespace().nth(9) == Some(inode))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Wait for the helper to hand over the inside listener: accept on the
/// bridge socket until a connection from a process of the sandbox brings
/// exactly one descriptor that is a listening TCP socket outside the host's
/// network namespace ([`Gate`]), acknowledge it with one byte, and return
/// it. A refusal is one line on stderr; other junk is dropped quietly.
/// Once this returns, the caller closes the bridge socket.
pub(crate) fn take_listener(bridge: &UnixListener, gate: &Gate) -> io::Result<TcpListener> {
    loop {
        let (mut conn, _) = bridge.accept()?;
        match admit(&conn, gate) {
            Ok(Some(listener)) => {
                conn.write_all(b"\x01")?;
                return Ok(listener);
            }
            Ok(None) => {}
            Err(refusal) => crate::say(format_args!("sandspawn: {refusal}")),
        }
    }
}

/// One connection on the bridge socket. The peer is checked before
/// anything is read from it, so an outsider cannot hold the bridge up.
/// `Ok(None)`: no TCP listener came.
fn admit(conn: &UnixStream, gate: &Gate) -> Result<Option<TcpListener>, Refusal> {
    let peer = gate.peer(conn.as_fd())?;
    if conn.set_read_timeout(Some(HANDOVER_TIMEOUT)).is_err() {
        return Ok(None);
    }
    let Ok(Some(fd)) = sys::recv_fd(conn.as_fd()) else {
        return Ok(None);
    };
    if !is_tcp_listener(&fd) {
        return Ok(None);
    }
    gate.listener(&peer, fd.as_fd())?;
    Ok(Some(TcpListener::from(fd)))
}

fn is_tcp_listener(fd: &OwnedFd) -> bool {
    let opt = |name| sys::socket_option(fd.as_fd(), name).ok();
    opt(libc::SO_ACCEPTCONN) == Some(1)
        && opt(libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && matches!(opt(libc::SO_DOMAIN), Some(libc::AF_INET | libc::AF_INET6))
}

#[cfg(test)]
#[path = "bridge_peer_tests.rs"]
mod tests;
