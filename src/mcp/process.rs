//! Spawning a sandboxed stdio server from a plan, and its lifetime.
//!
//! The child is the sandspawn binary's own `__mcp-spec` path: it decodes
//! the lowered spec and execs bwrap (or confines itself with Landlock and
//! execs the server), so the host never forks into a sandbox itself. The
//! fork happens on one dedicated, process-long thread: the kernel ties a
//! parent-death signal (bwrap's `--die-with-parent`, Landlock's
//! PR_SET_PDEATHSIG) to the *thread* that forked, and a tokio worker or
//! blocking-pool thread may exit while the server should live on. The
//! child is a std one, owned and reaped by `mcp::child`, not tokio's
//! process driver, so a handle outliving its runtime still reaps it.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use sandspawn_linux::Backend;
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::task::JoinHandle;

use super::child::OwnedChild;
use super::stderr::{self, Ring, SharedRing, StderrLimits, StderrLine};
use super::tree;
use super::wire;
use crate::plan::{Plan, PrivateRun};

/// Errors of [`spawn`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The plan breaks its invariant.
    #[error("the plan breaks its own invariant ({count} problem(s)); first: {first}")]
    Violations {
        /// How many.
        count: usize,
        /// The first, naming the variable.
        first: String,
    },
    /// No sandspawn binary to run the sandbox stage.
    #[error("no sandspawn binary found ({0}); set SpawnOptions::sandspawn_exe or SANDSPAWN_EXE")]
    NoExe(String),
    /// The child could not be started.
    #[error("starting {exe}: {source}", exe = .exe.display())]
    Start {
        /// The binary.
        exe: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The spawner thread is gone or was never started.
    #[error("the sandspawn spawner thread is not running")]
    Spawner,
    /// Called outside a tokio runtime, or in one without its IO driver or
    /// its timers (the handshake, `settle` and `shutdown` are bounded by
    /// tokio timers).
    #[error("spawn needs a tokio runtime with IO and time enabled: {0}")]
    NoRuntime(String),
    /// The host has the program but the plan's view hides it (see
    /// `Plan::hidden_command`): the line naming it and the grant.
    #[error("{0}")]
    HiddenCommand(String),
    /// Landlock: the sandbox's own HOME and TMPDIR could not be made.
    #[error(transparent)]
    PrivateDirs(crate::plan::BuildError),
    /// No pidfd to hold the server by: the kernel lacks the call (it names
    /// it and the Linux release it needs), or it failed. Nothing is left
    /// running: a server that could only be signalled by pid number is not
    /// started.
    #[error(transparent)]
    Pidfd(#[from] sandspawn_linux::pidfd::PidfdError),
}

/// How to spawn.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// The sandspawn binary (default: SANDSPAWN_EXE, this executable when
    /// it is sandspawn, else `sandspawn` on PATH).
    pub sandspawn_exe: Option<PathBuf>,
    /// Bounds of the stderr ring.
    pub stderr: StderrLimits,
}

type Job = Box<dyn FnOnce() + Send>;

/// Why the spawner thread did not start the child.
enum SpawnFailure {
    Io(io::Error),
    Pidfd(sandspawn_linux::pidfd::PidfdError),
    /// The caller's runtime has no IO driver (tokio would panic).
    NoIo,
    /// The caller's runtime has no timers: the spawn would work, and then
    /// the handshake or `shutdown` would panic in the host.
    NoTime,
}

fn spawner() -> Result<mpsc::Sender<Job>, SpawnError> {
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();
    let slot = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sandspawn-spawner".into())
            .spawn(move || {
                // One panicking job (tokio panics in `spawn` on a runtime
                // without its IO driver) must not end this thread: every
                // later spawn in the process would fail with `Spawner`.
                for job in rx {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    slot.as_ref()
        .and_then(|m| m.lock().ok().map(|g| g.clone()))
        .ok_or(SpawnError::Spawner)
}

/// Find the sandspawn binary.
pub fn find_sandspawn(explicit: Option<&Path>) -> Result<PathBuf, SpawnError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SANDSPAWN_EXE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "sandspawn") {
            return Ok(exe);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("sandspawn"))
        .find(|p| p.is_file())
        .ok_or_else(|| SpawnError::NoExe("not on PATH".into()))
}

/// A running sandboxed server.
#[derive(Debug)]
pub struct ServerProcess {
    child: OwnedChild,
    pid: u32,
    /// The server's stdin (JSON-RPC, untouched).
    pub stdin: Option<ChildStdin>,
    /// The server's stdout (JSON-RPC, untouched).
    pub stdout: Option<ChildStdout>,
    ring: SharedRing,
    drain: Option<JoinHandle<()>>,
    backend: Backend,
    started: Instant,
    status: Option<ExitStatus>,
    /// Landlock: the server's HOME and TMPDIR, removed once it is reaped.
    private: Option<PrivateRun>,
}

/// Spawn the server `plan` describes. Call inside a tokio runtime with IO
/// and time enabled (`enable_all()`); without either it is
/// [`SpawnError::NoRuntime`], and nothing is forked.
///
/// On Landlock each spawn gets a new HOME and TMPDIR (a plan may be
/// spawned any number of times), owned by this process: they are removed
/// once the server is reaped (`wait`, `try_status`, `settle`, `shutdown`,
/// or dropping the handle), and if this process is killed first, by the
/// next Landlock plan built on this host by the same user.
///
/// The plan records its roots' identities (device and inode) once, when
/// it is built, and every spawn checks them: a root or protected path
/// recreated since, even legitimately (git rewriting `.git/config` by
/// rename, `rm -rf out && mkdir out`), makes the server exit 125 before
/// its command runs, its stderr naming the path (`root PATH changed between
/// planning and start …`). Build the plan again, which judges the new
/// object, then spawn.
pub async fn spawn(plan: &Plan, opts: &SpawnOptions) -> Result<ServerProcess, SpawnError> {
    if let Some(first) = plan.violations.first() {
        return Err(SpawnError::Violations {
            count: plan.violations.len(),
            first: first.to_string(),
        });
    }
    // Refused here as `run` and `mcp` refuse it: inside, bwrap would report
    // "not found" (127) and Landlock "not executable" (126), neither why.
    if let Some(why) = &plan.hidden_command {
        return Err(SpawnError::HiddenCommand(why.clone()));
    }
    let exe = find_sandspawn(opts.sandspawn_exe.as_deref())?;
    // Before anything is forked: a server is held by its pidfd (waited
    // for and signalled through it), and where the kernel has none it is
    // not started (see `sandspawn_linux::pidfd`).
    sandspawn_linux::pidfd::support()?;
    // Landlock: a new HOME and TMPDIR for each spawn, however often the
    // plan is spawned. This process owns them: they go when the child is
    // reaped, or with a later sweep if this process is killed first.
    let (plan, private) = plan
        .with_fresh_private_dirs()
        .map_err(SpawnError::PrivateDirs)?;
    let mut spec = plan.lower();
    spec.die_with_parent = true;
    let mut cmd = Command::new(&exe);
    cmd.arg(wire::SPEC_ARG)
        .env_clear()
        .envs(wire::to_env(&spec))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // Only for finding bwrap and its probe cache; the server's environment
    // is the spec's own.
    for name in ["PATH", "HOME", "XDG_CACHE_HOME"] {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    let handle =
        tokio::runtime::Handle::try_current().map_err(|e| SpawnError::NoRuntime(e.to_string()))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let backend = plan.backend;
    let job: Job = Box::new(move || {
        let _guard = handle.enter();
        // The pipes are registered with tokio only after the fork: on a
        // runtime without its IO driver that panics, on one shut down it
        // fails. Probe the driver first, so that nothing is forked in vain.
        let probe = std::panic::catch_unwind(|| tokio::net::UnixStream::pair().map(drop));
        let timers = std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::ZERO)));
        let result = match (probe, timers) {
            (Err(_), _) => Err(SpawnFailure::NoIo),
            (_, Err(_)) => Err(SpawnFailure::NoTime),
            (Ok(Ok(())), Ok(())) => match cmd.spawn() {
                Ok(child) => OwnedChild::new(child)
                    .map(|child| Forked::new(child, backend))
                    .map_err(SpawnFailure::Pidfd),
                Err(e) => Err(SpawnFailure::Io(e)),
            },
            (Ok(Err(e)), Ok(())) => Err(SpawnFailure::Io(e)),
        };
        let _ = tx.send(result);
    });
    spawner()?.send(job).map_err(|_| SpawnError::Spawner)?;
    let started = Instant::now();
    let child = match rx.await.map_err(|_| SpawnError::Spawner)? {
        Ok(child) => child,
        Err(SpawnFailure::Io(source)) => {
            return Err(SpawnError::Start {
                exe: exe.clone(),
                source,
            })
        }
        Err(SpawnFailure::Pidfd(e)) => return Err(SpawnError::Pidfd(e)),
        Err(SpawnFailure::NoIo) => {
            return Err(SpawnError::NoRuntime(
                "this one has no IO driver; build it with enable_all()".into(),
            ))
        }
        Err(SpawnFailure::NoTime) => {
            return Err(SpawnError::NoRuntime(
                "this one has no timers; build it with enable_all()".into(),
            ))
        }
    };
    // Claimed only once its pipes are registered: should that fail (the
    // runtime shutting down since the probe), the sandbox ends with it.
    let mut forked = child;
    let start = |source| SpawnError::Start {
        exe: exe.clone(),
        source,
    };
    let inner = forked.inner();
    let (stdin, stdout, stderr) = (inner.stdin.take(), inner.stdout.take(), inner.stderr.take());
    let stdin = stdin.map(ChildStdin::from_std).transpose().map_err(start)?;
    let stdout = stdout
        .map(ChildStdout::from_std)
        .transpose()
        .map_err(start)?;
    let stderr = stderr
        .map(ChildStderr::from_std)
        .transpose()
        .map_err(start)?;
    let child = forked.claim();
    let pid = child.id();
    let ring: SharedRing = Arc::new(Mutex::new(Ring::new(opts.stderr)));
    let drain = stderr.map(|err| tokio::spawn(stderr::drain(err, ring.clone(), started)));
    Ok(ServerProcess {
        stdin,
        stdout,
        child,
        pid,
        ring,
        drain,
        backend: plan.backend,
        started,
        status: None,
        private,
    })
}

/// A child forked for a spawn whose caller may be gone by then (its
/// future dropped: a host's `select!` or timeout) before it takes the
/// child: until claimed, dropping it ends the sandbox as dropping a handle
/// does. A plain child dropped there ran on, unreaped.
struct Forked {
    child: Option<OwnedChild>,
    backend: Backend,
}

impl Forked {
    fn new(child: OwnedChild, backend: Backend) -> Forked {
        Forked {
            child: Some(child),
            backend,
        }
    }

    fn inner(&mut self) -> &mut std::process::Child {
        self.child.as_mut().expect("not claimed yet").inner()
    }

    fn claim(mut self) -> OwnedChild {
        self.child.take().expect("claimed once")
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                kill_unreaped(&mut child, self.backend);
            }
        }
    }
}

/// SIGKILL a server not yet reaped: its group, and the tree under it
/// (bwrap's sandbox runs in a session of its own), walked first so that
/// what the group's death re-parents is still found.
fn kill_unreaped(child: &mut OwnedChild, backend: Backend) {
    let pid = child.id();
    let procs = sandbox_tree(pid, backend);
    // A group has no pidfd: signalled by number, right after the pidfd
    // said the leader is unreaped (its zombie keeps the number its own).
    tree::signal_group(pid as i32, Signal::SIGKILL);
    signal_tree(child, &procs, Signal::SIGKILL);
}

/// `sig` to each of `procs`: the server's own process through the pidfd
/// it is held by, the others through one opened for each (see
/// [`tree::signal_all`]).
fn signal_tree(child: &mut OwnedChild, procs: &[tree::Proc], sig: Signal) {
    let pid = child.id() as i32;
    for p in procs {
        if p.pid == pid {
            let _ = child.signal(sig);
        } else {
            tree::signal_all(std::slice::from_ref(p), sig);
        }
    }
}

/// The processes under the server `pid`, not yet reaped. On bwrap, without
/// the `--net proxy` bridge, which removes its directory and exits once
/// bwrap has (everything else there dies with the pid namespace); on
/// Landlock, where a server's child could name itself so, all of them.
fn sandbox_tree(pid: u32, backend: Backend) -> Vec<tree::Proc> {
    let procs = tree::descendants(pid as i32);
    match backend {
        Backend::Bwrap => tree::without_bridge(procs),
        _ => procs,
    }
}

/// How long shutdown waits for the child after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

impl ServerProcess {
    /// The pid of the direct child (bwrap, or the server under Landlock).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The backend enforcing it.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// When it was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The kept stderr lines, oldest first.
    pub fn stderr_lines(&self) -> Vec<StderrLine> {
        self.ring.lock().map(|r| r.lines()).unwrap_or_default()
    }

    /// The last `n` stderr lines as text.
    pub fn stderr_tail(&self, n: usize) -> String {
        let lines = self.stderr_lines();
        stderr::render(&lines[lines.len().saturating_sub(n)..])
    }

    /// Stderr lines that look like sandbox denials.
    pub fn denials(&self) -> Vec<String> {
        stderr::denials(&self.stderr_lines())
    }

    /// The exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let status = self.child.try_wait().ok().flatten();
            self.set_status(status);
        }
        self.status
    }

    /// Wait for the child to exit.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = self.child.wait().await?;
        self.set_status(Some(s));
        Ok(s)
    }

    /// Landlock: the server's HOME and TMPDIR directory while it runs
    /// (`None` once it is reaped, and on bwrap).
    pub fn private_dir(&self) -> Option<&Path> {
        self.private.as_ref().and_then(PrivateRun::dir)
    }

    /// Record the status; once reaped, the server's own directories go
    /// (what it left running in the background goes with
    /// `kill_leftovers`, or loses them: see `plan::private_run`).
    fn set_status(&mut self, status: Option<ExitStatus>) {
        self.status = status;
        if status.is_some() {
            self.private = None;
        }
    }

    /// Wait (bounded) for exit and for stderr to reach EOF, so a failure
    /// report has the status and the last lines. A server still running
    /// keeps its stderr open: its EOF is not awaited then (the lines read
    /// so far are in the buffer already).
    pub async fn settle(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = tokio::time::timeout(limit, self.wait()).await;
        let status = self.try_status();
        if let Some(drain) = self.drain.as_mut().filter(|_| status.is_some()) {
            // A finished JoinHandle panics when polled again: a second
            // settle (a retried initialize, one `fail` per failed call)
            // must not await it twice.
            if tokio::time::timeout(limit, drain).await.is_ok() {
                self.drain = None;
            }
        }
        status
    }

    /// Close stdin, SIGTERM the whole tree, SIGKILL after `grace`; always
    /// reaps. Bounded by `grace` + 5 s. After [`super::session::initialize`]
    /// the [`super::session::Session`] holds stdin, which closes only when
    /// the session is dropped; SIGTERM follows at once either way. To let
    /// a server exit on EOF alone, drop the session and `wait` (with a
    /// timeout) before calling this.
    pub async fn shutdown(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        self.stdin = None;
        // Reaped (here, or by the kernel for a host that ignores SIGCHLD,
        // where `try_wait` fails): its children were re-parented when it
        // exited, and its pid number may belong to an unrelated process by
        // now, so no tree is walked under it; only its group, guarded.
        match self.child.try_wait() {
            Ok(None) => {}
            Ok(Some(s)) => {
                self.set_status(Some(s));
                self.kill_leftovers(&[]);
                return Ok(s);
            }
            Err(e) => {
                self.kill_leftovers(&[]);
                return Err(e);
            }
        }
        let procs = self.tree();
        // bwrap's own processes die with the server; signalling them first
        // would SIGKILL the server through the namespace's pid 1.
        let servers: Vec<tree::Proc> = procs
            .iter()
            .filter(|p| p.comm != "bwrap")
            .cloned()
            .collect();
        signal_tree(&mut self.child, &servers, Signal::SIGTERM);
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(r) => r?,
            Err(_) => {
                // The group by number is safe while the number is held:
                // by the leader, unreaped (asked through its pidfd just
                // now), or by any member still alive (the kernel frees a
                // number only once no process uses it as pid or group).
                // A host that ignores SIGCHLD has the kernel reap the
                // leader the moment it exits, so that is asked here, not
                // assumed from the wait above; once it is gone, the
                // guarded kill still reaches members left, unless the
                // number names a new process (then the group is gone).
                // What remains is the instant between this check and the
                // kill, on such a host alone.
                if matches!(self.child.try_wait(), Ok(None)) {
                    tree::signal_group(self.pid as i32, Signal::SIGKILL);
                } else {
                    tree::signal_reaped_group(self.pid as i32, Signal::SIGKILL);
                }
                signal_tree(&mut self.child, &procs, Signal::SIGKILL);
                tokio::time::timeout(KILL_WAIT, self.child.wait())
                    .await
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "server survived SIGKILL")
                    })??
            }
        };
        self.kill_leftovers(&procs);
        self.set_status(Some(status));
        Ok(status)
    }

    /// The processes under the server, not yet reaped.
    fn tree(&self) -> Vec<tree::Proc> {
        sandbox_tree(self.pid, self.backend)
    }

    /// After the server was reaped: its group's members, and what is left
    /// of the tree it had.
    fn kill_leftovers(&self, procs: &[tree::Proc]) {
        tree::signal_reaped_group(self.pid as i32, Signal::SIGKILL);
        if tree::any_alive(procs) {
            tree::signal_all(procs, Signal::SIGKILL);
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            kill_unreaped(&mut self.child, self.backend);
        } else {
            // The server exited (reaped here, or by the kernel for a host
            // that ignores SIGCHLD: its pid may be another's by now), but
            // what it started in its group lives on (Landlock has no pid
            // namespace to take it along), as after `shutdown` of an
            // exited server.
            tree::signal_reaped_group(self.pid as i32, Signal::SIGKILL);
        }
        // Dropping `child` reaps it, at once or on the reaper thread.
        if let Some(drain) = self.drain.take() {
            drain.abort();
        }
    }
}
