//! `sandspawn doctor`: what this host can enforce, probed for real and each
//! probe bounded in time, with one line of remedy per problem.
//!
//! Nothing here reads the bwrap probe cache: doctor always runs fresh
//! trials. Probes that may block (files on PATH, securityfs, bwrap itself)
//! run in a child process or a worker thread with [`PROBE_TIMEOUT`]; a probe
//! that times out is reported as such, never waited for. The verdicts are
//! turned into problems and remedies by a pure function, [`problems`].

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bwrap::{find_bwrap, parse_version};
use crate::report::TRIAL_ARGS;
use crate::spec::Backend;
use crate::sys;

/// How long any one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The bwrap flags that sandspawn may render, checked against `bwrap --help`.
pub const BWRAP_FLAGS: [&str; 16] = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--new-session",
    "--die-with-parent",
    "--cap-drop",
    "--ro-bind",
    "--bind",
    "--tmpfs",
    "--remount-ro",
    "--symlink",
    "--proc",
    "--dev",
    "--clearenv",
];

/// One yes/no probe and what it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Whether it worked.
    pub ok: bool,
    /// What happened (the error, or what was found).
    pub detail: String,
}

impl Check {
    fn from_result(r: Result<String, String>) -> Check {
        match r {
            Ok(detail) => Check { ok: true, detail },
            Err(detail) => Check { ok: false, detail },
        }
    }
}

/// The user-namespace knobs of the kernel (`None`: absent on this kernel).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sysctls {
    /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu ≥ 23.10).
    pub apparmor_restrict_unprivileged_userns: Option<i64>,
    /// `kernel.unprivileged_userns_clone` (Debian before 11).
    pub unprivileged_userns_clone: Option<i64>,
    /// `user.max_user_namespaces`.
    pub max_user_namespaces: Option<i64>,
}

/// AppArmor as far as it concerns user namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppArmor {
    /// `/sys/module/apparmor/parameters/enabled` (`None`: not built in).
    pub enabled: Option<bool>,
    /// Loaded profiles whose name mentions bwrap (`None`: list unreadable).
    pub bwrap_profiles: Option<Vec<String>>,
    /// Why the list is unreadable, when it is.
    pub detail: Option<String>,
}

/// The bwrap on PATH.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BwrapInfo {
    /// Absolute path, when found.
    pub path: Option<PathBuf>,
    /// `bwrap --version`, e.g. "0.8.0".
    pub version: Option<String>,
    /// Installed setuid root (it then needs no user namespaces of its own).
    pub setuid: Option<bool>,
    /// Each flag sandspawn may render: listed by `bwrap --help`?
    pub flags: BTreeMap<String, bool>,
    /// Why it is missing or unusable.
    pub error: Option<String>,
}

impl BwrapInfo {
    /// The flags sandspawn may render that this bwrap does not list.
    pub fn missing_flags(&self) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(f, _)| f.as_str())
            .collect()
    }
}

/// A problem and its one line of remedy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub problem: String,
    /// What to do, one line.
    pub remedy: String,
}

/// Everything doctor found about the host.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// A forked child could `unshare(CLONE_NEWUSER)`.
    pub user_namespaces: Check,
    /// The kernel's user-namespace sysctls.
    pub sysctls: Sysctls,
    /// AppArmor.
    pub apparmor: AppArmor,
    /// bwrap found on PATH.
    pub bwrap: BwrapInfo,
    /// `bwrap --unshare-user --ro-bind / / true`.
    pub bwrap_userns: Check,
    /// The same with a pid namespace and a fresh `/proc` (containers mask it).
    pub fresh_proc: Check,
    /// The full trial `auto` uses (user, pid, net, ipc, uts, /proc, /dev).
    pub bwrap_trial: Check,
    /// Landlock ABI, 0 when absent.
    pub landlock_abi: u32,
    /// seccomp filters available.
    pub seccomp: bool,
    /// pidfd_open, pidfd_send_signal and waitid(P_PIDFD), which the
    /// library (and `sandspawn mcp check`) hold a server by.
    pub pidfd: Check,
    /// This process already runs under a seccomp filter with
    /// no_new_privs set: inside a sandbox (sandspawn's own, say), whose
    /// filter is the likely reason user namespaces are refused.
    pub inside_sandbox: bool,
    /// What `--backend auto` picks.
    pub auto: Backend,
    /// Why.
    pub auto_why: String,
    /// The default policy can be enforced with some backend.
    pub can_enforce: bool,
    /// Problems found, each with one line of remedy.
    pub problems: Vec<Problem>,
}

/// Run every probe (each bounded by [`PROBE_TIMEOUT`]) and diagnose.
pub fn diagnose() -> Diagnosis {
    let user_namespaces = Check::from_result(
        sys::try_new_user_namespace()
            .map(|()| "unshare(CLONE_NEWUSER) works".to_string())
            .map_err(|e| format!("unshare(CLONE_NEWUSER): {e}")),
    );
    let sysctl = |p: &str| read_bounded(p).ok().and_then(|t| t.trim().parse().ok());
    let sysctls = Sysctls {
        apparmor_restrict_unprivileged_userns: sysctl(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
        unprivileged_userns_clone: sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces: sysctl("/proc/sys/user/max_user_namespaces"),
    };
    let bwrap = bwrap_info();
    let trial = |args: &[&str]| match &bwrap.path {
        Some(path) => Check::from_result(bwrap_trial(path, args)),
        None => Check {
            ok: false,
            detail: "not tried: no bwrap".into(),
        },
    };
    // The three trials run side by side: at most one timeout in all.
    let (bwrap_userns, fresh_proc, bwrap_trial) = std::thread::scope(|s| {
        let userns = s.spawn(|| trial(&["--unshare-user", "--ro-bind", "/", "/"]));
        let proc = s.spawn(|| {
            trial(&[
                "--unshare-user",
                "--unshare-pid",
                "--ro-bind",
                "/",
                "/",
                "--proc",
                "/proc",
            ])
        });
        let full = trial(&TRIAL_ARGS);
        let joined = |h: std::thread::ScopedJoinHandle<'_, Check>| {
            h.join().unwrap_or_else(|_| Check {
                ok: false,
                detail: "the probe thread failed".into(),
            })
        };
        (joined(userns), joined(proc), full)
    });
    let mut d = Diagnosis {
        user_namespaces,
        sysctls,
        apparmor: apparmor(),
        bwrap,
        bwrap_userns,
        fresh_proc,
        bwrap_trial,
        landlock_abi: sys::landlock_abi(),
        seccomp: sys::seccomp_available(),
        pidfd: Check::from_result(
            crate::pidfd::support()
                .map(|()| "pidfd_open, pidfd_send_signal, waitid(P_PIDFD)".to_string())
                .map_err(|e| e.to_string()),
        ),
        inside_sandbox: inside_sandbox(),
        auto: Backend::Bwrap,
        auto_why: String::new(),
        can_enforce: false,
        problems: Vec::new(),
    };
    (d.auto, d.auto_why) = pick(&d);
    d.can_enforce = d.seccomp && (d.bwrap_trial.ok || d.landlock_abi > 0);
    d.problems = problems(&d);
    d
}

/// A seccomp filter (mode 2) with no_new_privs, from `/proc/self/status`.
/// A container runtime's filter usually comes without no_new_privs; a
/// sandbox (sandspawn's helper, bwrap --seccomp, an agent's) sets both.
fn inside_sandbox() -> bool {
    let Ok(status) = read_bounded("/proc/self/status") else {
        return false;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    field("Seccomp:") == Some("2") && field("NoNewPrivs:") == Some("1")
}

/// What `auto` picks from the probes, the same rule as the spawn path.
pub fn pick(d: &Diagnosis) -> (Backend, String) {
    let path = d
        .bwrap
        .path
        .as_deref()
        .map_or_else(String::new, |p| p.display().to_string());
    let why_not = if d.bwrap.path.is_none() {
        "no bwrap on PATH".to_string()
    } else if !d.user_namespaces.ok {
        format!(
            "user namespaces are blocked: {}; bwrap trial: {}",
            d.user_namespaces.detail, d.bwrap_trial.detail
        )
    } else {
        format!("bwrap trial failed: {}", d.bwrap_trial.detail)
    };
    match (d.bwrap_trial.ok, d.landlock_abi) {
        (true, _) => (
            Backend::Bwrap,
            format!("bwrap {path} runs a trial sandbox with user namespaces"),
        ),
        (false, abi) if abi > 0 => (
            Backend::Landlock,
            format!("bwrap does not work here ({why_not}); Landlock ABI {abi} instead"),
        ),
        (false, _) => (
            Backend::Bwrap,
            format!("neither bwrap ({why_not}) nor Landlock works here"),
        ),
    }
}

/// One problem per failed probe, each with exactly one line of remedy.
pub fn problems(d: &Diagnosis) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut add = |problem: String, remedy: &str| {
        out.push(Problem {
            problem,
            remedy: remedy.to_string(),
        })
    };
    if d.bwrap.path.is_none() {
        let why = d.bwrap.error.clone().unwrap_or_else(|| "not found".into());
        add(format!("bwrap: {why}"), "apt-get install bubblewrap");
    } else if let Some(e) = &d.bwrap.error {
        add(
            format!("bwrap: {e}"),
            "reinstall bubblewrap (apt-get install --reinstall bubblewrap)",
        );
    }
    let missing = d.bwrap.missing_flags();
    if d.bwrap.version.is_some() && !missing.is_empty() {
        add(
            format!("bwrap lacks {}", missing.join(", ")),
            "upgrade bubblewrap",
        );
    }
    let s = &d.sysctls;
    let aa_restrict = s.apparmor_restrict_unprivileged_userns == Some(1);
    if !d.user_namespaces.ok || (aa_restrict && !d.bwrap_userns.ok) {
        // bwrap's own messages start with "bwrap: " already.
        let said = &d.bwrap_userns.detail;
        let what = format!(
            "user namespaces are blocked ({}; bwrap: {})",
            d.user_namespaces.detail,
            said.strip_prefix("bwrap: ").unwrap_or(said)
        );
        let remedy = if aa_restrict {
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 or install the bwrap AppArmor profile (apparmor's bwrap-userns-restrict)"
        } else if s.unprivileged_userns_clone == Some(0) {
            "sysctl -w kernel.unprivileged_userns_clone=1"
        } else if s.max_user_namespaces == Some(0) {
            "sysctl -w user.max_user_namespaces=15000"
        } else if d.inside_sandbox {
            "this process already runs in a sandbox (a seccomp filter under no_new_privs), which refuses new user namespaces; use --backend landlock (auto does), or start it outside that sandbox"
        } else {
            "allow unshare(CLONE_NEWUSER) in the container or seccomp profile (e.g. docker --security-opt seccomp=unconfined), or use --backend landlock"
        };
        add(what, remedy);
    } else if d.bwrap.path.is_some() && !d.bwrap_userns.ok {
        add(
            format!("bwrap cannot create a user namespace: {}", d.bwrap_userns.detail),
            "load an AppArmor/LSM profile that lets bwrap create user namespaces, or use --backend landlock",
        );
    }
    // EMFILE: the trials could not even start bwrap (or bwrap could not
    // open what it needs); no kernel or container setting is at fault.
    let short_of_fds = [&d.bwrap_userns, &d.fresh_proc, &d.bwrap_trial]
        .into_iter()
        .find(|c| !c.ok && c.detail.contains("Too many open files"));
    if let Some(check) = short_of_fds {
        add(
            format!(
                "the bwrap trials ran out of file descriptors: {}",
                check.detail
            ),
            "raise the open-file limit (ulimit -n 64), or use --backend landlock",
        );
    } else if d.bwrap_userns.ok && !d.fresh_proc.ok {
        add(
            format!("a fresh /proc cannot be mounted: {}", d.fresh_proc.detail),
            "run the container without a masked /proc (e.g. podman --security-opt unmask=/proc/*), or use --backend landlock",
        );
    } else if d.fresh_proc.ok && !d.bwrap_trial.ok {
        add(
            format!("the bwrap trial sandbox fails: {}", d.bwrap_trial.detail),
            "allow network namespaces (CLONE_NEWNET) for unprivileged users, or use --backend landlock --net full",
        );
    }
    match d.landlock_abi {
        0 => add(
            "Landlock is unavailable".into(),
            "boot a kernel with CONFIG_SECURITY_LANDLOCK=y and landlock in lsm= (5.13+; 6.7+ for network rules)",
        ),
        1..=3 => add(
            format!("Landlock ABI {} lacks network rules (ABI 4)", d.landlock_abi),
            "upgrade to Linux 6.7 or later",
        ),
        _ => {}
    }
    if !d.seccomp {
        add(
            "seccomp filters are unavailable".into(),
            "boot a kernel with CONFIG_SECCOMP_FILTER=y",
        );
    }
    if !d.pidfd.ok {
        // The detail names the call, and the kernel it needs when missing.
        add(
            format!(
                "the library and `sandspawn mcp check` cannot start servers: {}",
                d.pidfd.detail
            ),
            "upgrade to Linux 5.4 or later, or allow pidfd_open, pidfd_send_signal and waitid in the host's seccomp profile",
        );
    }
    out
}

fn bwrap_info() -> BwrapInfo {
    let path_var = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let found = bounded(move || {
        find_bwrap(&path_var, &[]).map(|p| {
            let setuid = std::fs::metadata(&p)
                .ok()
                .map(|m| m.permissions().mode() & 0o4000 != 0);
            (p, setuid)
        })
    });
    let (path, setuid) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            return BwrapInfo {
                error: Some("no executable `bwrap` on PATH".into()),
                ..BwrapInfo::default()
            }
        }
        Err(e) => {
            return BwrapInfo {
                error: Some(format!("searching PATH: {e}")),
                ..BwrapInfo::default()
            }
        }
    };
    let mut info = BwrapInfo {
        path: Some(path.clone()),
        setuid,
        ..BwrapInfo::default()
    };
    match run_bounded(Command::new(&path).arg("--version")) {
        Ok((true, out, _)) => match parse_version(&out) {
            Some((a, b, c)) => info.version = Some(format!("{a}.{b}.{c}")),
            None => info.error = Some(format!("unexpected --version output {out:?}")),
        },
        Ok((false, _, err)) => info.error = Some(format!("--version failed: {}", first_line(&err))),
        Err(e) => info.error = Some(format!("--version: {e}")),
    }
    if info.version.is_some() {
        let help = match run_bounded(Command::new(&path).arg("--help")) {
            Ok((_, out, err)) => out + &err,
            Err(_) => String::new(),
        };
        info.flags = BWRAP_FLAGS
            .iter()
            .map(|f| (f.to_string(), has_flag(&help, f)))
            .collect();
    }
    info
}

/// `help` lists `flag` as a word (not as a prefix of a longer flag).
pub fn has_flag(help: &str, flag: &str) -> bool {
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .any(|w| w == flag)
}

fn apparmor() -> AppArmor {
    let enabled = read_bounded("/sys/module/apparmor/parameters/enabled")
        .ok()
        .map(|t| t.trim() == "Y");
    let mut out = AppArmor {
        enabled,
        ..AppArmor::default()
    };
    let profiles = Path::new("/sys/kernel/security/apparmor/profiles");
    match read_bounded(profiles) {
        Ok(text) => out.bwrap_profiles = Some(bwrap_profiles(&text)),
        Err(e) => out.detail = Some(format!("{}: {e}", profiles.display())),
    }
    out
}

/// Profile names (`NAME (MODE)` lines) that mention bwrap.
pub fn bwrap_profiles(list: &str) -> Vec<String> {
    list.lines()
        .map(str::trim)
        .filter(|l| l.contains("bwrap"))
        .map(String::from)
        .collect()
}

/// Run `bwrap ARGS -- true` with a timeout.
pub(crate) fn bwrap_trial(bwrap: &Path, args: &[&str]) -> Result<String, String> {
    let truth = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("no /usr/bin/true to try")?;
    let mut cmd = Command::new(bwrap);
    cmd.args(args).args(["--", truth]).env_clear();
    match run_bounded(&mut cmd)? {
        (true, _, _) => Ok("ran".into()),
        (false, _, err) => Err(first_line(&err).to_string()),
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed without a message")
}

/// Run `f` on a worker thread; give up after [`PROBE_TIMEOUT`] (the thread
/// is left behind, blocked wherever it is).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("sandspawn-probe".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("starting a probe thread: {e}"))?;
    rx.recv_timeout(PROBE_TIMEOUT)
        .map_err(|_| format!("timed out after {} s", PROBE_TIMEOUT.as_secs()))
}

/// Read a small file with a timeout (a hung filesystem must not hang doctor).
fn read_bounded(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref().to_path_buf();
    bounded(move || std::fs::read_to_string(&path).map_err(|e| e.to_string()))?
}

/// Run a command with a timeout: (success, stdout, stderr). On timeout it
/// is killed (bwrap takes its sandbox down with it: `--die-with-parent`
/// inside, and it is its pid 1's parent).
pub(crate) fn run_bounded(cmd: &mut Command) -> Result<(bool, String, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.by_ref().take(64 * 1024).read_to_end(&mut buf);
                let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
            });
        }
        rx
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", PROBE_TIMEOUT.as_secs()));
            }
            Err(e) => return Err(format!("waiting: {e}")),
        }
    };
    // A grandchild could hold the pipes open: wait for them only briefly.
    let grace = Duration::from_millis(200);
    let text = |rx: mpsc::Receiver<String>| rx.recv_timeout(grace).unwrap_or_default();
    Ok((status.success(), text(out), text(err)))
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
