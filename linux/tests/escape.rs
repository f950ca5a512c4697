//! Escape suite: each probe runs in a real sandbox (bwrap, then Landlock) and
//! must be refused with the *specific* errno. Skips say why; with
//! `SANDSPAWN_MUST_WORK=1` a skip is a failure.

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const HELPER: &str = env!("CARGO_BIN_EXE_sandspawn-linux-sandbox");
const PROBE: &str = include_str!("probe.py");
const PYTHON: &str = "/usr/bin/python3";

#[path = "common/probes.rs"]
mod probes;
use probes::{Probe, PROBES};

/// Print why a test is skipped; fail instead when the runner must have it.
fn skip(reason: &str) {
    if std::env::var_os("SANDSPAWN_MUST_WORK").is_some_and(|v| v == "1") {
        panic!("SANDSPAWN_MUST_WORK=1 but skipping: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// The host side: a fake home with a secret, a workspace, and listeners.
struct Fixture {
    root: PathBuf,
    tcp: TcpListener,
    udp: UdpSocket,
    _abstract: UnixListener,
    _pathname: UnixListener,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("escape-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["home/.ssh", "ws/.git", "ws/src", "outside"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("home/.ssh/id_rsa"), "-----BEGIN FAKE KEY-----\n").unwrap();
        std::fs::write(root.join("home/notes.txt"), "notes\n").unwrap();
        std::fs::write(root.join("outside/private.txt"), "private\n").unwrap();
        std::fs::write(root.join("ws/.git/config"), "[core]\n").unwrap();
        std::os::unix::fs::symlink(root.join("home/.ssh/id_rsa"), root.join("ws/planted-link"))
            .unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let name = format!("sandspawn-escape-{}", tcp.local_addr().unwrap().port());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        Fixture {
            tcp,
            udp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            _abstract: UnixListener::bind_addr(&addr).unwrap(),
            _pathname: UnixListener::bind(root.join("outside/host.sock")).unwrap(),
            root,
        }
    }

    /// The spec flags of the debug runner: system roots, the home read-only
    /// with `.ssh` masked, the workspace writable with `.git` protected.
    fn spec_args(&self, backend: &str) -> Vec<String> {
        let r = self.root.display();
        let mut a: Vec<String> = vec![
            "--backend".into(),
            backend.into(),
            "--net".into(),
            "none".into(),
        ];
        for (t, p) in [
            ("usr/bin", "/bin"),
            ("usr/lib", "/lib"),
            ("usr/lib64", "/lib64"),
            ("usr/sbin", "/sbin"),
        ] {
            a.extend(["--symlink".into(), t.into(), p.into()]);
        }
        for m in [
            "--ro /usr".to_string(),
            "--ro /etc".into(),
            format!("--ro {r}/home"),
            format!("--mask-dir {r}/home/.ssh"),
            format!("--rw {r}/ws"),
            format!("--ro {r}/ws/.git"),
            format!("--cwd {r}/ws"),
            "--env PATH=/usr/bin:/bin".into(),
        ] {
            a.extend(m.split(' ').map(String::from));
        }
        a
    }

    fn run_probe(&self, backend: &str, probe: &str) -> String {
        let out = Command::new(HELPER)
            .arg("run")
            .args(self.spec_args(backend))
            .args(["--", PYTHON, "-c", PROBE, probe])
            .arg(&self.root)
            .arg(std::process::id().to_string())
            .arg(self.tcp.local_addr().unwrap().port().to_string())
            .arg(self.udp.local_addr().unwrap().port().to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if stdout.is_empty() {
            use std::os::unix::process::ExitStatusExt;
            match out.status.signal() {
                Some(31) => "SIGSYS".into(),
                _ => format!(
                    "NOTHING({:?}: {})",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }
        } else {
            stdout
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn usable(backend: &str) -> Result<(), String> {
    if !Path::new(PYTHON).exists() {
        return Err(format!("{PYTHON} is missing (the probes are Python)"));
    }
    let out = Command::new(HELPER)
        .args(["probe", "--backend", "auto", "--", "true"])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let landlock_ok = text
        .lines()
        .any(|l| l.contains("landlock-fs") && !l.contains("absent"));
    match backend {
        "bwrap" if !text.contains("trial sandbox") => Err(format!("bwrap unusable here: {text}")),
        "landlock" if !landlock_ok => Err(format!("Landlock unavailable: {text}")),
        _ => Ok(()),
    }
}

fn run_suite(backend: &str, expect: impl Fn(&Probe) -> &'static str) {
    if let Err(reason) = usable(backend) {
        return skip(&reason);
    }
    let fx = Fixture::new(backend);
    let mut failures = Vec::new();
    for probe in PROBES {
        let got = fx.run_probe(backend, probe.0);
        let want = expect(probe);
        let want = if want == "KNOWN_GAP" { "OK" } else { want };
        if got != want {
            failures.push(format!("{}: want {want}, got {got}", probe.0));
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{backend}: {} probes, {} failed",
        PROBES.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{backend} escapes:\n{}",
        failures.join("\n")
    );
}

#[test]
fn escape_bwrap() {
    run_suite("bwrap", |p| p.1);
}

#[test]
fn escape_landlock() {
    run_suite("landlock", |p| p.2);
}

/// Canary: a probe that reads the secret must fail the suite when told to
/// expect success, so a harness that swallows failures cannot go green.
#[test]
#[should_panic(expected = "escapes")]
fn canary_failures_still_fail() {
    if usable("bwrap").is_err() {
        panic!("escapes: (bwrap unusable; the canary fails on purpose)");
    }
    let fx = Fixture::new("canary");
    let got = fx.run_probe("bwrap", "read_secret");
    assert_eq!(got, "OK", "escapes: the secret must not be readable");
}
