//! Linux enforcement for sandspawn.
//!
//! This crate is the only place in the project that talks to the kernel. It
//! owns [`SandboxSpec`], the plain-data description of one sandboxed spawn
//! that the core lowers its plan into. Nothing here decides policy: every
//! path, bind and rule arrives already decided; this crate renders and
//! enforces it.
//!
//! Entry points: [`run`] (exec the spec, returns only on failure),
//! [`helper::dispatch`] (the helper stage, first thing in `main`) and
//! [`probe`] (what this host can enforce).
#![deny(unsafe_code)]

mod accept_pool;
mod body_framing;
pub mod bridge;
mod bridge_http;
mod bridge_peer;
mod bridge_socks;
pub mod bwrap;
mod cache;
mod diagnostics;
pub mod doctor;
pub mod expand;
mod front;
mod front_parse;
mod front_response;
pub mod helper;
mod host_local;
pub mod lifetime;
mod local_target;
pub mod pathcmp;
pub mod pidfd;
pub mod pin;
pub mod policy;
pub mod proxy_url;
mod refusal;
pub mod regular_file;
pub mod relay;
mod relay_loop;
pub mod report;
mod request_fields;
pub mod ruleset;
pub mod seccomp;
mod socks_connect;
pub mod spawn;
pub mod spec;
mod sys;
// Held loopback ports for the unit tests, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/ports.rs"]
mod test_ports;
pub mod tls_probe;
mod upstream_addr;
pub mod upstream_auth;
pub mod verify;

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use helper::{dispatch, helper_main, HelperError};
pub use report::{probe, Control, EnforcementReport, HostReport, Status};
pub use spec::{Backend, FileId, Mount, NetworkMode, Pin, ProxyBridge, SandboxSpec, SocksLogin};

use bwrap::BwrapProbeError;
use policy::{HelperPolicy, Requirement};

/// Write one line to stderr in one write, and carry on if it cannot be
/// written: `eprintln!` panics on a closed or full stderr (a host that
/// stopped reading it), which would turn a warning into exit 101 and a
/// refusal into a panic message. One write, because the child shares this
/// stderr and its own words must not land between the text and its newline.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut text = line.to_string();
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Errors of [`run`], the enforcement entry point. One line each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// bwrap was asked for (or chosen) but is not usable.
    #[error("bwrap backend: {0}")]
    Bwrap(#[from] BwrapProbeError),
    /// The helper binary could not be opened to hand it to bwrap.
    #[error("opening the helper {}: {source}", path.display())]
    Helper {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// exec of bwrap failed.
    #[error("executing {}: {source}", path.display())]
    ExecBwrap {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The working directory could not be entered (Landlock backend).
    #[error("changing to {}: {source}", path.display())]
    Cwd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The backend cannot enforce this spec at all.
    #[error("the {backend} backend cannot enforce {what}")]
    Unsupported { backend: Backend, what: String },
    /// The parent-death signal could not be set (Landlock backend).
    #[error("setting the parent-death signal: {source}")]
    Lifetime {
        #[source]
        source: std::io::Error,
    },
    /// The process that asked for the sandbox exited before it started.
    #[error("the parent process exited before the sandbox started")]
    ParentGone,
    /// Confining or exec'ing failed (Landlock backend).
    #[error(transparent)]
    Confine(#[from] HelperError),
    /// Network `proxy`: the bridge could not start.
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
    /// bwrap would refuse its own argv ("Exceeded maximum number of
    /// arguments", exit 1, indistinguishable from the child's failure).
    #[error("bwrap accepts at most {max} arguments and this sandbox needs {count} ({}); use --backend landlock, or {}",
        too_many_why(*command, *vars), too_many_fix(*command, *vars), max = bwrap::BWRAP_MAX_ARGS)]
    TooManyArgs {
        count: usize,
        command: usize,
        /// Variables: `--setenv NAME VALUE` each.
        vars: usize,
    },
    /// `ulimit -n` leaves bwrap too few descriptors: it would fail half-way
    /// (exit 1, as if the child had) and leave its sandbox's pid 1 behind.
    #[error("bwrap backend: the open-file limit (ulimit -n) is {limit} and {open} descriptors are open; bwrap needs {need} more to set up the sandbox; raise the limit (ulimit -n 64) or use --backend landlock")]
    FdLimit { limit: u64, open: u64, need: u64 },
    /// One variable or argument longer than the kernel passes to a
    /// program: exec would fail with E2BIG, naming neither.
    #[error("{what} is {bytes} bytes; the kernel passes at most {MAX_ARG_STRLEN} bytes in one (MAX_ARG_STRLEN); {fix}")]
    TooLong {
        what: String,
        bytes: usize,
        fix: &'static str,
    },
    /// Network `proxy` without a bridge in the spec (a bug in the caller).
    #[error("network `proxy` needs an upstream proxy in the spec")]
    NoProxy,
}

/// Whose arguments fill bwrap's argv: the environment's (`--setenv NAME
/// VALUE`, 3 each) or the command's.
fn too_many_why(command: usize, vars: usize) -> String {
    if 3 * vars > command {
        format!("{} of them for {vars} environment variables", 3 * vars)
    } else {
        format!("{command} of them the command's")
    }
}

fn too_many_fix(command: usize, vars: usize) -> &'static str {
    if 3 * vars > command {
        "pass fewer variables (--deny-env)"
    } else {
        "pass the arguments through a file"
    }
}

/// The kernel's limit for one argument or `NAME=VALUE` string, with its
/// terminating NUL (MAX_ARG_STRLEN, 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// The first variable or argument of `spec` past [`MAX_ARG_STRLEN`] (a
/// credentials blob in an MCP config's `env`): named here, or the exec of
/// bwrap or of the command says only "Argument list too long". The value
/// is never shown.
fn too_long(spec: &SandboxSpec) -> Option<RunError> {
    for (name, value) in &spec.env {
        let bytes = name.len() + 1 + value.len();
        if bytes + 1 > MAX_ARG_STRLEN {
            return Some(RunError::TooLong {
                what: format!("the variable {}", name.to_string_lossy()),
                bytes,
                fix: "pass it in a file and name the file instead",
            });
        }
    }
    let argv = std::iter::once(&spec.program).chain(&spec.args);
    for (i, arg) in argv.enumerate() {
        if arg.len() + 1 > MAX_ARG_STRLEN {
            return Some(RunError::TooLong {
                what: match i {
                    0 => "the program's name".to_string(),
                    i => format!("argument {i} of the command"),
                },
                bytes: arg.len(),
                fix: "pass it through a file",
            });
        }
    }
    None
}

/// Enforce `spec` and exec its command, using the running executable as the
/// helper stage. Returns only on failure. See [`run_with_helper`].
pub fn run(spec: &SandboxSpec) -> RunError {
    match std::env::current_exe() {
        Ok(exe) => run_with_helper(spec, &exe),
        Err(source) => RunError::Helper {
            path: "/proc/self/exe".into(),
            source,
        },
    }
}

/// Enforce `spec` and exec its command. Returns only on failure.
///
/// `helper_exe` is a binary whose `main` calls [`helper::dispatch`] first
/// (the sandspawn binary). With bwrap it is handed over as an inherited
/// descriptor and exec'd inside as `/proc/self/fd/N __helper ...`, so it
/// needs no bind mount. With Landlock the same confinement runs in this
/// process, then the target replaces it; unexpressible parts of the policy
/// are printed to stderr (one line each) first.
pub fn run_with_helper(spec: &SandboxSpec, helper_exe: &Path) -> RunError {
    // A parent that ignores SIGCHLD passes that on through exec, and the
    // kernel reaps the children itself: this process's probes (bwrap
    // `--version`) would fail to wait (ECHILD); under bwrap its monitor
    // would never see the sandbox's first process exit, and the sandbox
    // outlived its command; under Landlock the command's own waits would
    // fail, which Python's subprocess takes for exit status 0. Reset before
    // either backend; SIG_DFL for a valid signal cannot fail.
    let _ = sys::default_sigchld();
    if let Some(e) = too_long(spec) {
        return e;
    }
    let choice = report::choose_backend(spec);
    match choice.backend {
        Backend::Landlock => run_landlock(spec),
        _ => match choice.bwrap {
            Ok(features) => run_bwrap(spec, &features, helper_exe),
            Err(e) => e.into(),
        },
    }
}

/// With `die_with_parent`, the parent-death signal is set on this process
/// before its exec (it survives the exec of a binary that is not set-ID).
/// bwrap sets its own only once started: a parent that dies before that
/// would leave an orphaned sandbox. The parent is read before and after, so
/// one already gone is caught (the signal would never come).
fn arm_parent_death(spec: &SandboxSpec) -> Result<(), RunError> {
    if !spec.die_with_parent {
        return Ok(());
    }
    let parent = std::os::unix::process::parent_id();
    sys::kill_with_parent().map_err(|source| RunError::Lifetime { source })?;
    if std::os::unix::process::parent_id() != parent {
        return Err(RunError::ParentGone);
    }
    Ok(())
}

fn run_bwrap(spec: &SandboxSpec, features: &bwrap::BwrapFeatures, helper_exe: &Path) -> RunError {
    if let Err(e) = arm_parent_death(spec) {
        return e;
    }
    let helper = match File::open(helper_exe) {
        Ok(f) => f,
        Err(source) => {
            return RunError::Helper {
                path: helper_exe.to_path_buf(),
                source,
            }
        }
    };
    if let Err(source) = sys::inherit_fd(helper.as_fd()) {
        return RunError::Helper {
            path: helper_exe.to_path_buf(),
            source,
        };
    }
    use std::os::fd::AsRawFd;
    let inside = PathBuf::from(format!("/proc/self/fd/{}", helper.as_raw_fd()));
    // Checked before the bridge starts; the bridge's bind adds 3, the
    // helper's `--stdout-fd N` 2.
    let bridge_args = if spec.network == NetworkMode::Proxy {
        5
    } else {
        2
    };
    let count = bwrap::bwrap_argv(spec, features, &inside).len() - 1 + bridge_args;
    if count > bwrap::BWRAP_MAX_ARGS {
        return RunError::TooManyArgs {
            count,
            command: 1 + spec.args.len(),
            vars: spec.env.len(),
        };
    }
    let socket = match (spec.network, &spec.proxy) {
        (NetworkMode::Proxy, None) => return RunError::NoProxy,
        (NetworkMode::Proxy, Some(proxy)) => match bridge::start_host(proxy, helper_exe) {
            Ok(host) => Some(host.socket),
            Err(e) => return e.into(),
        },
        _ => None,
    };
    // bwrap's monitor and its pid 1 keep fds 0-2 open as long as the
    // sandbox lives, so a server that closes stdout would never read as EOF
    // to whoever reads it (an MCP host would wait out its startup timeout).
    // Both close every other descriptor, so stdout travels on a high one and
    // the helper puts it back at 1; bwrap's own fd 1 is /dev/null (it writes
    // nothing there). After the bridge started: it must not hold it either.
    let stdout_fd = sys::stdout_aside().ok();
    let argv = bwrap::bwrap_argv_with(
        spec,
        features,
        &inside,
        socket.as_deref(),
        stdout_fd.as_ref().map(|fd| fd.as_raw_fd()),
    );
    if let Some(e) = fd_shortage() {
        if let Some(fd) = stdout_fd {
            let _ = sys::move_to_stdout(fd);
        }
        return e;
    }
    let source = Command::new(&argv[0]).args(&argv[1..]).env_clear().exec();
    drop(helper);
    // The exec failed: give the caller its stdout back.
    if let Some(fd) = stdout_fd {
        let _ = sys::move_to_stdout(fd);
    }
    RunError::ExecBwrap {
        path: features.path.clone(),
        source,
    }
}

/// Descriptors bwrap and the helper stage open on top of what they inherit
/// (bwrap's eventfds, namespace and /proc handles, the helper's Landlock
/// ruleset): with 4 free, bwrap 0.8 fails opening `/proc/N/ns`; twice that
/// leaves a margin.
const BWRAP_SPARE_FDS: u64 = 8;

/// The refusal when the descriptor limit leaves bwrap fewer than
/// [`BWRAP_SPARE_FDS`], counted just before the exec (everything bwrap
/// inherits is open by then). bwrap, short of descriptors, fails after its
/// sandbox's pid 1 exists, and that process outlives it for good, holding
/// our stdio. Unknown (no /proc, no limit) means no refusal.
fn fd_shortage() -> Option<RunError> {
    let limit = sys::nofile_soft_limit().ok()?;
    // The directory's own descriptor is listed too, and closed after.
    let open = (std::fs::read_dir("/proc/self/fd").ok()?.count() as u64).saturating_sub(1);
    (limit < open + BWRAP_SPARE_FDS).then_some(RunError::FdLimit {
        limit,
        open,
        need: BWRAP_SPARE_FDS,
    })
}

/// What root keeps on the Landlock backend, said on every such run: Landlock
/// has no right for inode metadata, and seccomp, which cannot see paths,
/// takes away only the set-ID bits.
pub const ROOT_METADATA: &str = "as root, file metadata stays changeable: chmod (no set-ID bit), \
    utime and user xattrs work on every root-owned host file, read-only or hidden; the bwrap \
    backend, or a user other than root, confines them";

fn run_landlock(spec: &SandboxSpec) -> RunError {
    if spec.network == NetworkMode::Proxy {
        return RunError::Unsupported {
            backend: Backend::Landlock,
            what: "network `proxy`: it needs a network namespace; use the bwrap backend (`--backend bwrap`) or `--net full`".into(),
        };
    }
    if let Err(e) = arm_parent_death(spec) {
        return e;
    }
    let expansion = expand::expand(spec, &expand::RealFs);
    for line in &expansion.unexpressed {
        say(format_args!("sandspawn: landlock backend: {line}"));
    }
    if sys::effective_uid() == 0 {
        say(format_args!("sandspawn: landlock backend: {ROOT_METADATA}"));
    }
    if let Err(source) = std::env::set_current_dir(&spec.cwd) {
        return RunError::Cwd {
            path: spec.cwd.clone(),
            source,
        };
    }
    let split = expansion.split;
    let policy = HelperPolicy {
        rules: expansion.rules,
        network: spec.network,
        landlock: Requirement::Required,
        proxy_port: None,
        checks: spec.checks.clone(),
        stdout_fd: None,
        pins: spec.pins.clone(),
    };
    if let Err(e) = helper::confine(&policy) {
        return e.into();
    }
    if !policy.checks.is_empty() {
        let all_held = verify::run_all(&policy.checks, None, &split, &policy.granted(), &spec.env);
        std::process::exit(if all_held { 0 } else { 1 });
    }
    let mut command = vec![spec.program.clone()];
    command.extend(spec.args.iter().cloned());
    helper::exec(&command, Some(&spec.env)).into()
}
