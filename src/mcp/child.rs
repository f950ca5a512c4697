//! The server's direct child, owned here rather than by tokio's process
//! driver. tokio hands a child dropped unreaped (`kill_on_drop`) to an
//! orphan queue that only a live runtime drains: a handle dropped after
//! its runtime was gone left bwrap (or the Landlock server) a zombie for
//! the rest of the host's life. Here waiting is on a pidfd registered with
//! whichever runtime awaits, and a child dropped unreaped is SIGKILLed and
//! handed to one process-long reaper thread: the dropping thread (a
//! runtime worker, or none) never blocks on it.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

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
    child: Option<Child>,
    pidfd: Option<OwnedFd>,
}

impl OwnedChild {
    pub(crate) fn new(child: Child) -> OwnedChild {
        let pidfd = sandspawn_linux::lifetime::child_pidfd(&child).ok();
        OwnedChild {
            child: Some(child),
            pidfd,
        }
    }

    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The std handle, for taking its pipes.
    pub(crate) fn inner(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("the child is present until drop")
    }

    /// The status, reaping it if it has exited. Once reaped, the status is
    /// remembered (std keeps it): the pid is never waited for again.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner().try_wait()
    }

    /// Wait for the exit, in whichever runtime awaits this (cancel-safe).
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            let child = self.child.as_mut().expect("present until drop");
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
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
        let Some(mut child) = self.child.take() else {
            return;
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        let _ = child.kill();
        // Most often gone by now: reaped here, no thread involved.
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        match reaper() {
            Some(tx) => {
                if let Err(mpsc::SendError(mut child)) = tx.send(child) {
                    let _ = child.wait();
                }
            }
            // No thread to hand it to: wait here, which after SIGKILL is
            // short unless the child is stuck in the kernel.
            None => {
                let _ = child.wait();
            }
        }
    }
}

/// The process-long reaper thread's queue, started on first use.
fn reaper() -> Option<&'static mpsc::Sender<Child>> {
    static REAPER: OnceLock<Option<mpsc::Sender<Child>>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Child>();
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
fn reap(rx: mpsc::Receiver<Child>) {
    let mut pending: Vec<Child> = Vec::new();
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
