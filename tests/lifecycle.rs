//! Lifecycle of a sandboxed process, through the real binary: it dies with
//! the process that spawned it, it does not die because the *thread* that
//! spawned it exited (bubblewrap#692: PR_SET_PDEATHSIG is thread-scoped),
//! and exit statuses and signals read as they would without the sandbox.
//!
//! Each sandboxed `sleep` carries a unique argument so it can be found in
//! /proc; every wait is bounded and every process started here is killed by
//! pid in teardown. Without a working bwrap the bwrap cases are skipped,
//! unless SANDSPAWN_MUST_WORK=1.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

fn sandspawn(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(SANDSPAWN);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        // Not from HOME, which presets leave out with a warning line of its own.
        .current_dir(work_dir(dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// `dir/work`, made if missing: the commands' working directory.
fn work_dir(dir: &Path) -> std::path::PathBuf {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    work
}

fn bwrap_works(dir: &Path) -> bool {
    let ok = sandspawn(dir, &["run", "--backend", "bwrap", "--", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("SANDSPAWN_MUST_WORK").is_none(),
            "bwrap backend does not work here and SANDSPAWN_MUST_WORK is set"
        );
        eprintln!("skipped: the bwrap backend does not work on this host");
    }
    ok
}

/// How long a sandbox may take to go once what ends it happened: a bound
/// for a loaded machine (a sandbox that never goes outlives any).
const TEARDOWN: Duration = Duration::from_secs(10);

/// Pids whose argv is exactly `sleep <marker>`.
fn find_sleep(marker: &str) -> Vec<i32> {
    let want = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.ends_with(want.as_bytes()) && c.starts_with(b"sleep\0"))
        })
        .collect()
}

/// Poll until `cond` holds or `limit` passes; whether it held.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills, on drop, every pid it holds and every `sleep <marker>` left.
struct Teardown<'a> {
    pids: Vec<i32>,
    marker: &'a str,
}

/// A `sleep` argument of this process alone: a fixed one was another
/// concurrent run's too, whose sleeps the checks and the teardown took
/// for this run's.
fn marker(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id())
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        for pid in self.pids.iter().copied().chain(find_sleep(self.marker)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

#[test]
fn a_spawning_thread_exiting_does_not_kill_the_sandbox_but_killing_the_child_does() {
    let dir = tempfile::tempdir().unwrap();
    if !bwrap_works(dir.path()) {
        return;
    }
    let marker = &marker("31.4159");
    let cmd = sandspawn(
        dir.path(),
        &["run", "--backend", "bwrap", "--", "sleep", marker],
    );
    // The spawning thread exits once the sandbox is up (bwrap has set its
    // parent-death signal by then); the handle lives on in this thread. With
    // a plain `cmd.spawn()` here the sandbox is SIGKILLed when this thread
    // exits (bubblewrap#692); `sandspawn_linux::spawn::spawn` forks from a
    // thread that lives as long as the process.
    let mine = marker.clone();
    let mut child = std::thread::spawn(move || {
        let child = sandspawn_linux::spawn::spawn(cmd).expect("spawn");
        eventually(Duration::from_secs(5), || !find_sleep(&mine).is_empty());
        child
    })
    .join()
    .expect("spawning thread");
    let mut guard = Teardown {
        pids: vec![child.id() as i32],
        marker,
    };
    assert!(
        eventually(Duration::from_secs(30), || !find_sleep(marker).is_empty()),
        "the sandboxed sleep never started"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sandbox died when the thread that spawned it exited (bubblewrap#692)"
    );
    assert!(
        !find_sleep(marker).is_empty(),
        "the sandboxed sleep died early"
    );

    // The direct child is bwrap (sandspawn exec'd it): kill it, the tree goes.
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let status = wait_bounded(&mut child, TEARDOWN);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(
        eventually(TEARDOWN, || find_sleep(marker).is_empty()),
        "the sandboxed sleep outlived the sandbox's bwrap"
    );
    guard.pids.clear();
}

#[test]
fn the_sandbox_dies_with_the_process_that_spawned_it() {
    let dir = tempfile::tempdir().unwrap();
    if !bwrap_works(dir.path()) {
        return;
    }
    let marker = &marker("31.4160");
    // A middle process starts the sandbox in the background, then dies by
    // SIGKILL once the sandboxed sleep runs (a fixed delay could end it
    // before the sandbox started, and the check below would pass at once).
    let script = format!("'{SANDSPAWN}' run --backend bwrap -- sleep {marker} & wait");
    let mut middle = Command::new("/bin/sh");
    middle
        .args(["-c", &script])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .current_dir("/usr")
        .stdin(Stdio::null());
    let mut middle = middle.spawn().expect("spawn sh");
    let _guard = Teardown {
        pids: vec![middle.id() as i32],
        marker,
    };
    assert!(
        eventually(Duration::from_secs(30), || !find_sleep(marker).is_empty()),
        "the sandboxed sleep never started"
    );
    kill(Pid::from_raw(middle.id() as i32), Signal::SIGKILL).unwrap();
    let status = wait_bounded(&mut middle, TEARDOWN);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the middle process");
    assert!(
        eventually(TEARDOWN, || find_sleep(marker).is_empty()),
        "the sandboxed sleep outlived the process that spawned the sandbox"
    );
}

/// Exit status of `sandspawn run --backend B -- sh -c SCRIPT`, and stderr.
fn run_sh(dir: &Path, backend: &str, script: &str) -> (ExitStatus, String) {
    let mut child = sandspawn(
        dir,
        &["run", "--backend", backend, "--", "sh", "-c", script],
    )
    .spawn()
    .expect("spawn");
    let mut stderr = child.stderr.take().unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
    (status, text)
}

fn backends(dir: &Path) -> Vec<&'static str> {
    let mut out = vec!["landlock"];
    if bwrap_works(dir) {
        out.push("bwrap");
    }
    out
}

#[test]
fn exit_status_and_signals_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    for backend in backends(dir.path()) {
        let (status, _) = run_sh(dir.path(), backend, "exit 7");
        assert_eq!(status.code(), Some(7), "{backend}: exit 7");
        // Bare sh killed by SIGTERM reads as signal 15. Landlock execs in
        // place, so it is the same; bwrap's pid 1 reports its child's death
        // by signal as exit 128+15, as a shell would.
        let (status, _) = run_sh(dir.path(), backend, "kill -TERM $$");
        let ok = status.signal() == Some(libc::SIGTERM) || status.code() == Some(128 + 15);
        assert!(ok, "{backend}: SIGTERM read as {status:?}");
    }
}

/// seccomp here denies with EPERM (an errno filter), never SIGSYS: a blocked
/// call fails like a refused permission and the process goes on, so there is
/// no signal to report. `unshare` (a new user namespace) is one such call.
#[test]
fn seccomp_denials_are_eperm_not_sigsys() {
    let dir = tempfile::tempdir().unwrap();
    if !Path::new("/usr/bin/unshare").exists() {
        eprintln!("skipped: no /usr/bin/unshare");
        return;
    }
    for backend in backends(dir.path()) {
        let (status, stderr) = run_sh(dir.path(), backend, "unshare --user true");
        assert_ne!(status.signal(), Some(libc::SIGSYS), "{backend}: SIGSYS");
        assert_ne!(status.code(), Some(128 + libc::SIGSYS), "{backend}: SIGSYS");
        assert_eq!(status.code(), Some(1), "{backend}: {status:?} {stderr}");
        assert!(
            stderr.contains("Operation not permitted"),
            "{backend}: expected EPERM, got {stderr:?}"
        );
    }
}

/// A command that cannot be executed is 126 and one not found 127 for
/// every errno, as the README promises: a path through a file (ENOTDIR)
/// and a symlink loop (ELOOP) read as 125, sandspawn's own failure.
#[test]
fn exec_failures_are_126_or_127_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let work = work_dir(dir.path());
    std::os::unix::fs::symlink("loop-b", work.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", work.join("loop-b")).unwrap();
    for backend in backends(dir.path()) {
        for (cmd, want) in [("/etc/passwd/x", 127), ("./loop-a", 126)] {
            let mut child = sandspawn(dir.path(), &["run", "--backend", backend, "--", cmd])
                .spawn()
                .expect("spawn");
            let status = wait_bounded(&mut child, Duration::from_secs(10));
            assert_eq!(status.code(), Some(want), "{backend}: {cmd}");
        }
    }
}

/// A warning on a stderr nobody reads any more (a host that closed its end)
/// panicked (`eprintln!`), and the command never ran: exit 101.
#[test]
fn a_warning_on_a_closed_stderr_does_not_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    for backend in backends(dir.path()) {
        // A socket pair (std::io::pipe is past the MSRV): a write to one
        // whose peer is gone fails with EPIPE, as on a pipe.
        let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(reader);
        let missing = dir.path().join("no-such-root");
        let status = sandspawn(
            dir.path(),
            &[
                "run",
                "--backend",
                backend,
                "--read",
                missing.to_str().unwrap(),
            ],
        )
        .args(["--", "sh", "-c", "exit 4"])
        .stderr(std::os::fd::OwnedFd::from(writer))
        .status()
        .unwrap();
        assert_eq!(status.code(), Some(4), "{backend}: {status:?}");
    }
}
