//! Network `proxy`: the bridge between the sandbox's loopback and the
//! upstream proxy. One relay hop, on the host:
//!
//! ```text
//! child ──TCP──▶ 127.0.0.1:PORT (a listener in the sandbox's netns, whose
//!                descriptor the helper handed to the host bridge)
//!       ──────▶ host bridge process ──TCP──▶ upstream proxy host:port
//! ```
//!
//! The helper stage binds the inside listener before the target is exec'd
//! and passes its descriptor (`SCM_RIGHTS`) over a Unix socket bind-mounted
//! into the sandbox ([`INSIDE_SOCKET`]); the host bridge accepts the child's
//! connections on it directly and stops listening on the Unix socket. No
//! process of the bridge runs inside the sandbox. It takes the listener
//! only from a process of the sandbox it serves, and only one bound outside
//! the host's network namespace (`crate::bridge_peer`): another process
//! that reaches the socket first is refused, so it cannot have its own
//! connections carried to the upstream with the bridge's credentials.
//!
//! The child speaks HTTP CONNECT (or SOCKS5) to the upstream itself; with
//! a SOCKS5 upstream, an HTTP child is served by the bridge's own HTTP
//! front (the private `front` module), which does the SOCKS5 handshake for it (and,
//! for a plain `http://` request, reads the origin's response head). The
//! bridge reads each request's head or SOCKS5 request first, to refuse a
//! target on the host itself (the private `local_target` module) before
//! anything goes upstream (`bridge_http`, `bridge_socks`), and the
//! upstream's answer to it: only a tunnel it opened is relayed both ways,
//! and after a plain request's answer or a refused tunnel nothing more of
//! the child's reaches the upstream, so no second request rides on the
//! first one's check (a `407`, credentials revoked after start, is named
//! on stderr). Past that, it reads nothing, except to put the upstream
//! URL's credentials on each connection ([`crate::upstream_auth`]), so the
//! credentials stay on the host and the child never sees them. The host side is a
//! separate process (`sandspawn __proxy-bridge …`, spawned right before
//! bwrap is exec'd) that watches the bwrap process through a pidfd and
//! exits, removing its private socket directory, as soon as bwrap exits.

use std::ffi::OsString;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accept_pool::serve;
use crate::bridge_peer::{take_listener, Gate};
use crate::front::{self, SocksUpstream};
use crate::front_parse::Spoken;
use crate::refusal::{self, Diagnostics, Protocol, Refused};
use crate::relay_loop::Relay;
use crate::spec::{ProxyBridge, SocksLogin};
use crate::sys;
use crate::upstream_addr::{connect_upstream, resolve, Addresses};
use crate::upstream_auth::{self, SocksAuthError};
use crate::{bridge_http, bridge_socks};

pub use crate::relay::{pipe, Duplex};

/// Where the host's bridge socket appears inside the sandbox (bwrap's
/// private `/dev` is a tmpfs in every filesystem shape, so the mount point
/// can always be created).
pub const INSIDE_SOCKET: &str = "/dev/.sandspawn-proxy.sock";

/// argv\[1\] that selects the host-side bridge process.
pub const BRIDGE_TOKEN: &str = "__proxy-bridge";

/// The bridge process gets the upstream's credentials in its own
/// environment (readable only by its own user, unlike its argv, and not
/// from inside the sandbox, whose pid namespace does not show it):
/// `Proxy-Authorization` for an HTTP upstream…
const AUTHORIZATION_VAR: &str = "SANDSPAWN_PROXY_AUTHORIZATION";
/// …or the SOCKS5 user name and password.
const SOCKS_USER_VAR: &str = "SANDSPAWN_PROXY_SOCKS_USER";
const SOCKS_PASSWORD_VAR: &str = "SANDSPAWN_PROXY_SOCKS_PASSWORD";

/// At most this many connections are piped at once; more are closed.
pub const MAX_CONNECTIONS: usize = 256;

/// The reachability check at start and each upstream connect are bounded.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the helper waits for the host bridge to take the listener.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The SOCKS5 upstream did not accept the URL's username/password.
    #[error(
        "network proxy: the SOCKS5 upstream {display} (from {origin}) refused the login: {source}"
    )]
    SocksAuth {
        /// The URL, credentials masked.
        display: String,
        /// Where it came from (`--proxy`, `ALL_PROXY`).
        origin: String,
        /// Which step refused.
        #[source]
        source: SocksAuthError,
    },
    /// The HTTP upstream answered the probe with the URL's credentials
    /// `407 Proxy Authentication Required`.
    #[error(
        "network proxy: the HTTP upstream {display} (from {origin}) refused the credentials: 407 Proxy Authentication Required"
    )]
    HttpAuth {
        /// The URL, credentials masked.
        display: String,
        /// Where it came from (`--proxy`, `HTTPS_PROXY`).
        origin: String,
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
    #[error("network proxy: inside listener on 127.0.0.1:{port}: {source}")]
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

/// Check once, with bounded waits, that the upstream accepts TCP and, for
/// an upstream with credentials, that it accepts them: a SOCKS5 login, or
/// for HTTP one `CONNECT` probe where only a `407` stops the start (any
/// other answer, or none in time, is left to the child's own requests).
pub fn check_upstream(proxy: &ProxyBridge) -> Result<(), BridgeError> {
    let mut up =
        connect_upstream(&proxy.host, proxy.port).map_err(|e| BridgeError::Unreachable {
            display: proxy.display.clone(),
            origin: proxy.origin.clone(),
            problem: e.to_string(),
        })?;
    if let Some(login) = &proxy.socks_login {
        upstream_auth::socks_login(&mut up, login, upstream_auth::HANDSHAKE_TIMEOUT).map_err(
            |source| BridgeError::SocksAuth {
                display: proxy.display.clone(),
                origin: proxy.origin.clone(),
                source,
            },
        )?;
    } else if let Some(auth) = proxy.authorization.as_deref().filter(|_| !proxy.socks) {
        let target = if proxy.host.contains(':') {
            format!("[{}]:{}", proxy.host, proxy.port)
        } else {
            format!("{}:{}", proxy.host, proxy.port)
        };
        let answer = upstream_auth::probe_http_login(
            &mut up,
            &target,
            auth,
            upstream_auth::HANDSHAKE_TIMEOUT,
        );
        if let Ok(Some(upstream_auth::PROXY_AUTH_REQUIRED)) = answer {
            return Err(BridgeError::HttpAuth {
                display: proxy.display.clone(),
                origin: proxy.origin.clone(),
            });
        }
    }
    Ok(())
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
        .arg(if proxy.socks { "socks5" } else { "http" })
        .arg(&proxy.display)
        .arg(&proxy.origin)
        .arg(if proxy.allow_local {
            LOCAL_ALLOWED
        } else {
            LOCAL_REFUSED
        })
        .env_clear()
        .envs(
            proxy
                .authorization
                .as_ref()
                .map(|a| (AUTHORIZATION_VAR, a.as_str())),
        )
        .envs(proxy.socks_login.iter().flat_map(|l| {
            [
                (SOCKS_USER_VAR, l.username.as_str()),
                (SOCKS_PASSWORD_VAR, l.password.as_str()),
            ]
        }))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // A group of its own: what ends bwrap's group (a library host's
        // SIGKILL to it) would end the bridge before it removed its
        // directory. It goes by itself once bwrap has exited.
        .process_group(0)
        // Ours: a connection it cannot serve is reported there (once per
        // reason and interval, a few lines a second at most), beside the
        // child's own diagnostics.
        .stderr(Stdio::inherit())
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

/// The bridge's last argument: whether targets on the host itself go
/// through (`crate::local_target`).
const LOCAL_ALLOWED: &str = "allow-local";
const LOCAL_REFUSED: &str = "refuse-local";

/// The host bridge process:
/// `__proxy-bridge FD WATCH_PID DIR HOST PORT SCHEME DISPLAY ORIGIN LOCAL`.
pub fn bridge_main(args: &[OsString]) -> ExitCode {
    match run_bridge(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::say(format_args!("sandspawn: {e}"));
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
    let port = u16::try_from(num(4)?).map_err(|e| BridgeError::Args(e.to_string()))?;
    let allow_local = match arg(8)? {
        LOCAL_ALLOWED => true,
        LOCAL_REFUSED => false,
        other => {
            return Err(BridgeError::Args(format!(
                "argument 8: {other:?} is neither {LOCAL_ALLOWED} nor {LOCAL_REFUSED}"
            )))
        }
    };
    if !allow_local {
        // Before any connection: every target is checked against them.
        crate::host_local::init();
    }
    let diagnostics = Diagnostics::default();
    let held = diagnostics.clone();
    let upstream = Upstream {
        host: arg(3)?.to_string(),
        port,
        addresses: Addresses::new(resolve),
        protocol: Protocol::from_scheme(arg(5)?),
        display: arg(6)?.to_string(),
        origin: arg(7)?.to_string(),
        credentials: Credentials::from_env(),
        diagnostics,
        child_wait: upstream_auth::CHILD_TIMEOUT,
        allow_local,
    };
    let sock_err = |source| BridgeError::Socket {
        dir: dir.clone(),
        source,
    };
    let listener = UnixListener::from(sys::take_inherited_fd(fd).map_err(sock_err)?);
    // A tunnel holds about six descriptors (two sockets, two pipe ends each
    // way in flight, epoll's): at MAX_CONNECTIONS that is past the usual
    // soft limit of 1024. Best effort: with a low hard limit, connections
    // past it are refused like those past MAX_CONNECTIONS.
    let _ = sys::raise_nofile_limit(8 * MAX_CONNECTIONS as u64 + 64);

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
            // Refusals held back by the rate limit are summed up before the
            // bridge goes, however short the sandbox's life after them; a
            // summary another thread has taken is out before this returns
            // (lines are written under the diagnostics' lock).
            held.flush();
            std::process::exit(0);
        })
        .map_err(sock_err)?;

    let gate = Gate::new(pid, listener.as_fd());
    let inside = take_listener(&listener, &gate).map_err(sock_err)?;
    drop(listener);
    let relay = Relay::start(STACK_SIZE).map_err(sock_err)?;
    let tunnels = Arc::clone(&relay);
    serve(
        move || inside.accept().map(|(c, _)| c),
        move || tunnels.live(),
        move |conn: TcpStream| set_up(conn, &upstream, &relay),
    )
}

/// Where the host bridge connects, and what it knows to say about it.
pub(crate) struct Upstream {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) addresses: Addresses,
    pub(crate) protocol: Protocol,
    /// The URL, credentials masked, and where it came from: for messages.
    pub(crate) display: String,
    pub(crate) origin: String,
    pub(crate) credentials: Credentials,
    pub(crate) diagnostics: Diagnostics,
    /// How long a child may take over its whole opening: its first byte
    /// and the rest of its greeting or request head, all in one bound.
    pub(crate) child_wait: Duration,
    /// Targets on the host itself go through (`--proxy-allow-local`).
    pub(crate) allow_local: bool,
}

impl Upstream {
    /// A fresh, bounded TCP connection to the upstream.
    pub(crate) fn connect(&self) -> io::Result<TcpStream> {
        self.addresses.connect(&self.host, self.port)
    }

    /// The child's protocol's answer when the upstream cannot be reached:
    /// the reason, told to stderr first.
    pub(crate) fn unreachable(&self, e: &io::Error) -> String {
        let reason = format!(
            "the upstream proxy {} (from {}) is not reachable: {e}",
            self.display, self.origin
        );
        self.diagnostics.report(Refused::Unreachable, &reason);
        reason
    }
}

/// What the host bridge puts on each connection.
pub(crate) enum Credentials {
    None,
    /// `Proxy-Authorization` for an HTTP upstream.
    Http(String),
    /// RFC 1929 login for a SOCKS5 upstream.
    Socks(SocksLogin),
}

impl Credentials {
    fn from_env() -> Self {
        if let Ok(auth) = std::env::var(AUTHORIZATION_VAR) {
            return Self::Http(auth);
        }
        match (
            std::env::var(SOCKS_USER_VAR),
            std::env::var(SOCKS_PASSWORD_VAR),
        ) {
            (Ok(username), Ok(password)) => Self::Socks(SocksLogin { username, password }),
            _ => Self::None,
        }
    }
}

/// One child connection: read what it asks for, check the target, connect
/// the upstream, put the credentials on, and hand both to the relay. When
/// the target is refused, or the upstream cannot be reached or refuses the
/// login, the child is answered in its protocol (HTTP 403 or 502, a SOCKS
/// failure reply) and stderr says why; a child that leaves early is just
/// closed.
fn set_up(conn: TcpStream, upstream: &Upstream, relay: &Relay) {
    let _ = conn.set_nodelay(true);
    // A child that never reads must not hold this thread on a write (an
    // answer, an upstream's interim heads): each write during set-up gets
    // the child's bound. (The relay makes the socket non-blocking, where
    // the bound plays no part.)
    if conn.set_write_timeout(Some(upstream.child_wait)).is_err() {
        return;
    }
    // The child's first byte tells which protocol it speaks: a SOCKS5
    // upstream takes HTTP children too, through the bridge's own HTTP
    // front; an HTTP upstream cannot take a SOCKS5 child, which is told so
    // instead of the upstream's puzzled answer to its greeting.
    // One deadline for the child's whole opening: the peek below and the
    // greeting or head after it share it, so a child that trickles its
    // first byte late gets no fresh bound for the rest.
    let deadline = Instant::now() + upstream.child_wait;
    match (
        upstream.protocol,
        front::sniff_conn(&conn, upstream.child_wait),
    ) {
        (_, None) => {}
        (_, Some(other @ (Spoken::Socks4 | Spoken::Tls | Spoken::Other(_)))) => {
            refusal::refuse_unspoken(conn, other, &upstream.diagnostics)
        }
        (Protocol::Socks5, Some(Spoken::Http)) => http_front(conn, upstream, relay, deadline),
        (Protocol::Socks5, Some(Spoken::Socks5)) => {
            bridge_socks::socks_child(conn, upstream, relay, deadline)
        }
        (Protocol::Http, Some(Spoken::Http)) => {
            bridge_http::http_child(conn, upstream, relay, deadline)
        }
        (Protocol::Http, Some(Spoken::Socks5)) => {
            let reason = format!(
                "a SOCKS5 client, but the upstream proxy {} (from {}) speaks HTTP: the bridge takes HTTP proxy requests (the child's proxy variables say http://)",
                upstream.display, upstream.origin
            );
            upstream.diagnostics.report(Refused::WrongProtocol, &reason);
            refusal::refuse(conn, Protocol::Socks5, &reason)
        }
    }
}

/// An HTTP child of a SOCKS5 upstream: the HTTP front sets the tunnel up.
fn http_front(conn: TcpStream, upstream: &Upstream, relay: &Relay, deadline: Instant) {
    let connect = || upstream.connect();
    let login = match &upstream.credentials {
        Credentials::Socks(login) => Some(login),
        _ => None,
    };
    let front = SocksUpstream {
        connect: &connect,
        login,
        display: &upstream.display,
        origin: &upstream.origin,
        diagnostics: &upstream.diagnostics,
        allow_local: upstream.allow_local,
    };
    if let Some(ready) = front::http_front(conn, &front, deadline, upstream.child_wait) {
        let _ = if ready.one_way {
            relay.add_one_way(ready.child, ready.up)
        } else {
            relay.add(ready.child, ready.up)
        };
    }
}

/// The inside end: bind 127.0.0.1:`port` in the sandbox's network
/// namespace (so the target can connect from its first instruction) and
/// hand the listener to the host bridge over [`INSIDE_SOCKET`], waiting at
/// most [`HANDOVER_TIMEOUT`] for its acknowledgement. Nothing stays running
/// inside: the host bridge accepts on the listener itself.
pub fn start_inside(port: u16) -> Result<(), BridgeError> {
    let err = |source| BridgeError::Inside { port, source };
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(err)?;
    hand_over(&listener, Path::new(INSIDE_SOCKET)).map_err(err)
}

pub(crate) fn hand_over(listener: &TcpListener, socket: &Path) -> io::Result<()> {
    let mut conn = UnixStream::connect(socket)
        .map_err(|e| io::Error::new(e.kind(), format!("connecting {}: {e}", socket.display())))?;
    sys::send_fd(conn.as_fd(), listener.as_fd())?;
    conn.set_read_timeout(Some(HANDOVER_TIMEOUT))?;
    let mut ack = [0u8; 1];
    conn.read_exact(&mut ack).map_err(|e| match e.kind() {
        // Closed without the acknowledgement: the bridge named why.
        io::ErrorKind::UnexpectedEof => io::Error::new(
            e.kind(),
            "the host bridge refused the listener (see its reason above)",
        ),
        _ => io::Error::new(
            e.kind(),
            format!("the host bridge did not take the listener: {e}"),
        ),
    })
}

#[cfg(test)]
#[path = "bridge_tests.rs"]
mod tests;
