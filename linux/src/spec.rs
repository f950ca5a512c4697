//! The sandbox spec: plain data, decided by the core, enforced here.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which enforcement to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// bwrap when it works on this host, else Landlock; the choice is reported.
    #[default]
    Auto,
    /// bubblewrap namespaces, with Landlock and seccomp inside.
    Bwrap,
    /// Landlock, seccomp and no_new_privs only (no namespaces).
    Landlock,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Bwrap => "bwrap",
            Backend::Landlock => "landlock",
        })
    }
}

/// How the child reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own network namespace with loopback only; inet sockets refused.
    #[default]
    None,
    /// Own network namespace; the only way out is a bridge to the upstream proxy.
    Proxy,
    /// The host network.
    Full,
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetworkMode::None => "none",
            NetworkMode::Proxy => "proxy",
            NetworkMode::Full => "full",
        })
    }
}

/// One filesystem operation of the sandbox, applied in order.
///
/// Order matters: a later mount at or below an earlier one hides it, which is
/// how deny carve-outs and read-only protected subpaths win over the broader
/// roots they sit in. The core emits parents before children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mount {
    /// Bind `path` read-only at the same path.
    ReadOnly { path: PathBuf },
    /// Bind `path` read-write at the same path.
    ReadWrite { path: PathBuf },
    /// An empty, writable, private directory at `path` (e.g. HOME, /tmp).
    Tmpfs { path: PathBuf },
    /// Hide `path`: an empty read-only directory, or an empty file for files.
    Mask { path: PathBuf, is_dir: bool },
    /// A symlink at `path` pointing at `target` (e.g. /bin -> usr/bin).
    Symlink { path: PathBuf, target: PathBuf },
}

impl Mount {
    /// The path inside the sandbox this operation acts on.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Mount::ReadOnly { path }
            | Mount::ReadWrite { path }
            | Mount::Tmpfs { path }
            | Mount::Mask { path, .. }
            | Mount::Symlink { path, .. } => path,
        }
    }
}

/// Everything needed to start one sandboxed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The program (resolved by the core or left for PATH lookup inside).
    pub program: OsString,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
    /// The complete environment of the child; nothing else is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// Filesystem view, in order.
    pub mounts: Vec<Mount>,
    /// Network mode.
    pub network: NetworkMode,
    /// Requested backend.
    pub backend: Backend,
    /// Kill the sandbox when the process that started it goes away. The
    /// kernel ties this to the *thread* that forked (PR_SET_PDEATHSIG), so
    /// set it only when that thread lives as long as its process; an MCP
    /// client may fork from a short-lived worker thread, and then the
    /// server would die with that thread.
    pub die_with_parent: bool,
    /// The bridge to the upstream proxy (network `proxy` only).
    pub proxy: Option<ProxyBridge>,
    /// `explain --verify`: instead of exec'ing the command, run these
    /// checks inside the sandbox once it is confined, print one line each
    /// on stdout, and exit 0 when all hold, 1 otherwise. Empty otherwise.
    pub checks: Vec<crate::verify::Check>,
    /// What each user root was when the plan checked it: the helper stage
    /// refuses to start when the object it is about to grant (the Landlock
    /// rule's descriptor, the mount inside bwrap) is another one. Roots
    /// the plan found absent, and system roots, have none.
    pub pins: Vec<Pin>,
}

/// The identity of a filesystem object: a bind mount shows the same pair
/// as its source, a link or a replaced directory shows another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// A root and the object it was when the plan checked it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The root, as mounted (and as the Landlock rule names it).
    pub path: PathBuf,
    /// What it was.
    pub id: FileId,
}

/// Network `proxy`: where the bridge listens inside and where it goes outside.
///
/// The core decides all of it (from `--proxy` or the parent's variables);
/// this crate only runs the two byte pipes: a listener on the sandbox's
/// loopback at `inside_port`, a Unix socket carried into the sandbox, and a
/// host-side process that connects each connection to `host:port`. The
/// child speaks HTTP CONNECT or SOCKS5 to the upstream itself; the host side
/// only adds the upstream's credentials, which never enter the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyBridge {
    /// The upstream proxy's host (a name or an IP literal, without brackets).
    pub host: String,
    /// The upstream proxy's port.
    pub port: u16,
    /// The port the bridge listens on at 127.0.0.1 inside the sandbox.
    pub inside_port: u16,
    /// Where the upstream came from, for messages (`--proxy`, `HTTPS_PROXY`).
    pub origin: String,
    /// The upstream URL for messages, credentials masked.
    pub display: String,
    /// `Proxy-Authorization` for the upstream (from the URL's credentials).
    /// Only the host bridge uses it; it is never rendered into the
    /// sandbox's argv or environment.
    #[serde(default)]
    pub authorization: Option<String>,
    /// SOCKS5 username/password (RFC 1929) for the upstream, from the URL's
    /// credentials. Like `authorization`, only the host bridge uses it.
    #[serde(default)]
    pub socks_login: Option<SocksLogin>,
    /// The upstream speaks SOCKS5 (`socks5://`, `socks5h://`); otherwise
    /// HTTP. With SOCKS5 the bridge takes SOCKS5 and HTTP children alike
    /// (its HTTP front does the SOCKS5 handshake for the latter), and
    /// answers a connection it cannot serve in the child's protocol.
    #[serde(default)]
    pub socks: bool,
    /// Let the child's requests reach targets on the host itself
    /// (loopback, unspecified and link-local addresses, `localhost`);
    /// refused by default (`crate::local_target`).
    #[serde(default)]
    pub allow_local: bool,
}

/// SOCKS5 username/password, each 1 to 255 bytes (RFC 1929). `Debug`
/// masks the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocksLogin {
    /// The user name, %-escapes decoded.
    pub username: String,
    /// The password, %-escapes decoded.
    pub password: String,
}

impl fmt::Debug for SocksLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocksLogin")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}
