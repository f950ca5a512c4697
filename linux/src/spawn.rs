//! Spawning `sandspawn run` (or bwrap) from a thread that lives as long as
//! the process, so the sandbox dies with the *process*, not with a thread.
//!
//! Which thread matters: `sandspawn run` execs bwrap in place, and bwrap's
//! `--die-with-parent` sets `PR_SET_PDEATHSIG(SIGKILL)` on itself at start.
//! The kernel sends that signal when the *thread* that forked it exits, not
//! the process (bubblewrap#692; `forget_original_parent` signals every
//! reparented child). So if a short-lived thread (a tokio worker, a
//! `std::thread` that spawns and returns) forks `sandspawn run`, the sandbox
//! is SIGKILLed as soon as that thread exits, while the host lives on. The
//! fix cannot live in the sandboxed tree without keeping a watcher resident,
//! so it lives here, on the spawning side: every spawn goes through one
//! dedicated thread that never exits. Its only way to die is the whole
//! process dying, which is exactly when the sandbox should go.
//!
//! (When the forking thread exits *before* bwrap sets the signal, the child
//! has already been reparented to a live thread and is safe; the race is the
//! other order, a thread that outlives bwrap's start-up but not the sandbox.)

use std::io;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

type Job = (Command, Sender<io::Result<Child>>);

fn spawner() -> io::Result<&'static Mutex<Sender<Job>>> {
    static SPAWNER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    if let Some(s) = SPAWNER.get() {
        return Ok(s);
    }
    let (tx, rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("sandspawn-spawner".into())
        .spawn(move || {
            // The sender lives in a static, so this loop runs until the
            // process exits.
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        })?;
    Ok(SPAWNER.get_or_init(|| Mutex::new(tx)))
}

/// `cmd.spawn()`, performed on a dedicated thread that lives as long as the
/// process, so that a parent-death signal set by the child (bwrap's
/// `--die-with-parent`) fires only when this process dies. Use it for every
/// spawn of a sandbox from a program that may spawn from short-lived threads.
pub fn spawn(cmd: Command) -> io::Result<Child> {
    let (reply_tx, reply_rx) = channel();
    let spawner = spawner()?;
    spawner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the sandspawn spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the sandspawn spawner thread is gone"))?
}
