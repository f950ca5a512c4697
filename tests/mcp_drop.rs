//! Servers whose host lets go of them: a handle dropped after the tokio
//! runtime it was spawned in is gone, a spawn cancelled midway. Its own
//! test binary, one test: it counts this process's children, and no
//! runtime is alive while it checks (a live one anywhere in the process
//! would reap what tokio left to it, and the test would pass for the wrong
//! reason).

mod mcp_support;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use mcp_support::*;
use nix::errno::Errno;
use nix::sys::wait::{waitid, Id, WaitPidFlag};
use nix::unistd::Pid;
use sandspawn::mcp::process::{spawn, SpawnOptions};
use sandspawn::mcp::session::{initialize, DEFAULT_STARTUP_TIMEOUT};
use sandspawn::policy::Layer;

/// How `pid`, a child of this process, stands, without reaping it:
/// `Err(ECHILD)` once it is reaped.
fn standing(pid: u32) -> nix::Result<nix::sys::wait::WaitStatus> {
    waitid(
        Id::Pid(Pid::from_raw(pid as i32)),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
    )
}

/// Poll until `cond` holds or `limit` passes; whether it held.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `command` (tagged) spawned in a runtime, handshaked first when `mcp`;
/// the runtime dropped, then the handle (and the session): the sandbox's
/// processes are killed and the direct child reaped, within a bound.
fn dropped_after_its_runtime(backend: &str, command: Vec<OsString>, mcp: bool, servers: &Servers) {
    let host = Host::new();
    let tag = format!(
        "SANDSPAWN_TEST_TAG=drop-{backend}-{mcp}-{}",
        std::process::id()
    );
    let (name, value) = tag.split_once('=').unwrap();
    let extra = Layer {
        set: vec![(name.into(), value.into())],
        read: vec![servers.node.clone()],
        ..Layer::default()
    };
    let plan = host.plan(command, backend, extra);
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (server, session) = rt.block_on(async {
        let mut server = spawn(&plan, &opts).await.unwrap();
        let session = if mcp {
            Some(
                initialize(&mut server, DEFAULT_STARTUP_TIMEOUT)
                    .await
                    .unwrap()
                    .0,
            )
        } else {
            None
        };
        (server, session)
    });
    let pid = server.pid();
    assert!(
        eventually(Duration::from_secs(10), || !tagged_processes(&tag)
            .is_empty()),
        "{backend}: the server never started"
    );
    drop(rt);
    let dropping = Instant::now();
    drop(session);
    drop(server);
    let took = dropping.elapsed();
    // Not blocking on the sandbox's end; 3 s leave a loaded machine room.
    assert!(
        took < Duration::from_secs(3),
        "{backend}: drop took {took:?}"
    );
    let gone = eventually(Duration::from_secs(10), || {
        tagged_processes(&tag).is_empty() && standing(pid) == Err(Errno::ECHILD)
    });
    let left = tagged_processes(&tag);
    for p in &left {
        let _ = nix::sys::signal::kill(Pid::from_raw(*p), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(
        gone,
        "{backend} mcp={mcp}: left alive {left:?}; the direct child {pid}: {:?}",
        standing(pid)
    );
}

/// This process's children (zombies included), from /proc.
fn children() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect()
}

/// A spawn future dropped after its first poll (a host's `select!` or
/// timeout): the spawner thread forked the child anyway and, with nobody
/// to take it, dropped it running and unreaped.
fn a_spawn_cancelled_midway_leaves_nothing(backend: &str) {
    let host = Host::new();
    let tag = format!("SANDSPAWN_TEST_TAG=cancel-{backend}-{}", std::process::id());
    let (name, value) = tag.split_once('=').unwrap();
    let extra = Layer {
        set: vec![(name.into(), value.into())],
        ..Layer::default()
    };
    let plan = host.plan(vec!["sleep".into(), "30".into()], backend, extra);
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The spawner thread may be done before the first poll looks: then
    // the server is let go of as a handle, and the spawn tried again.
    let cancelled = (0..20).any(|_| {
        let done = rt.block_on(async {
            let spawning = spawn(&plan, &opts);
            tokio::pin!(spawning);
            tokio::select! {
                biased;
                r = &mut spawning => Some(r.unwrap()),
                _ = std::future::ready(()) => None,
            }
        });
        let Some(server) = done else {
            return true;
        };
        drop(server);
        assert!(
            eventually(Duration::from_secs(10), || tagged_processes(&tag)
                .is_empty()
                && children().is_empty()),
            "{backend}: a dropped handle left {:?}",
            children()
        );
        false
    });
    assert!(
        cancelled,
        "{backend}: every spawn was done at its first poll"
    );
    // Time for the spawner thread to fork what nobody waits for any more:
    // it does, the runtime being alive, but once fixed the child may be
    // gone before any look could see it.
    std::thread::sleep(Duration::from_secs(1));
    let gone = eventually(Duration::from_secs(10), || {
        tagged_processes(&tag).is_empty() && children().is_empty()
    });
    drop(rt);
    let left = tagged_processes(&tag);
    for p in &left {
        let _ = nix::sys::signal::kill(Pid::from_raw(*p), nix::sys::signal::Signal::SIGKILL);
    }
    assert!(
        gone,
        "{backend}: left alive {left:?}; children of the host {:?}",
        children()
    );
}

/// tokio hands a child dropped with `kill_on_drop` to an orphan queue that
/// only a live runtime drains: with the runtime gone first, bwrap (or the
/// Landlock server) stayed a zombie child of the host for good.
#[test]
fn handles_let_go_of_kill_and_reap() {
    let Some(servers) = Servers::find() else {
        return;
    };
    for backend in ["bwrap", "landlock"] {
        if !usable(backend) {
            continue;
        }
        let sleep = vec!["sleep".into(), "30".into()];
        dropped_after_its_runtime(backend, sleep, false, &servers);
        dropped_after_its_runtime(backend, servers.everything(), true, &servers);
        a_spawn_cancelled_midway_leaves_nothing(backend);
    }
}
