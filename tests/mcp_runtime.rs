//! The library's spawn from a tokio runtime built without its IO driver.
//! Its own test binary, one test: it counts this process's children and
//! descriptors.

mod mcp_support;

use mcp_support::*;
use sandspawn::mcp::process::{spawn, SpawnError, SpawnOptions};
use sandspawn::plan::Plan;
use sandspawn::policy::Layer;

/// This process's children (zombies included), from /proc.
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|pid| *pid != me)
        .collect()
}

/// `true` planned for bwrap, and the options that find this sandspawn.
fn true_under_bwrap() -> (Host, Plan, SpawnOptions) {
    let host = Host::new();
    let plan = host.plan(vec!["true".into()], "bwrap", Layer::default());
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    (host, plan, opts)
}

#[test]
fn runtimes_that_cannot_spawn() {
    a_runtime_without_io_gets_an_error_and_later_spawns_still_work();
    a_shut_down_runtime_forks_nothing();
    a_runtime_without_timers_gets_an_error();
}

/// tokio panics in `Command::spawn` without the IO driver, after the fork:
/// the panic ended the process-long spawner thread, so this spawn and
/// every later one, from any runtime, failed with "the sandspawn spawner
/// thread is not running", and the forked child was left unreaped.
fn a_runtime_without_io_gets_an_error_and_later_spawns_still_work() {
    let Some(_) = ready("bwrap") else {
        return;
    };
    let (_host, plan, opts) = true_under_bwrap();
    let no_io = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = fds();
    let err = no_io.block_on(spawn(&plan, &opts)).unwrap_err();
    assert!(matches!(err, SpawnError::NoRuntime(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "spawn needs a tokio runtime with IO and time enabled: this one has no IO driver; \
         build it with enable_all()"
    );
    assert_eq!(children(), Vec::<String>::new(), "nothing was forked");
    assert_eq!(fds(), before, "the probe closed what it opened");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        let mut server = spawn(&plan, &opts).await.expect("the spawner lives on");
        server.wait().await.unwrap()
    });
    assert!(status.success(), "{status:?}");
}

/// A runtime that was shut down (its handle kept by the host, or a spawn
/// queued while it shut down): tokio's spawn forked, failed to register
/// the pipes and dropped the child unreaped. Now nothing is forked.
fn a_shut_down_runtime_forks_nothing() {
    let Some(_) = ready("bwrap") else {
        return;
    };
    let (_host, plan, opts) = true_under_bwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    drop(rt);
    let err = handle.block_on(spawn(&plan, &opts)).unwrap_err();
    assert!(matches!(err, SpawnError::Start { .. }), "{err:?}");
    assert!(err.to_string().contains("shut"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(children(), Vec::<String>::new(), "nothing was forked");
}

/// The README promised that a runtime with IO was enough, but every
/// handshake, `settle` and `shutdown` is bounded by a tokio timer: with
/// `enable_io()` alone the spawn succeeded and `initialize` then panicked
/// ("timers are disabled"). Now the spawn is refused before any fork.
fn a_runtime_without_timers_gets_an_error() {
    let Some(_) = ready("bwrap") else {
        return;
    };
    let (_host, plan, opts) = true_under_bwrap();
    let no_time = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .unwrap();
    let err = no_time.block_on(spawn(&plan, &opts)).unwrap_err();
    assert!(matches!(err, SpawnError::NoRuntime(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "spawn needs a tokio runtime with IO and time enabled: this one has no timers; \
         build it with enable_all()"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(children(), Vec::<String>::new(), "nothing was forked");
}
