//! What this host can enforce, which backend `auto` picks, and why.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde::Serialize;

use crate::bwrap::{host_bwrap, BwrapFeatures, BwrapProbeError};
use crate::spec::{Backend, NetworkMode, SandboxSpec};
use crate::{expand, sys};

/// How far one control is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fully in force.
    Enforced,
    /// In force, with a gap named in the detail.
    Degraded,
    /// Not in force.
    Absent,
}

/// One enforcement layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    MountNs,
    PidNs,
    NetNs,
    LandlockFs,
    LandlockNet,
    LandlockScope,
    Seccomp,
    NoNewPrivs,
    Caps,
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = control_name(*self);
        f.write_str(text)
    }
}

fn control_name(c: Control) -> &'static str {
    match c {
        Control::MountNs => "mount-ns",
        Control::PidNs => "pid-ns",
        Control::NetNs => "net-ns",
        Control::LandlockFs => "landlock-fs",
        Control::LandlockNet => "landlock-net",
        Control::LandlockScope => "landlock-scope",
        Control::Seccomp => "seccomp",
        Control::NoNewPrivs => "no-new-privs",
        Control::Caps => "caps",
    }
}

/// One control's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlReport {
    pub control: Control,
    pub status: Status,
    pub detail: String,
}

/// The host's capabilities, probed once.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    /// Landlock ABI, 0 when absent.
    pub landlock_abi: u32,
    /// seccomp filters available.
    pub seccomp: bool,
    /// The bwrap found on PATH (or why none).
    #[serde(serialize_with = "ser_bwrap")]
    pub bwrap: Result<BwrapFeatures, BwrapProbeError>,
    /// A trial sandbox (user, pid, net namespaces, fresh /proc) ran, or why not.
    pub bwrap_trial: Result<(), String>,
    /// What `auto` picks.
    pub auto: Backend,
    /// Why.
    pub auto_why: String,
}

fn ser_bwrap<S: serde::Serializer>(
    b: &Result<BwrapFeatures, BwrapProbeError>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match b {
        Ok(f) => s.serialize_str(&format!(
            "{} {}.{}.{}",
            f.path.display(),
            f.version.0,
            f.version.1,
            f.version.2
        )),
        Err(e) => s.serialize_str(&format!("unusable: {e}")),
    }
}

/// Which backend a spec runs on, and why.
#[derive(Debug, Clone)]
pub struct Choice {
    pub backend: Backend,
    pub why: String,
    pub bwrap: Result<BwrapFeatures, BwrapProbeError>,
}

/// Probe the host (bwrap on PATH, a trial sandbox, Landlock ABI, seccomp).
pub fn probe() -> HostReport {
    host_report(&[])
}

fn host_report(untrusted: &[&Path]) -> HostReport {
    let bwrap = host_bwrap(untrusted);
    let bwrap_trial = match &bwrap {
        Ok(f) => trial(f).map_err(|e| diagnose_trial(&e)),
        Err(e) => Err(e.to_string()),
    };
    let landlock_abi = sys::landlock_abi();
    let (auto, auto_why) = match (&bwrap, &bwrap_trial) {
        (Ok(f), Ok(())) => (
            Backend::Bwrap,
            format!(
                "bwrap {} runs a trial sandbox with user namespaces",
                f.path.display()
            ),
        ),
        _ if landlock_abi > 0 => (
            Backend::Landlock,
            format!(
                "bwrap does not work here ({why}); Landlock ABI {landlock_abi} instead",
                why = trial_why(&bwrap_trial)
            ),
        ),
        _ => (
            Backend::Bwrap,
            format!(
                "neither bwrap ({}) nor Landlock works here",
                trial_why(&bwrap_trial)
            ),
        ),
    };
    HostReport {
        landlock_abi,
        seccomp: sys::seccomp_available(),
        bwrap,
        bwrap_trial,
        auto,
        auto_why,
    }
}

/// Name the kernel feature behind a failed trial: when this process cannot
/// create a user namespace at all, say so first (bwrap's own message, e.g.
/// "Creating new namespace failed", follows).
pub(crate) fn diagnose_trial(bwrap_said: &str) -> String {
    match sys::try_new_user_namespace() {
        Err(e) => format!(
            "user namespaces are blocked: unshare(CLONE_NEWUSER) failed: {e}; bwrap trial: {bwrap_said}"
        ),
        Ok(()) => format!("bwrap trial failed: {bwrap_said}"),
    }
}

fn trial_why(trial: &Result<(), String>) -> &str {
    trial.as_ref().err().map_or("unknown", |s| s.as_str())
}

/// The trial sandbox: the namespaces and mounts every bwrap spawn uses.
pub(crate) const TRIAL_ARGS: [&str; 14] = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--new-session",
    "--die-with-parent",
    "--ro-bind",
    "/",
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
];

/// Run `bwrap ... true` once per process: does this host allow the namespaces we use?
fn trial(f: &BwrapFeatures) -> Result<(), String> {
    // The process-wide answer first: `run` asks twice (resolving `auto`
    // while planning, then checking bwrap before exec), and the on-disk
    // check reads a handful of /proc and /sys files each time.
    static CACHE: OnceLock<Result<(), String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            if crate::cache::trial_known_ok(&f.path) {
                return Ok(());
            }
            // Doctor's bounded trial: a bwrap that hangs here must not
            // hang every spawn.
            crate::doctor::bwrap_trial(&f.path, &TRIAL_ARGS)?;
            crate::cache::remember_trial_ok(f);
            Ok(())
        })
        .clone()
}

/// What ends a sandbox of `backend` with the process it is tied to, for
/// the `lifetime:` line of `run --report` and `mcp --report`. The Landlock
/// backend has no bwrap: the parent-death signal is set on sandspawn
/// itself before it execs the command, so only that process gets it.
pub fn parent_death(backend: Backend) -> &'static str {
    match backend {
        Backend::Landlock => {
            "a parent-death signal (SIGKILL, set before the exec) reaches the command itself, \
             not processes it starts (no pid namespace on the landlock backend)"
        }
        _ => {
            "bwrap's --die-with-parent (a parent-death signal, set before bwrap starts too); \
             the pid namespace's init takes every process with it"
        }
    }
}

/// Pick the backend for `spec` on this host.
pub fn choose_backend(spec: &SandboxSpec) -> Choice {
    let writable = crate::bwrap::untrusted_dirs(spec);
    match spec.backend {
        Backend::Landlock => Choice {
            backend: Backend::Landlock,
            why: "requested".into(),
            bwrap: Err(BwrapProbeError::NotFound),
        },
        Backend::Bwrap => Choice {
            backend: Backend::Bwrap,
            why: "requested".into(),
            // The (cached) trial turns "bwrap: Creating new namespace
            // failed" after exec into one line naming the kernel feature.
            bwrap: host_bwrap(&writable).and_then(|f| match trial(&f) {
                Ok(()) => Ok(f),
                Err(e) => Err(BwrapProbeError::Trial {
                    path: f.path,
                    detail: diagnose_trial(&e),
                }),
            }),
        },
        Backend::Auto => {
            let host = host_report(&writable);
            Choice {
                backend: host.auto,
                why: host.auto_why,
                bwrap: host.bwrap,
            }
        }
    }
}

/// What a spawn of `spec` enforces on this host, control by control.
#[derive(Debug, Clone, Serialize)]
pub struct EnforcementReport {
    pub backend: Backend,
    pub why: String,
    pub controls: Vec<ControlReport>,
    /// What the Landlock backend could not express (empty with bwrap).
    pub unexpressed: Vec<String>,
}

impl HostReport {
    /// The enforcement a spawn of `spec` gets here.
    pub fn enforcement(&self, spec: &SandboxSpec) -> EnforcementReport {
        let (backend, why) = match spec.backend {
            Backend::Auto => (self.auto, self.auto_why.clone()),
            b => (b, "requested".to_string()),
        };
        let abi = self.landlock_abi;
        let ns = backend == Backend::Bwrap;
        let c = |control, status, detail: &str| ControlReport {
            control,
            status,
            detail: detail.to_string(),
        };
        let unexpressed = if ns {
            Vec::new()
        } else {
            let mut lines = expand::expand(spec, &expand::RealFs).unexpressed;
            lines.push(
                "pathname Unix sockets stay connectable wherever they are (Landlock ABI < 9 \
                 cannot restrict connect)"
                    .into(),
            );
            // Landlock rules govern opening, not lookup, and hold inodes,
            // not names: the differences from the mount view that the
            // backend equivalence test allows.
            lines.push(
                "names stay visible: a hidden path can be stat'ed (not opened); a granted \
                 file opens under any host name of it (a symlink outside the roots, a hard \
                 link to a file granted on its own)"
                    .into(),
            );
            // Landlock has no right for inode metadata, and the set-ID
            // bits are all seccomp can take away without the path.
            lines.push(
                "file metadata stays changeable: chmod (no set-ID bit), utime and user \
                 xattrs work on any path the caller owns, read-only or hidden; as root, \
                 that is every root-owned host file (/etc/shadow's mode included)"
                    .into(),
            );
            lines
        };
        let ns_status = if ns { Status::Enforced } else { Status::Absent };
        let ns_detail = if ns {
            "bwrap"
        } else {
            "no namespaces with the landlock backend"
        };
        let net_ns = match (ns, spec.network) {
            (true, NetworkMode::Full) => {
                c(Control::NetNs, Status::Absent, "network full: host network")
            }
            (true, _) => c(Control::NetNs, Status::Enforced, "loopback only"),
            (false, _) => c(Control::NetNs, Status::Absent, ns_detail),
        };
        let fs = match (abi, ns, unexpressed.is_empty()) {
            (0, _, _) => c(Control::LandlockFs, Status::Absent, "Landlock unavailable"),
            (1 | 2, _, _) => c(
                Control::LandlockFs,
                Status::Degraded,
                "ABI < 3: truncate and rename across dirs not controlled",
            ),
            (_, true, _) => c(
                Control::LandlockFs,
                Status::Enforced,
                "second layer under the mounts",
            ),
            (_, false, true) => c(
                Control::LandlockFs,
                Status::Enforced,
                "every mount expressed",
            ),
            (_, false, false) => c(Control::LandlockFs, Status::Degraded, "see unexpressed"),
        };
        let net = match (spec.network, abi >= 4) {
            (NetworkMode::None, true) => c(
                Control::LandlockNet,
                Status::Enforced,
                "TCP bind/connect denied",
            ),
            (NetworkMode::None, false) => {
                c(Control::LandlockNet, Status::Absent, "Landlock ABI < 4")
            }
            (_, _) => c(
                Control::LandlockNet,
                Status::Absent,
                "not used with network proxy/full",
            ),
        };
        let scope = if abi >= 6 {
            c(
                Control::LandlockScope,
                Status::Enforced,
                "abstract unix sockets and signals",
            )
        } else {
            c(Control::LandlockScope, Status::Absent, "Landlock ABI < 6")
        };
        let seccomp = if self.seccomp {
            c(Control::Seccomp, Status::Enforced, "errno filter")
        } else {
            c(Control::Seccomp, Status::Absent, "seccomp unavailable")
        };
        EnforcementReport {
            backend,
            why,
            controls: vec![
                c(Control::MountNs, ns_status, ns_detail),
                c(Control::PidNs, ns_status, ns_detail),
                net_ns,
                fs,
                net,
                scope,
                seccomp,
                c(Control::NoNewPrivs, Status::Enforced, "set by the helper"),
                c(
                    Control::Caps,
                    Status::Enforced,
                    "all dropped and checked (without CAP_SETPCAP the bounding set stays, inert under no_new_privs)",
                ),
            ],
            unexpressed,
        }
    }
}

impl fmt::Display for EnforcementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "backend: {} ({})", self.backend, self.why)?;
        for c in &self.controls {
            let status = match c.status {
                Status::Enforced => "enforced",
                Status::Degraded => "degraded",
                Status::Absent => "absent",
            };
            writeln!(
                f,
                "  {:<15} {:<9} {}",
                c.control.to_string(),
                status,
                c.detail
            )?;
        }
        for line in &self.unexpressed {
            writeln!(f, "  unexpressed: {line}")?;
        }
        Ok(())
    }
}

/// What `auto` resolves to on this host, and why, before any spec exists:
/// the core needs it to shape the plan (a private HOME and /tmp need a
/// mount namespace).
pub fn auto_choice() -> (Backend, String) {
    let host = host_report(&[]);
    (host.auto, host.auto_why)
}
