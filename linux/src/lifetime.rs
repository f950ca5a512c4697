//! How a sandbox started by a program we do not control (an MCP client
//! running `sandspawn mcp`) dies with that program, and only with it.
//!
//! A parent-death signal (bwrap's `--die-with-parent`, PR_SET_PDEATHSIG) is
//! sent when the *thread* that forked us exits, not the process. Clients
//! may fork from a short-lived thread (a tokio blocking thread, a pool), so
//! the signal is safe only when the forking thread is the parent's
//! thread-group leader, which lives as long as the process (short of a
//! `pthread_exit` from `main`). `/proc/PPID/task/TID/children` names the
//! thread: [`forking_thread`]. Otherwise [`ParentWatch::supervise`] keeps a small watcher
//! resident: it forks the sandbox with the parent-death signal tied to its
//! own single thread and exits (killing the sandbox) when a pidfd of the
//! client process reports its exit.

use std::io;
use std::os::fd::AsFd;
use std::process::Command;

use crate::sys;

/// Which of the parent's threads forked this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forker {
    /// The parent's main thread (tid = pid): a parent-death signal is safe.
    Leader,
    /// Another thread, which may exit while the parent lives on.
    Thread(u32),
    /// Not found out (no `children` files, hidden /proc, a race): why.
    Unknown(String),
}

/// Which thread of the parent process forked this one, from
/// `/proc/PPID/task/*/children` (CONFIG_PROC_CHILDREN; readable by other
/// users unless /proc is mounted with `hidepid`).
pub fn forking_thread() -> Forker {
    let me = std::process::id().to_string();
    let ppid = std::os::unix::process::parent_id();
    let task = format!("/proc/{ppid}/task");
    let entries = match std::fs::read_dir(&task) {
        Ok(e) => e,
        Err(e) => return Forker::Unknown(format!("{task}: {e}")),
    };
    let mut readable = false;
    for entry in entries.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(children) = std::fs::read_to_string(entry.path().join("children")) else {
            continue;
        };
        readable = true;
        if children.split_ascii_whitespace().any(|c| c == me) {
            return if tid == ppid {
                Forker::Leader
            } else {
                Forker::Thread(tid)
            };
        }
    }
    Forker::Unknown(if readable {
        format!("not listed as a child of any thread in {task}")
    } else {
        format!("no readable {task}/*/children (kernel without CONFIG_PROC_CHILDREN?)")
    })
}

/// Exit code for "the client died; the sandbox was killed" (128 + SIGKILL,
/// as a shell reports a killed child). Nobody is left to read it.
const CLIENT_GONE: i32 = 128 + libc::SIGKILL;

/// Signals passed on to the sandbox (a client stopping its server).
const FORWARDED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// A pidfd of the parent process (the client), taken before anything is
/// spawned.
#[derive(Debug)]
pub struct ParentWatch {
    parent: std::os::fd::OwnedFd,
    spare_bridge: bool,
}

impl ParentWatch {
    /// Watch the parent process. `Ok(None)`: it is already gone (we were
    /// reparented), so nothing should start. Fails where pidfd_open does
    /// (Linux before 5.3, a seccomp filter), so the caller can fall back
    /// and say so.
    pub fn new() -> io::Result<Option<ParentWatch>> {
        let ppid = std::os::unix::process::parent_id();
        let parent = sys::pidfd_open(ppid as libc::pid_t)?;
        // The pid could have been reused between the two calls only if our
        // parent had died, which would have changed parent_id().
        Ok(
            (std::os::unix::process::parent_id() == ppid).then_some(ParentWatch {
                parent,
                spare_bridge: false,
            }),
        )
    }

    /// The sandbox is bwrap's with network `proxy`: once bwrap is gone,
    /// the one process of it outside the pid namespace that reaches us is
    /// the host-side bridge, which removes its socket directory and exits
    /// by itself when bwrap has exited. Ending the sandbox then waits for
    /// it (within the same bound) instead of SIGKILLing it, which left the
    /// directory behind. Not for Landlock, where anything the server
    /// started could name itself so.
    pub fn sparing_the_proxy_bridge(mut self) -> Self {
        self.spare_bridge = true;
        self
    }

    /// Run `cmd` (which must set its own parent-death signal, tied to this
    /// process's only thread: call from the main thread of a process that
    /// leaves only through here) and stay resident until it exits or the
    /// parent process does; the latter kills it. SIGTERM, SIGINT and SIGHUP
    /// are passed on to it. Returns the exit code to leave with: the
    /// child's, or 128 + its signal.
    pub fn supervise(self, mut cmd: Command) -> io::Result<i32> {
        // A client that ignores SIGCHLD passes that on through exec: the
        // kernel would reap the server itself, and the wait below would
        // never see its status (nor the pid stay ours to signal).
        sys::default_sigchld()?;
        // Orphans of the server (a launcher's grandchild, a double fork)
        // come to us, so that a client's exit can end them too. Best
        // effort: without it, only the direct child is ended.
        let _ = sys::set_child_subreaper();
        // Spawned before the signals are blocked: a child inherits the
        // mask (through exec too; std's `Command` keeps it), and a server
        // with SIGTERM or SIGCHLD blocked would neither stop nor see its own
        // children exit. A signal in between kills this process the default
        // way, and the child with it (its parent-death signal); a SIGCHLD in
        // between is lost, hence the first `try_wait` before any poll.
        let mut child = cmd.spawn()?;
        let mut blocked = FORWARDED.to_vec();
        blocked.push(libc::SIGCHLD);
        let outcome = sys::signalfd_block(&blocked)
            .and_then(|signals| self.wait(&mut child, signals.as_fd()));
        if outcome.is_err() {
            // Fail closed: no sandbox left unwatched.
            end_all(&mut child, self.spare_bridge);
        }
        outcome
    }

    fn wait(
        &self,
        child: &mut std::process::Child,
        signals: std::os::fd::BorrowedFd<'_>,
    ) -> io::Result<i32> {
        // Our copies of the client's pipes would hide the server's EOF and
        // EPIPE from the client; stderr stays for our own last words.
        sys::null_stdin_stdout()?;
        loop {
            if let Some(status) = child.try_wait()? {
                use std::os::unix::process::ExitStatusExt;
                return Ok(status
                    .code()
                    .or(status.signal().map(|s| 128 + s))
                    .unwrap_or(1));
            }
            reap_adopted(child.id());
            let [gone, got] = sys::poll_two([
                (Some(self.parent.as_fd()), libc::POLLIN),
                (Some(signals), libc::POLLIN),
            ])?;
            if gone != 0 {
                // The child's parent-death signal follows our exit anyway;
                // killing first does not depend on it having been set.
                end_all(child, self.spare_bridge);
                return Ok(CLIENT_GONE);
            }
            if got == 0 {
                continue;
            }
            for sig in sys::read_signals(signals)? {
                if sig as libc::c_int != libc::SIGCHLD {
                    let _ = sys::send_signal(child.id(), sig as libc::c_int);
                }
            }
        }
    }
}

/// How long [`end_all`] keeps ending descendants that reach us.
const END_ALL_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// SIGKILL the child, then every descendant that is reparented to us as a
/// subreaper (on Landlock the child may be a launcher, `npx`, whose server
/// is a grandchild), reaping as they go, until none is left or
/// [`END_ALL_FOR`] has passed. Only our own unreaped children are
/// signalled, so no pid can have been reused for another process.
fn end_all(child: &mut std::process::Child, spare_bridge: bool) {
    let _ = child.kill();
    let deadline = std::time::Instant::now() + END_ALL_FOR;
    loop {
        for pid in own_children() {
            if spare_bridge && is_bridge(pid) {
                continue;
            }
            let _ = sys::send_signal(pid, libc::SIGKILL);
        }
        loop {
            match sys::reap_one() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                // ECHILD: nobody left.
                Err(_) => return,
            }
        }
        if std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Reap what the server left in the background and was re-parented to us
/// (the subreaper) once it has exited: nothing else would, and each would
/// stay a zombie for as long as the client runs. `child` is left to its
/// `Child`, which must see its status. Only our own children are waited
/// for, by pid, so no pid can have been reused.
fn reap_adopted(child: u32) {
    for pid in own_children() {
        if pid != child {
            let _ = sys::reap_pid(pid);
        }
    }
}

/// Whether `pid` runs `sandspawn __proxy-bridge …`.
fn is_bridge(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline.split(|b| *b == 0).nth(1) == Some(crate::bridge::BRIDGE_TOKEN.as_bytes())
}

/// This process's children, from `/proc/self/task/*/children`.
fn own_children() -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_ascii_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}
