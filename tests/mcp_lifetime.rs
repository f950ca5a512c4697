//! How long a server started by `sandspawn mcp` lives: as long as the
//! client process, whichever of its threads forked sandspawn, and not a
//! moment longer once the client is SIGKILLed, even when the server ignores
//! stdin EOF and SIGTERM. The client is a real Python process (its own
//! process, so it can be SIGKILLed) forking from its main thread or from a
//! thread that exits at once.

mod mcp_support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcp_support::*;

/// The client: spawns argv[3:] from the main thread or from a thread that
/// exits soon after (mode `main` or `thread`; `-ignchld`: with SIGCHLD
/// ignored, which a child inherits through exec), its stderr to argv[2], prints the child's pid, holds
/// the server's stdin open and sleeps. The thread lingers 1.5 s so that
/// sandspawn sees it as the forker (a thread gone before sandspawn looks
/// has already handed its child to the main thread, which is then safe).
const CLIENT: &str = r#"
import signal, subprocess, sys, threading, time
mode, log, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
if mode.endswith("-ignchld"):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
box = []
def spawn():
    box.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(log, "wb")))
    if mode.startswith("thread"):
        time.sleep(1.5)
if mode.startswith("thread"):
    t = threading.Thread(target=spawn)
    t.start()
    t.join()
else:
    spawn()
print(box[0].pid, flush=True)
time.sleep(600)
"#;

/// A stuck server: never reads stdin, ignores SIGTERM, one process.
const STUCK: &str =
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(1)";

fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie has released everything.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
    }
}

/// Whether a process tagged `tag` runs STUCK itself (not a launcher shell
/// that carries it as an argument, nor its fork before the exec).
fn stuck_runs(tag: &str) -> bool {
    let argv = format!("/usr/bin/python3\0-c\0{STUCK}\0");
    tagged_processes(tag).iter().any(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == argv.as_bytes())
    })
}

/// Whether `pid` has a handler for SIGTERM (SigCgt in /proc).
fn catches_sigterm(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
}

/// How long the sandbox may take to go once what ends it happened: a
/// bound for a loaded machine (a server that is never ended outlives any).
const TEARDOWN: Duration = Duration::from_secs(10);

fn lifetime(backend: &str, mode: &str) {
    lifetime_of(backend, mode, &["/usr/bin/python3", "-c", STUCK]);
}

/// A launcher whose stuck server is a grandchild: the watcher must end it
/// too (on Landlock there is no pid namespace to take it along).
const LAUNCHER: &str = "/usr/bin/python3 -c \"$1\" & wait";

fn start_client(
    host: &Host,
    backend: &str,
    mode: &str,
    tag: &str,
    flags: &[&str],
    server: &[&str],
) -> (std::process::Child, i32, std::path::PathBuf) {
    let log = host.work().join("wrapper.log");
    let mut client = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(CLIENT)
        .arg(mode)
        .arg(&log)
        .args([
            SANDSPAWN,
            "mcp",
            "--report",
            "--no-host-env",
            "--backend",
            backend,
        ])
        .args(flags)
        .args(["--set", tag, "--"])
        .args(server)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(client.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let wrapper: i32 = line.trim().parse().expect("the client printed the pid");
    (client, wrapper, log)
}

fn lifetime_of(backend: &str, mode: &str, server: &[&str]) {
    if !usable(backend) {
        return;
    }
    let host = Host::new();
    let tag = format!(
        "SANDSPAWN_TEST_TAG=lifetime-{backend}-{mode}-{}-{}",
        server.len(),
        std::process::id()
    );
    let (mut client, wrapper, log) = start_client(&host, backend, mode, &tag, &[], server);
    // Until the stuck server itself runs: a launcher's shell shows up
    // before its grandchild, which would then look like a change below.
    let started = Instant::now();
    while !stuck_runs(&tag) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive = tagged_processes(&tag);
    assert!(stuck_runs(&tag), "server never started: {}", read(&log));
    // The forking thread (if any) exited before the pid was printed; a
    // parent-death signal tied to it would have fired by now.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        tagged_processes(&tag),
        alive,
        "the server died with the client's thread: {}",
        read(&log)
    );
    // Nothing of sandspawn's own signal handling reaches the server: a
    // blocked SIGTERM would not stop it, a blocked SIGCHLD would hide its
    // children's exits.
    for pid in &alive {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        assert_eq!(blocked, "SigBlk:\t0000000000000000", "server {pid}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = client.wait();
    let killed = Instant::now();
    while killed.elapsed() < TEARDOWN && !(tagged_processes(&tag).is_empty() && gone(wrapper)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = tagged_processes(&tag);
    // Clean up before failing: nothing of a failed run may linger.
    for pid in left.iter().chain(Some(&wrapper)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        left.is_empty(),
        "server outlived its SIGKILLed client by {TEARDOWN:?}: {left:?}"
    );
    assert!(
        gone(wrapper),
        "sandspawn outlived its SIGKILLed client by {TEARDOWN:?}"
    );
    let report = read(&log);
    let expected = if mode.starts_with("main") {
        "forked by its main thread"
    } else {
        "watcher stays resident"
    };
    assert!(report.contains(expected), "{expected:?} not in: {report}");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn bwrap_client_main_thread() {
    lifetime("bwrap", "main");
}

#[test]
fn bwrap_client_short_lived_thread() {
    lifetime("bwrap", "thread");
}

#[test]
fn landlock_client_main_thread() {
    lifetime("landlock", "main");
}

#[test]
fn landlock_client_short_lived_thread() {
    lifetime("landlock", "thread");
}

/// SIGTERM to the watcher (this test's threads fork it: not the main
/// thread) reaches the sandbox: under Landlock the server's handler runs
/// and its exit code comes back; under bwrap the sandbox ends (bwrap has no
/// handler: 128 + SIGTERM) and nothing of it is left.
fn sigterm_is_passed_on(backend: &str, want: i32) {
    if !usable(backend) {
        return;
    }
    let host = Host::new();
    let tag = format!(
        "SANDSPAWN_TEST_TAG=lifetime-term-{backend}-{}",
        std::process::id()
    );
    let server = "import signal, sys, time\n\
                  signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n\
                  while True: time.sleep(1)";
    let mut wrapper = std::process::Command::new(SANDSPAWN)
        .args(["mcp", "--no-host-env", "--backend", backend, "--set", &tag])
        .args(["--", "/usr/bin/python3", "-c", server])
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Python installs its handler after start-up: a SIGTERM before it
    // kills the server (143), not its handler (7). Waited for, not slept.
    let started = Instant::now();
    while !tagged_processes(&tag).into_iter().any(catches_sigterm)
        && started.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        tagged_processes(&tag).into_iter().any(catches_sigterm),
        "{backend}: the server never set its SIGTERM handler"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(wrapper.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wrapper.wait().unwrap();
    // bwrap's exit sets off the rest (the parent-death signal of its pid 1,
    // then the kernel's teardown of the pid namespace): it takes a moment
    // after the wait returns, as for a killed client above.
    let exited = Instant::now();
    while !tagged_processes(&tag).is_empty() && exited.elapsed() < TEARDOWN {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = tagged_processes(&tag);
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(status.code(), Some(want), "{backend}");
    assert!(left.is_empty(), "{backend}: left behind {left:?}");
}

#[test]
fn sigterm_reaches_the_landlock_server() {
    sigterm_is_passed_on("landlock", 7);
}

#[test]
fn sigterm_ends_the_bwrap_sandbox() {
    sigterm_is_passed_on("bwrap", 128 + 15);
}

/// On Landlock the watcher's child may be a launcher (npx, a shell) whose
/// server is a grandchild: a SIGKILLed client ends it too.
#[test]
fn landlock_launchers_grandchild_dies_with_the_client() {
    lifetime_of(
        "landlock",
        "thread",
        &["/bin/sh", "-c", LAUNCHER, "sh", STUCK],
    );
}

/// A client that ignores SIGCHLD passes that on through exec: the watcher
/// still sees its server exit (it used to fail with "No child processes"
/// and then signal a pid that was no longer its child's).
#[test]
fn a_client_ignoring_sigchld_still_gets_a_watched_server() {
    if !usable("landlock") {
        return;
    }
    let host = Host::new();
    let tag = format!("SANDSPAWN_TEST_TAG=lifetime-ignchld-{}", std::process::id());
    let server = [
        "/usr/bin/python3",
        "-c",
        "import time, sys; time.sleep(1); sys.exit(3)",
    ];
    let args = ["--backend", "landlock"];
    let (mut client, wrapper, log) =
        start_client(&host, args[1], "thread-ignchld", &tag, &[], &server);
    let started = Instant::now();
    while !gone(wrapper) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = client.kill();
    let _ = client.wait();
    let report = read(&log);
    assert!(gone(wrapper), "the watcher outlived its server: {report}");
    assert!(report.contains("watcher stays resident"), "{report}");
    assert!(!report.contains("No child processes"), "{report}");
}

/// `--net proxy` under the watcher: the client's death ended the sandbox,
/// and then every process reparented to the watcher, the host-side bridge
/// among them, was SIGKILLed before it removed its socket directory:
/// one `/tmp/sandspawn-proxy-*` was left per server. The bridge is now
/// left to exit by itself once bwrap has, and reaped.
#[test]
fn the_proxy_bridge_directory_goes_with_a_killed_client() {
    if !usable("bwrap") {
        return;
    }
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let host = Host::new();
    let tag = format!("SANDSPAWN_TEST_TAG=bridge-{}", std::process::id());
    let flags = ["--net", "proxy", "--proxy", &url];
    let server = ["sleep", "300"];
    let (mut client, wrapper, log) = start_client(&host, "bwrap", "thread", &tag, &flags, &server);
    // The bridge: `sandspawn __proxy-bridge FD PID DIR HOST PORT …`.
    let bridge_dir = || {
        std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            (args.get(1) == Some(&&b"__proxy-bridge"[..]) && args.get(6) == Some(&port.as_bytes()))
                .then(|| std::path::PathBuf::from(String::from_utf8_lossy(args[4]).into_owned()))
        })
    };
    let started = Instant::now();
    let mut dir = None;
    while dir.is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        dir = bridge_dir();
    }
    let dir = dir.unwrap_or_else(|| panic!("no bridge: {}", read(&log)));
    assert!(dir.is_dir(), "{}", dir.display());
    // The forking thread has exited: the watcher is the one keeping it.
    let asked = Instant::now();
    while !read(&log).contains("watcher stays resident") && asked.elapsed() < TEARDOWN {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        read(&log).contains("watcher stays resident"),
        "{}",
        read(&log)
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(client.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = client.wait();
    let killed = Instant::now();
    while killed.elapsed() < TEARDOWN && (dir.exists() || !gone(wrapper)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = dir.exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(gone(wrapper), "sandspawn outlived its SIGKILLed client");
    assert!(!left, "{} outlived the sandbox", dir.display());
}

/// The watcher's children in state Z (not yet reaped), from /proc.
fn zombie_children(pid: i32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|c| gone(c.parse().unwrap_or(0)) && Path::new(&format!("/proc/{c}")).exists())
        .collect()
}

/// The watcher is a subreaper: what the server leaves running in the
/// background comes to it, and once that exits it was never reaped (the
/// watcher waited for its own child only), so a Landlock server starting
/// background jobs filled the process table with zombies for as long as
/// the client lived.
#[test]
fn the_watcher_reaps_the_orphans_it_adopts() {
    if !usable("landlock") {
        return;
    }
    let host = Host::new();
    let tag = format!("SANDSPAWN_TEST_TAG=orphans-{}", std::process::id());
    let script = "for i in 1 2 3 4 5 6 7 8; do (sleep 0.1 &); done; exec sleep 600";
    let (mut client, watcher, log) = start_client(
        &host,
        "landlock",
        "thread",
        &tag,
        &[],
        &["/bin/sh", "-c", script],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut zombies = zombie_children(watcher);
    while !zombies.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        zombies = zombie_children(watcher);
    }
    let _ = client.kill();
    let _ = client.wait();
    let ended = Instant::now();
    while !(tagged_processes(&tag).is_empty() && gone(watcher))
        && ended.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in tagged_processes(&tag).iter().chain(Some(&watcher)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        read(&log).contains("watcher stays resident"),
        "{}",
        read(&log)
    );
    assert_eq!(zombies, Vec::<String>::new(), "zombies of the watcher");
}
