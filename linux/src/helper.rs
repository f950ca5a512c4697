//! The helper stage: confine the current process, then exec the target.
//!
//! Inside bwrap, the sandspawn binary runs as `helper __helper POLICY -- CMD`
//! (see [`crate::policy`] for POLICY). The Landlock backend runs the same
//! [`confine`] in the spawning process itself, right before its exec.
//!
//! Steps, in order: no_new_privs; drop every capability and check none is
//! left; Landlock; mark inherited descriptors above stdio close-on-exec;
//! seccomp (last, so that nothing above runs under it); exec.

use std::convert::Infallible;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use landlock::RulesetStatus;

use crate::policy::{ArgsError, HelperPolicy};
use crate::ruleset::LandlockError;
use crate::seccomp::SeccompError;
use crate::{ruleset, seccomp, sys};

/// argv\[1\] that selects the helper stage of the sandspawn binary.
pub const HELPER_TOKEN: &str = "__helper";

/// argv\[0\] basename that selects the helper stage (like codex-linux-sandbox).
pub const HELPER_ARG0: &str = "sandspawn-linux-sandbox";

/// Exit status when sandspawn (not the child) fails.
pub const EXIT_SETUP_FAILED: u8 = 125;

/// Why the helper stage stopped before exec. Each names its step.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// The helper's own command line is malformed.
    #[error("helper arguments: {0}")]
    Args(#[from] ArgsError),
    /// prctl(PR_SET_PDEATHSIG) failed.
    #[error("setting the parent-death signal: {0}")]
    Lifetime(#[source] std::io::Error),
    /// The process that started the helper exited before it was confined.
    #[error("the parent process exited before the sandbox started")]
    ParentGone,
    /// `--net proxy`'s namespace could not be read.
    #[error("network proxy: reading /proc/self/net/dev: {0}")]
    NetNamespace(#[source] std::io::Error),
    /// `--net proxy` outside bwrap's network namespace.
    #[error("network proxy: this network namespace has interfaces besides lo ({0}): the helper is not inside the bwrap backend's namespace, and the command would reach the host's network")]
    NotInNetNamespace(String),
    /// prctl(PR_SET_NO_NEW_PRIVS) failed.
    #[error("setting no_new_privs: {0}")]
    NoNewPrivs(#[source] std::io::Error),
    /// Reading or dropping a capability set failed.
    #[error("dropping capabilities ({set}): {source}")]
    Caps {
        set: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A capability survived the drop.
    #[error("capabilities left after dropping them ({set}): {caps}")]
    CapsLeft { set: &'static str, caps: String },
    /// Landlock failed.
    #[error(transparent)]
    Landlock(#[from] LandlockError),
    /// Marking inherited descriptors close-on-exec failed.
    #[error("closing inherited file descriptors: {0}")]
    Fds(#[source] std::io::Error),
    /// seccomp failed.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A mounted root is not the object the plan checked.
    #[error(transparent)]
    Changed(#[from] crate::pin::Changed),
    /// Handing the proxy bridge's inside listener over failed.
    #[error(transparent)]
    Bridge(#[from] crate::bridge::BridgeError),
    /// The target could not be executed.
    #[error("executing {}: {source}", program.display())]
    Exec {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What [`confine`] achieved.
#[derive(Debug, PartialEq, Eq)]
pub struct Confined {
    /// How much of the Landlock ruleset the kernel enforces.
    pub landlock: RulesetStatus,
    /// Whether the bounding set is empty too (it cannot be emptied without
    /// CAP_SETPCAP; with no_new_privs and empty permitted/inheritable/ambient
    /// sets nothing in it can be regained).
    pub bounding_empty: bool,
}

/// The helper entry: `args` are the arguments after the dispatch token
/// (after `__helper`, or after argv\[0\] when dispatched by its basename).
/// Returns only on failure, after printing one line to stderr.
pub fn helper_main(args: Vec<OsString>) -> ExitCode {
    match run_helper(&args) {
        Ok(never) => match never {},
        Err(e) => {
            crate::say(format_args!("sandspawn: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}

impl HelperError {
    /// The exit status that reports this failure, following the shell's
    /// convention for the target itself: 127 not found (a missing file, or
    /// a path through a non-directory), 126 found but not executable (a
    /// refused permission, a symlink loop, a bad format…); everything else
    /// is sandspawn's own failure. A failed exec is always the target's, so
    /// it never reads as 125.
    pub fn exit_code(&self) -> u8 {
        match self {
            HelperError::Exec { source, .. } => match source.raw_os_error() {
                Some(libc::ENOENT | libc::ENOTDIR) => 127,
                _ => 126,
            },
            _ => EXIT_SETUP_FAILED,
        }
    }
}

/// Dispatch for the sandspawn binary's `main`: `Some(exit)` when `argv`
/// selects the helper stage (argv\[1\] is `__helper`, or argv\[0\]'s
/// basename is `sandspawn-linux-sandbox`), `None` otherwise.
pub fn dispatch(argv: &[OsString]) -> Option<ExitCode> {
    let arg0 = argv.first().map(PathBuf::from);
    if arg0.as_deref().and_then(|p| p.file_name()) == Some(HELPER_ARG0.as_ref()) {
        // A host that names the helper binary and also passes the token
        // (as it would to the sandspawn binary) means the same thing.
        let skip = if argv.get(1).is_some_and(|a| a == HELPER_TOKEN) {
            2
        } else {
            1
        };
        return Some(helper_main(argv[skip..].to_vec()));
    }
    if argv.get(1).is_some_and(|a| a == HELPER_TOKEN) {
        return Some(helper_main(argv[2..].to_vec()));
    }
    if argv
        .get(1)
        .is_some_and(|a| a == crate::bridge::BRIDGE_TOKEN)
    {
        return Some(crate::bridge::bridge_main(&argv[2..]));
    }
    None
}

fn run_helper(args: &[OsString]) -> Result<Infallible, HelperError> {
    let (policy, command) = HelperPolicy::from_args(args)?;
    // Exec'd by a host (or by bwrap's pid 1), the target is that process's
    // child: without the parent-death signal it would outlive a host killed
    // by SIGKILL, still running with the host's grants.
    arm_parent_death()?;
    // bwrap has mounted every root by now, whatever its path led to then:
    // the mounts must be the objects the plan judged (the Landlock layer
    // below checks its own descriptors again).
    crate::pin::check_mounted(&policy.pins)?;
    warn_missing(&policy);
    if let Some(fd) = policy.stdout_fd {
        let fd = sys::take_inherited_fd(fd).map_err(HelperError::Fds)?;
        sys::move_to_stdout(fd).map_err(HelperError::Fds)?;
    }
    if let Some(port) = policy.proxy_port {
        // `proxy` lets inet sockets through seccomp: only bwrap's network
        // namespace, where `lo` is all there is, keeps them in. The port
        // flag is no proof of that namespace; what it holds is.
        let others = outside_interfaces().map_err(HelperError::NetNamespace)?;
        if !others.is_empty() {
            return Err(HelperError::NotInNetNamespace(others.join(", ")));
        }
        // Before this process is confined: the listener goes to the host
        // bridge, nothing of the bridge stays inside.
        crate::bridge::start_inside(port)?;
    }
    confine(&policy)?;
    if !policy.checks.is_empty() {
        // bwrap set this process's environment to the command's.
        let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let all_held = crate::verify::run_all(
            &policy.checks,
            policy.proxy_port,
            &[],
            &policy.granted(),
            &env,
        );
        std::process::exit(if all_held { 0 } else { 1 });
    }
    Err(exec(&command, None))
}

/// The network interfaces of this process's namespace other than `lo`
/// (`/proc/self/net/dev`: one `NAME: counters` line each after two header
/// lines).
fn outside_interfaces() -> std::io::Result<Vec<String>> {
    let table = std::fs::read_to_string("/proc/self/net/dev")?;
    Ok(table
        .lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != "lo")
        .map(str::to_string)
        .collect())
}

/// One warning per rule whose path does not exist: Landlock skips it (it
/// grants nothing, fail closed), and a host's typo would otherwise surface
/// only as the command's EACCES. Inside bwrap every rule is a mount point,
/// so this says nothing there.
fn warn_missing(policy: &HelperPolicy) {
    for (path, level) in &policy.rules {
        if std::fs::metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            let flag = match level {
                crate::policy::Level::List => "--list",
                crate::policy::Level::Read => "--read",
                crate::policy::Level::Write => "--write",
                crate::policy::Level::None => continue,
            };
            crate::say(format_args!(
                "sandspawn: warning: {flag} {}: no such path on this host; it grants nothing",
                path.display()
            ));
        }
    }
}

/// Set the parent-death signal (SIGKILL; it survives the exec, no set-ID
/// transition under no_new_privs), reading the parent before and after so
/// that one already gone is caught: its signal would never come.
fn arm_parent_death() -> Result<(), HelperError> {
    let parent = std::os::unix::process::parent_id();
    sys::kill_with_parent().map_err(HelperError::Lifetime)?;
    if std::os::unix::process::parent_id() != parent {
        return Err(HelperError::ParentGone);
    }
    Ok(())
}

/// Confine the calling thread (and what it execs) by `policy`. Irreversible.
pub fn confine(policy: &HelperPolicy) -> Result<Confined, HelperError> {
    sys::set_no_new_privs().map_err(HelperError::NoNewPrivs)?;
    if !sys::no_new_privs().map_err(HelperError::NoNewPrivs)? {
        return Err(HelperError::NoNewPrivs(std::io::Error::other(
            "still unset after setting it",
        )));
    }
    let bounding_empty = drop_capabilities()?;
    let landlock = ruleset::apply(policy)?;
    // Compile before the filter is in place; install last.
    let programs = seccomp::compile(seccomp::build_rules(policy.network)?)?;
    sys::cloexec_from(3).map_err(HelperError::Fds)?;
    seccomp::install(&programs)?;
    Ok(Confined {
        landlock,
        bounding_empty,
    })
}

/// Capability numbers from 0 up to the kernel's last one, at most 64.
const MAX_CAPS: u32 = 64;

fn caps_err(set: &'static str) -> impl Fn(std::io::Error) -> HelperError {
    move |source| HelperError::Caps { set, source }
}

/// Names of the capabilities set in `mask`, for an error message.
fn cap_names(mask: u64) -> String {
    let mut names: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .map(|c| c.to_string())
        .collect();
    let known = caps::all().iter().fold(0, |m, c| m | c.bitmask());
    if mask & !known != 0 {
        names.push(format!("unknown {:#x}", mask & !known));
    }
    names.sort();
    names.join(",")
}

/// Drop every capability; error if any is left in the effective, permitted,
/// inheritable or ambient set. Returns whether the bounding set is empty.
///
/// A handful of system calls rather than one per capability and set: the
/// bounding set is dropped (or read) once per capability, the other three
/// sets are cleared by one `capset` and checked by one `capget`, the ambient
/// set is cleared by one `prctl` and empty by the kernel's invariant.
fn drop_capabilities() -> Result<bool, HelperError> {
    let before = sys::capget().map_err(caps_err("effective"))?;
    // The bounding set first: dropping from it needs CAP_SETPCAP, which
    // goes away with the other sets.
    let can_setpcap = before.effective & caps::Capability::CAP_SETPCAP.bitmask() != 0;
    let mut bounding_empty = true;
    for cap in 0..MAX_CAPS {
        if can_setpcap {
            // Dropping a capability the set lacks succeeds too.
            if !sys::capbset_drop(cap).map_err(caps_err("bounding"))? {
                break;
            }
        } else {
            match sys::capbset_read(cap).map_err(caps_err("bounding"))? {
                None => break,
                Some(true) => bounding_empty = false,
                Some(false) => {}
            }
        }
    }
    sys::ambient_clear_all().map_err(caps_err("ambient"))?;
    sys::capset_clear().map_err(caps_err("permitted"))?;
    let after = sys::capget().map_err(caps_err("effective"))?;
    for (mask, set) in [
        (after.effective, "effective"),
        (after.permitted, "permitted"),
        (after.inheritable, "inheritable"),
    ] {
        if mask != 0 {
            return Err(HelperError::CapsLeft {
                set,
                caps: cap_names(mask),
            });
        }
    }
    // The ambient set needs no check of its own: the kernel keeps it a
    // subset of permitted ∩ inheritable (capset intersects it, and refuses
    // a state that breaks the invariant), and both were just read empty.
    if can_setpcap {
        // Verify rather than trust the drops.
        for cap in 0..MAX_CAPS {
            match sys::capbset_read(cap).map_err(caps_err("bounding"))? {
                None => break,
                Some(true) => bounding_empty = false,
                Some(false) => {}
            }
        }
    }
    Ok(bounding_empty)
}

/// Exec `command` (PATH lookup with the child's PATH). With `env`, the
/// environment is replaced by it; without, the current one is kept (inside
/// bwrap it already is the child's). Returns only on failure.
pub fn exec(command: &[OsString], env: Option<&[(OsString, OsString)]>) -> HelperError {
    let Some((program, args)) = command.split_first() else {
        return HelperError::Args(ArgsError::NoCommand);
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(env) = env {
        cmd.env_clear();
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
    }
    let source = cmd.exec();
    // Best effort: the failure is reported either way.
    let _ = sys::ignore_sigpipe();
    HelperError::Exec {
        program: PathBuf::from(program),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_line_naming_the_step() {
        let e = HelperError::Exec {
            program: "/usr/bin/nope".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            e.to_string(),
            "executing /usr/bin/nope: No such file or directory (os error 2)"
        );
        let e = HelperError::CapsLeft {
            set: "permitted",
            caps: "CAP_SYS_ADMIN".into(),
        };
        assert_eq!(
            e.to_string(),
            "capabilities left after dropping them (permitted): CAP_SYS_ADMIN"
        );
        assert!(!HelperError::from(ArgsError::NoCommand)
            .to_string()
            .contains('\n'));
    }

    #[test]
    fn dispatch_ignores_ordinary_invocations() {
        let argv: Vec<OsString> = vec!["sandspawn".into(), "run".into()];
        assert!(dispatch(&argv).is_none());
    }
}
