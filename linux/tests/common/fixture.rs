//! The host side of the escape suites: a fake home with a secret, a git
//! workspace, a directory outside every root, and listeners the sandbox
//! must not reach. Shared by linux/tests/escape.rs (helper driven directly)
//! and tests/escape_cli.rs (through `sandspawn run`).

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use super::probes::{Probe, PROBES};

/// The interpreter of probe.py.
pub const PYTHON: &str = "/usr/bin/python3";

/// Print why a test is skipped; fail instead when the runner must have it.
pub fn skip(reason: &str) {
    if std::env::var_os("SANDSPAWN_MUST_WORK").is_some_and(|v| v == "1") {
        panic!("SANDSPAWN_MUST_WORK=1 but skipping: {reason}");
    }
    eprintln!("SKIP: {reason}");
}

/// Files and listeners of one suite run; removed on drop.
pub struct Fixture {
    pub root: PathBuf,
    pub tcp: TcpListener,
    pub udp: UdpSocket,
    _abstract: UnixListener,
    _pathname: UnixListener,
}

impl Fixture {
    /// Lay the fixture out under `base`.
    pub fn new(base: &Path, tag: &str) -> Fixture {
        let root = base.join(format!("escape-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["home/.ssh", "ws/.git", "ws/src", "outside", "cache"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("home/.ssh/id_rsa"), "-----BEGIN FAKE KEY-----\n").unwrap();
        std::fs::write(root.join("home/notes.txt"), "notes\n").unwrap();
        std::fs::write(root.join("outside/private.txt"), "private\n").unwrap();
        std::fs::write(root.join("ws/.git/config"), "[core]\n").unwrap();
        std::os::unix::fs::symlink(root.join("home/.ssh/id_rsa"), root.join("ws/planted-link"))
            .unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        // probe.py connects to this abstract name.
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

    /// The arguments probe.py takes after the probe name.
    pub fn probe_args(&self) -> Vec<String> {
        vec![
            self.root.display().to_string(),
            std::process::id().to_string(),
            self.tcp.local_addr().unwrap().port().to_string(),
            self.udp.local_addr().unwrap().port().to_string(),
        ]
    }

    /// Run every probe with `run` and assert each answer; `expect` picks the
    /// backend's column. `label` names the run in the summary line.
    pub fn assert_all(
        &self,
        label: &str,
        expect: impl Fn(&Probe) -> &'static str,
        run: impl Fn(&str) -> String,
    ) {
        let mut failures = Vec::new();
        for probe in PROBES {
            let got = run(probe.0);
            let want = match expect(probe) {
                "KNOWN_GAP" => "OK",
                w => w,
            };
            if got != want {
                failures.push(format!("{}: want {want}, got {got}", probe.0));
            }
        }
        let _ = writeln!(
            std::io::stderr(),
            "{label}: {} probes, {} failed",
            PROBES.len(),
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "{label} escapes:\n{}",
            failures.join("\n")
        );
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
