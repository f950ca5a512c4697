//! The bubblewrap backend: find and probe `bwrap`, render the spec into its argv.
//!
//! Rendering is a pure function of the spec, the probed features and the
//! helper invocation; discovery and probing touch the host and are cached.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::helper::HELPER_TOKEN;
use crate::policy::HelperPolicy;
use crate::spec::{Mount, NetworkMode, SandboxSpec};

/// What the `bwrap` on this host can do, probed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BwrapFeatures {
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// `bwrap --version`, e.g. `(0, 8, 0)`.
    pub version: (u32, u32, u32),
    /// `--cap-drop` (drop every capability bwrap would keep for uid 0).
    pub cap_drop: bool,
}

impl BwrapFeatures {
    /// A bwrap that understands everything we may render (for tests).
    pub fn full(path: impl Into<PathBuf>) -> Self {
        BwrapFeatures {
            path: path.into(),
            version: (0, 8, 0),
            cap_drop: true,
        }
    }
}

/// The most arguments bwrap takes after its own name (`MAX_ARGS` in
/// bubblewrap.c, counting the command's too).
pub const BWRAP_MAX_ARGS: usize = 9000;

/// Render `spec` into the complete argv of bwrap (argv\[0\] is the bwrap path).
///
/// `helper` is the helper-stage executable as seen from inside the sandbox
/// (e.g. `/proc/self/fd/3`, an inherited descriptor of the sandspawn binary).
/// bwrap execs `helper __helper POLICY... -- PROGRAM ARGS...`, where POLICY is
/// [`HelperPolicy::for_bwrap`] of the same spec, so that Landlock and seccomp
/// inside cannot disagree with the mounts outside.
///
/// Order of the rendered argv:
/// 1. namespace and lifecycle flags (`--new-session` against TIOCSTI,
///    `--die-with-parent`, user/pid/ipc/uts namespaces, net unless `full`);
/// 2. mounts at `/` itself (the read-everything shape binds `/` read-only;
///    otherwise the root stays bwrap's private tmpfs);
/// 3. a fresh `--proc /proc` (its `/proc/sys` bound read-only) and a
///    private `--dev /dev`, after any `/` bind so that the host's `/proc`
///    and `/dev` never show through it;
/// 4. every other mount, in spec order.
///
/// Why order is the security property: bwrap applies operations one after
/// another, and a mount at or below an earlier one covers it. The core emits
/// parents before children and, at one path, grants before masks, so a deny
/// carve-out inside a read root is rendered after the root and hides it, and
/// a read-only protected subpath inside a writable root is rendered after
/// that root and wins. Reordering would silently expose what was denied.
pub fn bwrap_argv(spec: &SandboxSpec, features: &BwrapFeatures, helper: &Path) -> Vec<OsString> {
    bwrap_argv_with(spec, features, helper, None, None)
}

/// [`bwrap_argv`], plus what only a real spawn has:
/// - network `proxy`'s bridge socket: the host socket `bridge` is bound
///   read-write at [`crate::bridge::INSIDE_SOCKET`] after every other mount
///   (inside bwrap's private `/dev`);
/// - the command's stdout inherited on descriptor `stdout_fd` rather than 1:
///   the helper moves it back to 1, so bwrap's own processes never hold the
///   command's stdout open.
pub fn bwrap_argv_with(
    spec: &SandboxSpec,
    features: &BwrapFeatures,
    helper: &Path,
    bridge: Option<&Path>,
    stdout_fd: Option<i32>,
) -> Vec<OsString> {
    let mut argv = Argv(vec![features.path.clone().into_os_string()]);
    argv.flags(&["--new-session"]);
    if spec.die_with_parent {
        argv.flags(&["--die-with-parent"]);
    }
    argv.flags(&[
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
    ]);
    if spec.network != NetworkMode::Full {
        argv.flags(&["--unshare-net"]);
    }
    // No `--disable-userns`: the helper's seccomp filter already refuses
    // every way to a nested namespace (unshare, clone with namespace flags,
    // clone3), and bwrap would create a second user namespace to enforce it,
    // ~0.4 ms on every spawn.
    if features.cap_drop {
        argv.flags(&["--cap-drop", "ALL"]);
    }
    let is_root = |m: &&Mount| m.path() == Path::new("/");
    for mount in spec.mounts.iter().filter(is_root) {
        argv.mount(mount);
    }
    // /proc/sys read-only: bwrap's own cover skips it (the directory is
    // 0555, so its W_OK test fails), yet its files are writable by a uid 0
    // that maps to the host's root: kernel/core_pattern runs a program as
    // host root. Landlock, best-effort, must not be the only guard.
    argv.flags(&[
        "--proc",
        "/proc",
        "--ro-bind",
        "/proc/sys",
        "/proc/sys",
        "--dev",
        "/dev",
    ]);
    for mount in spec
        .mounts
        .iter()
        .filter(|m| !is_root(m) && !binds_host_proc(m) && !binds_private_dev(m))
    {
        argv.mount(mount);
    }
    // A hidden directory's tmpfs turns read-only only after every mount:
    // bwrap makes the mount points of grants inside it (allow inside deny
    // inside allow) in that tmpfs, which it cannot once it is read-only.
    // `--remount-ro` is not recursive: the grants keep their own flags.
    for mount in spec.mounts.iter().filter(|m| !is_root(m)) {
        if let Mount::Mask { path, is_dir: true } = mount {
            argv.push("--remount-ro");
            argv.push(path);
        }
    }
    if let Some(socket) = bridge.filter(|_| spec.network == NetworkMode::Proxy) {
        argv.push("--bind");
        argv.push(socket);
        argv.push(crate::bridge::INSIDE_SOCKET);
    }
    argv.flags(&["--clearenv"]);
    for (key, value) in &spec.env {
        argv.push("--setenv");
        argv.push(key);
        argv.push(value);
    }
    argv.push("--chdir");
    argv.push(&spec.cwd);
    argv.push("--");
    argv.push(helper);
    argv.push(HELPER_TOKEN);
    let policy = HelperPolicy {
        stdout_fd,
        ..HelperPolicy::for_bwrap(spec)
    };
    argv.0.extend(policy.to_args());
    argv.push("--");
    argv.push(&spec.program);
    argv.0.extend(spec.args.iter().cloned());
    argv.0
}

/// A bind at or under `/proc` (`--read /proc`, a working directory there)
/// would cover the fresh `/proc` with the host's: every host process, its
/// cmdline and, for the same uid, its `root` and `fd` links would show
/// through the pid namespace. The sandbox's own `/proc` already answers
/// such a grant; masks and tmpfs there still hide parts of it.
pub fn binds_host_proc(mount: &Mount) -> bool {
    matches!(mount, Mount::ReadOnly { .. } | Mount::ReadWrite { .. })
        && crate::pathcmp::starts_with(mount.path(), Path::new("/proc"))
}

/// A bind of the host's `/dev` or of a node the private `/dev` has
/// (`--read /dev/null`): bwrap binds without device access (`nodev`), so
/// the host's node would cover the working one with one every open
/// refuses (EACCES), and `--read /dev` would do so for all of them. The
/// sandbox's own `/dev` already answers such a grant.
pub fn binds_private_dev(mount: &Mount) -> bool {
    let path = mount.path();
    matches!(mount, Mount::ReadOnly { .. } | Mount::ReadWrite { .. })
        // What `--dev /dev` makes itself: /dev exactly, and each of its
        // nodes (or /dev/pts) with what is under it.
        && (crate::pathcmp::same_path(path, Path::new("/dev"))
            || crate::expand::DEVICES
                .iter()
                .any(|d| crate::pathcmp::starts_with(path, Path::new(d))))
}

struct Argv(Vec<OsString>);

impl Argv {
    fn push(&mut self, arg: impl AsRef<OsStr>) {
        self.0.push(arg.as_ref().to_os_string());
    }

    fn flags(&mut self, flags: &[&str]) {
        self.0.extend(flags.iter().map(OsString::from));
    }

    fn mount(&mut self, mount: &Mount) {
        match mount {
            Mount::ReadOnly { path } => self.bind("--ro-bind", path),
            Mount::ReadWrite { path } => self.bind("--bind", path),
            Mount::Tmpfs { path } => {
                self.push("--tmpfs");
                self.push(path);
            }
            Mount::Mask { path, is_dir: true } => {
                // An empty tmpfs, made read-only after the other mounts
                // (bwrap_argv_with): nothing to read, nowhere to write.
                self.push("--tmpfs");
                self.push(path);
            }
            Mount::Mask {
                path,
                is_dir: false,
            } => {
                self.push("--ro-bind");
                self.push("/dev/null");
                self.push(path);
            }
            Mount::Symlink { path, target } => {
                self.push("--symlink");
                self.push(target);
                self.push(path);
            }
        }
    }

    fn bind(&mut self, flag: &str, path: &Path) {
        self.push(flag);
        self.push(path);
        self.push(path);
    }
}

/// Why no usable bwrap was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BwrapProbeError {
    /// None on PATH (or every one sits inside a writable root).
    #[error("no usable `bwrap` on PATH outside the working directory and writable roots (install bubblewrap)")]
    NotFound,
    /// Found but `bwrap --version` did not answer as expected.
    #[error("`{path}` does not answer `--version` like bubblewrap: {detail}")]
    BadVersion { path: PathBuf, detail: String },
    /// Found, but a trial sandbox fails here (user namespaces blocked, /proc
    /// masked by a container...). `detail` names the kernel feature.
    #[error("`{path}` cannot create a sandbox on this host: {detail}; use --backend landlock, or see `sandspawn doctor`")]
    Trial { path: PathBuf, detail: String },
}

/// Directories a `bwrap` must not be taken from for `spec`: its writable
/// roots (the child, or a previous one, could plant one there) and its
/// working directory (a checkout could ship one on a PATH entry inside it).
///
/// A working directory that contains the system's bin directories (`/`,
/// `/usr`) is the system itself: counting it would rule out every bwrap,
/// so `run --cwd /` could never use this backend.
pub fn untrusted_dirs(spec: &SandboxSpec) -> Vec<&Path> {
    const SYSTEM_BIN: [&str; 4] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];
    let cwd = spec.cwd.as_path();
    let cwd_is_system = SYSTEM_BIN
        .iter()
        .any(|bin| crate::pathcmp::starts_with(Path::new(bin), cwd));
    let writable = spec.mounts.iter().filter_map(|m| match m {
        Mount::ReadWrite { path } => Some(path.as_path()),
        _ => None,
    });
    let mut dirs: Vec<&Path> = Vec::new();
    for dir in (!cwd_is_system).then_some(cwd).into_iter().chain(writable) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// The first `bwrap` on `path_var` that is not inside any of `untrusted`
/// (the command's cwd and writable roots, which the child could plant one in).
pub fn find_bwrap(path_var: &OsStr, untrusted: &[&Path]) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("bwrap"))
        .filter(|cand| {
            let real = std::fs::canonicalize(cand).unwrap_or_else(|_| cand.clone());
            !untrusted
                .iter()
                .any(|u| real.starts_with(u) || cand.starts_with(u))
        })
        .find(|cand| is_executable(cand))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Parse `bubblewrap 0.8.0` into `(0, 8, 0)`.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = word.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Probe a bwrap binary: `--version` (one spawn); optional flags follow from it.
pub fn probe_features(path: &Path) -> Result<BwrapFeatures, BwrapProbeError> {
    let bad = |detail: String| BwrapProbeError::BadVersion {
        path: path.to_path_buf(),
        detail,
    };
    // Bounded: a hung `bwrap --version` must not hang the spawn.
    let (_, text, _) =
        crate::doctor::run_bounded(Command::new(path).arg("--version").env_clear()).map_err(bad)?;
    let version = parse_version(&text).ok_or_else(|| bad(format!("unexpected output {text:?}")))?;
    Ok(features_of(path, version))
}

/// Flags by version: `--cap-drop` arrived in 0.1.x, so every bwrap has it.
pub fn features_of(path: &Path, version: (u32, u32, u32)) -> BwrapFeatures {
    BwrapFeatures {
        path: path.to_path_buf(),
        version,
        cap_drop: true,
    }
}

/// The host's bwrap: the first on this process's PATH outside `untrusted`
/// (the command's cwd and writable roots), probed once per binary per process.
pub fn host_bwrap(untrusted: &[&Path]) -> Result<BwrapFeatures, BwrapProbeError> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Result<BwrapFeatures, BwrapProbeError>>>> =
        OnceLock::new();
    let path_var = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let path = find_bwrap(&path_var, untrusted).ok_or(BwrapProbeError::NotFound)?;
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    cache
        .entry(path.clone())
        .or_insert_with(|| crate::cache::probe_cached(&path))
        .clone()
}

#[cfg(test)]
#[path = "bwrap_tests.rs"]
mod tests;
