//! Network `proxy`: the bridge between the sandbox's loopback and the
//! upstream proxy. Two byte pipes, no protocol:
//!
//! ```text
//! child ──TCP──▶ 127.0.0.1:PORT (inside forwarder, in the sandbox's netns)
//!       ──Unix──▶ INSIDE_SOCKET (bind-mounted host socket)
//!       ──────▶ host bridge process ──TCP──▶ upstream proxy host:port
//! ```
//!
//! The child speaks HTTP CONNECT (or SOCKS5) to the upstream itself. The
//! bridge reads nothing of it, with one exception: when the upstream URL
//! carried credentials (HTTP proxies only), the host side adds
//! `Proxy-Authorization` to the head of each request it forwards, so the
//! credentials stay on the host and the child never sees them. The host side is a separate process
//! (`sandspawn __proxy-bridge …`, spawned right before bwrap is exec'd) that
//! watches the bwrap process through a pidfd and exits, removing its private
//! socket directory, as soon as bwrap exits. The inside forwarder is forked
//! by the helper stage before the target is exec'd and dies with the
//! sandbox's pid namespace.

use std::ffi::OsString;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::spec::ProxyBridge;
use crate::sys;

/// Where the host's bridge socket appears inside the sandbox (bwrap's
/// private `/dev` is a tmpfs in every filesystem shape, so the mount point
/// can always be created).
pub const INSIDE_SOCKET: &str = "/dev/.sandspawn-proxy.sock";

/// argv\[1\] that selects the host-side bridge process.
pub const BRIDGE_TOKEN: &str = "__proxy-bridge";

/// The bridge process gets the `Proxy-Authorization` value here (its
/// environment is readable only by its own user, unlike its argv).
const AUTHORIZATION_VAR: &str = "SANDSPAWN_PROXY_AUTHORIZATION";

/// A request head larger than this is refused (the connection is closed).
const MAX_HEAD: usize = 64 * 1024;

/// At most this many connections are piped at once; more are closed.
pub const MAX_CONNECTIONS: usize = 256;

/// The reachability check at start and each upstream connect are bounded.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Kernel pipe capacity of a bulk direction (the pipe holds bytes in flight).
const PIPE_SIZE: usize = 256 * 1024;
/// A direction is grown to [`PIPE_SIZE`] once this much has crossed it.
const GROW_AFTER: usize = 256 * 1024;
const STACK_SIZE: usize = 256 * 1024;

/// Why the bridge could not start. Each names its step.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The upstream did not accept a TCP connection within the bound.
    #[error(
        "network proxy: the upstream proxy {display} (from {origin}) is not reachable: {problem}"
    )]
    Unreachable {
        /// The URL, credentials masked.
        display: String,
        /// Where it came from (`--proxy`, `HTTPS_PROXY`).
        origin: String,
        /// What happened.
        problem: String,
    },
    /// The private socket directory or the socket could not be made.
    #[error("network proxy: creating the bridge socket in {}: {source}", dir.display())]
    Socket {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The host bridge process could not be started.
    #[error("network proxy: starting the bridge process {}: {source}", exe.display())]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The inside listener could not be set up.
    #[error("network proxy: inside forwarder on 127.0.0.1:{port}: {source}")]
    Inside {
        /// The inside port.
        port: u16,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The bridge process's own arguments are malformed (a bug).
    #[error("proxy bridge arguments: {0}")]
    Args(String),
}

/// The host side, started: the socket to bind into the sandbox.
#[derive(Debug)]
pub struct HostBridge {
    /// The listening socket's path on the host (in a private 0700 directory).
    pub socket: PathBuf,
}

/// Resolve `host:port` and connect to the first address that answers.
fn connect_upstream(host: &str, port: u16) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Check once, with a bounded timeout, that the upstream accepts TCP.
pub fn check_upstream(proxy: &ProxyBridge) -> Result<(), BridgeError> {
    connect_upstream(&proxy.host, proxy.port)
        .map(drop)
        .map_err(|e| BridgeError::Unreachable {
            display: proxy.display.clone(),
            origin: proxy.origin.clone(),
            problem: e.to_string(),
        })
}

/// A fresh 0700 directory under `base` (`sandspawn-proxy-PID-N`).
fn private_dir(base: &Path) -> Result<PathBuf, BridgeError> {
    use std::os::unix::fs::DirBuilderExt;
    let pid = std::process::id();
    let mut last = None;
    for n in 0..64u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("sandspawn-proxy-{pid}-{nanos:x}{n}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(source) => return Err(BridgeError::Socket { dir, source }),
        }
    }
    Err(BridgeError::Socket {
        dir: base.to_path_buf(),
        source: last.unwrap_or_else(|| io::Error::other("no free name")),
    })
}

/// Start the host side for a sandbox that this process is about to become
/// (by exec'ing bwrap): check the upstream, listen on a Unix socket in a
/// private directory, and spawn `exe __proxy-bridge` to serve it. The
/// bridge watches this process id, so it lives exactly as long as bwrap.
pub fn start_host(proxy: &ProxyBridge, exe: &Path) -> Result<HostBridge, BridgeError> {
    check_upstream(proxy)?;
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = private_dir(&base)?;
    let socket = dir.join("proxy.sock");
    let sock_err = |source| BridgeError::Socket {
        dir: dir.clone(),
        source,
    };
    let listener = UnixListener::bind(&socket).map_err(sock_err)?;
    sys::inherit_fd(listener.as_fd()).map_err(sock_err)?;
    let spawned = Command::new(exe)
        .arg(BRIDGE_TOKEN)
        .arg(listener.as_raw_fd().to_string())
        .arg(std::process::id().to_string())
        .arg(&dir)
        .arg(&proxy.host)
        .arg(proxy.port.to_string())
        .env_clear()
        .envs(
            proxy
                .authorization
                .as_ref()
                .map(|a| (AUTHORIZATION_VAR, a.as_str())),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    // Our copy goes now: bwrap must not inherit the listener.
    drop(listener);
    match spawned {
        Ok(_child) => Ok(HostBridge { socket }),
        Err(source) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(BridgeError::Spawn {
                exe: exe.to_path_buf(),
                source,
            })
        }
    }
}

/// The host bridge process: `__proxy-bridge FD WATCH_PID DIR HOST PORT`.
pub fn bridge_main(args: &[OsString]) -> ExitCode {
    match run_bridge(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandspawn: {e}");
            ExitCode::from(crate::helper::EXIT_SETUP_FAILED)
        }
    }
}

fn run_bridge(args: &[OsString]) -> Result<(), BridgeError> {
    let arg = |i: usize| {
        args.get(i)
            .and_then(|a| a.to_str())
            .ok_or_else(|| BridgeError::Args(format!("argument {i} missing or not UTF-8")))
    };
    let num = |i: usize| {
        arg(i)?
            .parse::<i64>()
            .map_err(|e| BridgeError::Args(format!("argument {i}: {e}")))
    };
    let fd = i32::try_from(num(0)?).map_err(|e| BridgeError::Args(e.to_string()))?;
    let pid = i32::try_from(num(1)?).map_err(|e| BridgeError::Args(e.to_string()))?;
    let dir = PathBuf::from(args.get(2).cloned().unwrap_or_default());
    let host = arg(3)?.to_string();
    let port = u16::try_from(num(4)?).map_err(|e| BridgeError::Args(e.to_string()))?;
    let sock_err = |source| BridgeError::Socket {
        dir: dir.clone(),
        source,
    };
    let listener = UnixListener::from(sys::take_inherited_fd(fd).map_err(sock_err)?);

    // Lifetime: exit (and remove the socket directory) when the watched
    // process — bwrap — exits, however it exits.
    let watched = sys::pidfd_open(pid);
    let cleanup_dir = dir.clone();
    std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || {
            match watched {
                Ok(fd) => {
                    let _ = sys::wait_readable(fd.as_fd());
                }
                Err(_) => {
                    // No pidfd (kernel < 5.3): poll.
                    while Path::new(&format!("/proc/{pid}")).exists() {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
            let _ = std::fs::remove_dir_all(&cleanup_dir);
            std::process::exit(0);
        })
        .map_err(sock_err)?;

    let authorization = std::env::var(AUTHORIZATION_VAR).ok();
    serve(
        move || listener.accept().map(|(c, _)| c),
        move |mut conn: UnixStream| {
            if let Ok(mut up) = connect_upstream(&host, port) {
                if let Some(auth) = &authorization {
                    if forward_head_with_auth(&mut conn, &mut up, auth).is_err() {
                        return;
                    }
                }
                pipe(conn, up);
            }
        },
    )
}

/// Read the request head the child sent (up to the blank line), add
/// `Proxy-Authorization` (dropping any the child sent) and write it to the
/// upstream, with whatever followed the head. A CONNECT tunnel needs it
/// once; for a plain-HTTP request the connection is marked `close`, so the
/// next request comes on a new connection and gets the header again.
fn forward_head_with_auth(conn: &mut UnixStream, up: &mut TcpStream, auth: &str) -> io::Result<()> {
    use std::io::{Read, Write};
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("request head too large"));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other("closed before a request head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    conn.set_read_timeout(None)?;
    up.write_all(&add_authorization(&buf[..end], auth))?;
    up.write_all(b"\r\n\r\n")?;
    up.write_all(&buf[end + 4..])
}

/// The head (without its final blank line) with `Proxy-Authorization`
/// set; non-CONNECT requests also get `Connection: close`.
fn add_authorization(head: &[u8], auth: &str) -> Vec<u8> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request = lines.next().unwrap_or_default();
    let connect = request.len() >= 8 && request[..8].eq_ignore_ascii_case(b"CONNECT ");
    let mut out = request.to_vec();
    for line in lines {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let drop = name.eq_ignore_ascii_case(b"proxy-authorization")
            || (!connect
                && (name.eq_ignore_ascii_case(b"connection")
                    || name.eq_ignore_ascii_case(b"proxy-connection")));
        if !drop {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\nProxy-Authorization: ");
    out.extend_from_slice(auth.as_bytes());
    if !connect {
        out.extend_from_slice(b"\r\nConnection: close\r\nProxy-Connection: close");
    }
    out
}

/// Serve connections on a pool of pre-spawned threads that each block in
/// `accept` and then pipe the connection they got themselves (no hand-off,
/// no thread spawn per connection in the steady state). The pool grows
/// when no thread is left accepting, up to [`MAX_CONNECTIONS`] busy; beyond
/// that, accepted connections are closed at once (the client sees EOF).
/// Idle threads above [`IDLE_THREADS`] exit. Never returns: the calling
/// thread is one of the acceptors.
fn serve<C: Send + 'static>(
    accept: impl Fn() -> io::Result<C> + Send + Sync + 'static,
    handle: impl Fn(C) + Send + Sync + 'static,
) -> ! {
    let pool = Arc::new(Pool {
        idle: AtomicUsize::new(0),
        busy: AtomicUsize::new(0),
        accept: Box::new(accept),
        handle: Box::new(handle),
    });
    for _ in 1..IDLE_THREADS {
        spawn_acceptor(&pool);
    }
    acceptor(&pool, true);
    std::process::exit(0)
}

/// At least this many threads wait in `accept` once started (the main one
/// included), and at most this many stay when connections end.
const IDLE_THREADS: usize = 2;

type AcceptFn<C> = Box<dyn Fn() -> io::Result<C> + Send + Sync>;
type HandleFn<C> = Box<dyn Fn(C) + Send + Sync>;

struct Pool<C> {
    idle: AtomicUsize,
    busy: AtomicUsize,
    accept: AcceptFn<C>,
    handle: HandleFn<C>,
}

fn spawn_acceptor<C: Send + 'static>(pool: &Arc<Pool<C>>) {
    let pool = Arc::clone(pool);
    // A failed spawn only means fewer acceptors: the main one remains.
    let _ = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || acceptor(&pool, false));
}

fn acceptor<C: Send + 'static>(pool: &Arc<Pool<C>>, main: bool) {
    loop {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let conn = (pool.accept)();
        let idle_left = pool.idle.fetch_sub(1, Ordering::AcqRel) - 1;
        let Ok(conn) = conn else { continue };
        if pool.busy.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            pool.busy.fetch_sub(1, Ordering::AcqRel);
            drop(conn);
            continue;
        }
        if idle_left == 0 {
            spawn_acceptor(pool);
        }
        (pool.handle)(conn);
        pool.busy.fetch_sub(1, Ordering::AcqRel);
        if !main && pool.idle.load(Ordering::Acquire) >= IDLE_THREADS {
            return;
        }
    }
}

/// The inside forwarder: bind 127.0.0.1:`port` now (so the target can
/// connect from its first instruction), then serve it in a forked child.
/// Returns in the parent; `confine_child` runs in the child before it
/// serves (the same confinement as the target). Call single-threaded.
pub fn start_inside(
    port: u16,
    confine_child: impl FnOnce() -> Result<(), String>,
) -> Result<(), BridgeError> {
    let err = |source| BridgeError::Inside { port, source };
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(err)?;
    match sys::fork_single_threaded().map_err(err)? {
        Some(_child) => Ok(()),
        None => {
            let _ = sys::stdin_stdout_to_null();
            if let Err(e) = confine_child() {
                eprintln!("sandspawn: proxy forwarder: {e}");
                std::process::exit(i32::from(crate::helper::EXIT_SETUP_FAILED));
            }
            serve(
                move || listener.accept().map(|(c, _)| c),
                |conn: TcpStream| {
                    let _ = conn.set_nodelay(true);
                    if let Ok(out) = UnixStream::connect(INSIDE_SOCKET) {
                        pipe(conn, out);
                    }
                },
            )
        }
    }
}

/// A connected stream socket the pipe can relay.
pub trait Duplex: AsFd + Send + Sized + 'static {
    /// `shutdown(2)`.
    fn close(&self, how: Shutdown);
    /// Make I/O on it non-blocking.
    fn nonblocking(&self) -> io::Result<()>;
}

impl Duplex for TcpStream {
    fn close(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}

impl Duplex for UnixStream {
    fn close(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}

/// Copy both directions until both end, on the calling thread. EOF on one
/// side half-closes the other (TLS close_notify and HTTP/1.0 bodies keep
/// working); an error on either side shuts both down, so the client sees
/// EOF or a reset and nothing waits forever.
///
/// Bytes move socket → pipe → socket with `splice(2)` (no copy through user
/// space); one `poll(2)` over both sockets waits for whichever direction
/// is blocked.
pub fn pipe<A: Duplex, B: Duplex>(a: A, b: B) {
    if relay(&a, &b).is_err() {
        a.close(Shutdown::Both);
        b.close(Shutdown::Both);
    }
}

/// One direction: bytes from `src` wait in a kernel pipe until `dst` takes
/// them.
struct Half {
    rd: OwnedFd,
    wr: OwnedFd,
    /// Bytes taken from `src` so far (saturating; only compared with
    /// [`GROW_AFTER`]).
    moved: usize,
    /// Bytes in the pipe.
    pending: usize,
    /// `src` reached end of file.
    eof: bool,
    /// `dst` has been half-closed: this direction is over.
    done: bool,
}

impl Half {
    fn new() -> io::Result<Self> {
        let (rd, wr) = sys::pipe_nonblocking()?;
        Ok(Self {
            rd,
            wr,
            moved: 0,
            pending: 0,
            eof: false,
            done: false,
        })
    }

    /// Move what can be moved now without blocking.
    fn step(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
        if !self.eof {
            match sys::splice(src, self.wr.as_fd(), PIPE_SIZE) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.pending += n;
                    self.grow_if_bulk(n);
                }
                Err(e) if retry_later(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if self.pending > 0 {
            match sys::splice(self.rd.as_fd(), dst, self.pending) {
                Ok(n) => self.pending -= n,
                Err(e) if retry_later(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A bulk transfer gets a bigger pipe (more per call). Only then: pipe
    /// capacity counts against a per-user quota (`pipe-user-pages-soft`,
    /// for every process of the user), so hundreds of mostly idle tunnels
    /// keep the default 64 KiB. If refused, the default works, only with
    /// more calls.
    fn grow_if_bulk(&mut self, n: usize) {
        let before = self.moved;
        self.moved = self.moved.saturating_add(n);
        if before < GROW_AFTER && self.moved >= GROW_AFTER {
            let _ = sys::set_pipe_size(self.wr.as_fd(), PIPE_SIZE);
        }
    }

    /// What to wait for: `dst` writable while the pipe holds bytes (not
    /// `src` readable then: the pipe may be full), else `src` readable.
    fn interest(&self) -> (i16, i16) {
        if self.done {
            (0, 0)
        } else if self.pending > 0 {
            (0, libc::POLLOUT)
        } else {
            (libc::POLLIN, 0)
        }
    }
}

fn retry_later(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn relay<A: Duplex, B: Duplex>(a: &A, b: &B) -> io::Result<()> {
    a.nonblocking()?;
    b.nonblocking()?;
    // [a → b, b → a]
    let mut halves = [Half::new()?, Half::new()?];
    loop {
        let mut events = [0i16; 2];
        for (i, half) in halves.iter_mut().enumerate() {
            if half.done {
                continue;
            }
            let (src, dst) = if i == 0 {
                (a.as_fd(), b.as_fd())
            } else {
                (b.as_fd(), a.as_fd())
            };
            half.step(src, dst)?;
            if half.eof && half.pending == 0 {
                if i == 0 {
                    b.close(Shutdown::Write);
                } else {
                    a.close(Shutdown::Write);
                }
                half.done = true;
            }
            let (on_src, on_dst) = half.interest();
            events[i] |= on_src;
            events[1 - i] |= on_dst;
        }
        if halves.iter().all(|h| h.done) {
            return Ok(());
        }
        // Only descriptors with something to wait for are watched: a hung-up
        // socket nobody waits on must not wake the loop forever.
        sys::poll_two([
            ((events[0] != 0).then(|| a.as_fd()), events[0]),
            ((events[1] != 0).then(|| b.as_fd()), events[1]),
        ])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn authorization_is_added_and_the_childs_own_dropped() {
        let head = b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\nProxy-Authorization: Basic Zm9yZ2Vk";
        let out = add_authorization(head, "Basic YTpi");
        assert_eq!(
            out,
            b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\nProxy-Authorization: Basic YTpi".to_vec()
        );
        let get = b"GET http://x/ HTTP/1.1\r\nHost: x\r\nConnection: keep-alive";
        let out = String::from_utf8(add_authorization(get, "Basic YTpi")).unwrap();
        assert_eq!(out, "GET http://x/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic YTpi\r\nConnection: close\r\nProxy-Connection: close");
    }

    #[test]
    fn pipe_copies_both_ways_and_propagates_eof() {
        let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (inner, _) = l1.accept().unwrap();
            let outer = TcpStream::connect(a2).unwrap();
            pipe(inner, outer);
        });
        let mut client = TcpStream::connect(a1).unwrap();
        let (mut server, _) = l2.accept().unwrap();
        client.write_all(b"ping").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ping");
        server.write_all(b"pong").unwrap();
        drop(server);
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"pong");
        t.join().unwrap();
    }

    #[test]
    fn pipe_moves_megabytes_both_ways_at_once_tcp_to_unix() {
        let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let a1 = l1.local_addr().unwrap();
        let (outer, mut server) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let (inner, _) = l1.accept().unwrap();
            pipe(inner, outer);
        });
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut client = TcpStream::connect(a1).unwrap();
        let (up, down) = (data.clone(), data.clone());
        let mut c2 = client.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            c2.write_all(&up).unwrap();
            c2.shutdown(Shutdown::Write).unwrap();
        });
        let mut s2 = server.try_clone().unwrap();
        let echo = std::thread::spawn(move || {
            s2.write_all(&down).unwrap();
            s2.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        echo.join().unwrap();
        t.join().unwrap();
        assert!(got == data, "client to server: {} bytes", got.len());
        assert!(back == data, "server to client: {} bytes", back.len());
    }

    #[test]
    fn unreachable_upstream_is_one_line_naming_the_origin() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = check_upstream(&ProxyBridge {
            host: "127.0.0.1".into(),
            port,
            inside_port: 3128,
            origin: "HTTPS_PROXY".into(),
            display: format!("http://127.0.0.1:{port}"),
            authorization: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("from HTTPS_PROXY"), "{e}");
        assert!(e.contains("not reachable"), "{e}");
        assert!(!e.contains('\n'));
    }
}
