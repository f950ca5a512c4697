//! The server's direct child, owned here rather than by tokio's process
//! driver. tokio hands a child dropped unreaped (`kill_on_drop`) to an
//! orphan queue that only a live runtime drains: a handle dropped after
//! its runtime was gone left bwrap (or the Landlock server) a zombie for
//! the rest of the host's life. Here waiting is on a pidfd registered with
//! whichever runtime awaits, and a child dropped unreaped is SIGKILLed and
//! handed to one process-long reaper thread: the dropping thread (a
//! runtime worker, or none) never blocks on it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How often a child is polled where no pidfd could be had (Linux before
/// 5.3, a seccomp filter on the host), and how often the reaper thread
/// looks at the children it holds.
const POLL: Duration = Duration::from_millis(20);

/// A child process that is always reaped: by `wait`/`try_wait`, or once
/// dropped, killed and reaped without blocking the dropping thread.
#[derive(Debug)]
pub(crate) struct OwnedChild {
    /// `None` only inside `drop`.
    child: Option<Reapable>,
}

/// The child, its pidfd, and its status once reaped.
#[derive(Debug)]
struct Reapable {
    child: Child,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Reapable {
    /// The status, reaping the child if it has exited. std waits by pid
    /// number; for a host that ignores SIGCHLD the kernel reaps the child
    /// itself, and that number may be another child's by then (whose exit
    /// std would reap, or whose running would read as ours). The pidfd
    /// names this process alone: asked first, without reaping, it says
    /// whether the pid is still ours. Gone: ECHILD.
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        if let Some(fd) = &self.pidfd {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
            match waitid(Id::PIDFd(fd.as_fd()), flags) {
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        self.status = self.child.try_wait()?;
        Ok(self.status)
    }
}

impl OwnedChild {
    pub(crate) fn new(child: Child) -> OwnedChild {
        let pidfd = sandspawn_linux::lifetime::child_pidfd(&child).ok();
        OwnedChild {
            child: Some(Reapable {
                child,
                pidfd,
                status: None,
            }),
        }
    }

    fn reapable(&mut self) -> &mut Reapable {
        self.child
            .as_mut()
            .expect("the child is present until drop")
    }

    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, |r| r.child.id())
    }

    /// The std handle, for taking its pipes.
    pub(crate) fn inner(&mut self) -> &mut Child {
        &mut self.reapable().child
    }

    /// The status, reaping it if it has exited (see [`Reapable::try_wait`]);
    /// once reaped, remembered: the pid is never waited for again.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reapable().try_wait()
    }

    /// Wait for the exit, in whichever runtime awaits this (cancel-safe).
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            let reapable = self.reapable();
            if let Some(status) = reapable.try_wait()? {
                return Ok(status);
            }
            match &reapable.pidfd {
                Some(fd) => {
                    // Registered for this wait only, so the handle may move
                    // between runtimes; readable once the child has exited.
                    // The constructor is deprecated for a `T` whose fd could
                    // change under the registration; an owned copy cannot.
                    #[allow(deprecated)]
                    let fd = AsyncFd::with_interest(fd.try_clone()?, Interest::READABLE)?;
                    drop(fd.readable().await?);
                }
                None => tokio::time::sleep(POLL).await,
            }
        }
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        let Some(mut dying) = self.child.take() else {
            return;
        };
        if !matches!(dying.try_wait(), Ok(None)) {
            return;
        }
        let _ = dying.child.kill();
        // Most often gone by now: reaped here, no thread involved.
        if !matches!(dying.try_wait(), Ok(None)) {
            return;
        }
        let mut dying = match reaper() {
            Some(tx) => match tx.send(dying) {
                Ok(()) => return,
                Err(mpsc::SendError(dying)) => dying,
            },
            None => dying,
        };
        // No thread to hand it to: wait here, which after SIGKILL is short
        // unless the child is stuck in the kernel.
        while matches!(dying.try_wait(), Ok(None)) {
            std::thread::sleep(POLL);
        }
    }
}

/// The process-long reaper thread's queue, started on first use.
fn reaper() -> Option<&'static mpsc::Sender<Reapable>> {
    static REAPER: OnceLock<Option<mpsc::Sender<Reapable>>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Reapable>();
            std::thread::Builder::new()
                .name("sandspawn-reaper".into())
                .spawn(move || reap(rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Reap every child sent (each SIGKILLed already), polling so that one
/// stuck in the kernel does not hold up the others.
fn reap(rx: mpsc::Receiver<Reapable>) {
    let mut pending: Vec<Reapable> = Vec::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(child) => pending.push(child),
                Err(_) => return,
            }
        } else if let Ok(child) = rx.recv_timeout(POLL) {
            pending.push(child);
        }
        pending.extend(rx.try_iter());
        pending.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}
