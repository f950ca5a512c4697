//! `shutdown` of a server that was already reaped must not signal whatever
//! holds its pid number now. Its own test binary: it steers the kernel's
//! next pid (`/proc/sys/kernel/ns_last_pid`, root only) so that an unrelated
//! process gets the reaped server's pid, as a long-running host on a
//! machine with the common pid_max of 32768 sees sooner or later.

mod mcp_support;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use mcp_support::*;
use sandspawn::mcp::process::{spawn, SpawnOptions};
use sandspawn::policy::Layer;

/// Both tests steer the one ns_last_pid: run together they take each
/// other's pids and mostly skip.
static STEERING: Mutex<()> = Mutex::new(());

fn steering() -> MutexGuard<'static, ()> {
    STEERING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process of its own (a shell with a child, in a group it leads) that
/// gets `pid`, or `None` when other processes on the machine keep taking
/// that number first, or when this user may not steer pids.
fn unrelated_process_with_pid(pid: u32) -> Option<Child> {
    for _ in 0..200 {
        if std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).is_err() {
            return None;
        }
        let child = Command::new("sh")
            .args(["-c", "sleep 60 & wait"])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        if child.id() == pid {
            return Some(child);
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").starts_with(" Z"))
}

/// The server exited and `wait` reaped it; later its pid went to another
/// process, which has a child of its own. `shutdown` (a host's cleanup
/// path calls it whatever happened before) walked the process tree under
/// that pid and SIGKILLed the unrelated process and its child.
#[tokio::test(flavor = "multi_thread")]
// The guard serialises the tests, it guards no data the awaits could race on.
#[allow(clippy::await_holding_lock)]
async fn shutdown_after_wait_leaves_a_recycled_pid_alone() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: steering pids through ns_last_pid needs root");
        return;
    }
    let _steering = steering();
    let Some(_) = ready("bwrap") else {
        return;
    };
    let host = Host::new();
    let plan = host.plan(vec!["true".into()], "bwrap", Layer::default());
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    let mut server = spawn(&plan, &opts).await.unwrap();
    let pid = server.pid();
    assert!(server.wait().await.unwrap().success());
    let Some(mut other) = unrelated_process_with_pid(pid) else {
        skip(&format!("could not give pid {pid} to another process"));
        return;
    };
    // Its child is started: the tree under the pid has two processes.
    std::thread::sleep(Duration::from_millis(200));
    let status = server.shutdown(Duration::from_secs(1)).await.unwrap();
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(200));
    let survived = alive(other.id());
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(other.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = other.wait();
    assert!(
        survived,
        "shutdown killed pid {pid}, which is no longer the server"
    );
}

/// Set in the copy of this binary that runs with SIGCHLD ignored.
const IGNORING: &str = "SANDSPAWN_TEST_SIGCHLD_IGNORED";

/// What that copy prints when it got the pid recycled and saw it survive.
const PASSED: &str = "recycled pid survived the dropped handle";

/// A host that ignores SIGCHLD has its children reaped by the kernel:
/// `try_wait` fails (ECHILD) instead of giving a status, and the handle,
/// taking that for "still running", SIGKILLed the tree and the group under
/// the pid on drop, by then another process's. This test runs again in a
/// copy of this binary started with SIGCHLD ignored (a disposition kept
/// through exec), which is the host.
#[test]
fn a_host_ignoring_sigchld_leaves_a_recycled_pid_alone() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: steering pids through ns_last_pid needs root");
        return;
    }
    if std::env::var_os(IGNORING).is_some() {
        return ignoring_sigchld();
    }
    // Held while the copy runs: it steers pids for this process.
    let _steering = steering();
    let Some(_) = ready("bwrap") else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import os, signal, sys\n\
             signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n\
             os.execv(sys.argv[1], sys.argv[1:])",
        ])
        .arg(&exe)
        .args([
            "a_host_ignoring_sigchld_leaves_a_recycled_pid_alone",
            "--exact",
            "--nocapture",
        ])
        .env(IGNORING, "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // "1 passed" also follows a skip inside: only the marker says the
    // recycled pid was really given away and came through.
    if !text.contains(PASSED) {
        assert!(text.contains("skipped: "), "{text}");
        skip(&format!(
            "the run with SIGCHLD ignored tested nothing: {text}"
        ));
    }
}

fn ignoring_sigchld() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ignored = status.lines().find(|l| l.starts_with("SigIgn:")).unwrap();
    let mask = u64::from_str_radix(ignored.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_ne!(
        mask & (1 << (libc_sigchld() - 1)),
        0,
        "SIGCHLD is not ignored"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let host = Host::new();
    let plan = host.plan(vec!["true".into()], "bwrap", Layer::default());
    let opts = SpawnOptions {
        sandspawn_exe: Some(SANDSPAWN.into()),
        ..SpawnOptions::default()
    };
    let server = rt.block_on(spawn(&plan, &opts)).unwrap();
    let pid = server.pid();
    // The kernel reaps it: its pid is free once it exits. bwrap, ignoring
    // SIGCHLD as its parent did, never saw the command exit and stayed.
    let exited = (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(exited, "bwrap ({pid}) outlived its command");
    let Some(other) = unrelated_process_with_pid(pid) else {
        skip(&format!("could not give pid {pid} to another process"));
        return;
    };
    std::thread::sleep(Duration::from_millis(200));
    drop(server);
    std::thread::sleep(Duration::from_millis(200));
    let survived = alive(other.id());
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(other.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    drop(rt);
    assert!(
        survived,
        "dropping the handle killed pid {pid}, which is no longer the server"
    );
    println!("{PASSED}");
}

fn libc_sigchld() -> u32 {
    nix::sys::signal::Signal::SIGCHLD as u32
}
