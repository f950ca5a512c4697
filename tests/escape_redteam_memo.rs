//! The trust memo (a warm plan's record of its bundles) is trusted as it
//! stands, so no sandbox may write one that a later run reads. Only the
//! cache root of the run's own environment was protected: a run whose
//! XDG_CACHE_HOME differs (a shell's, while an MCP client's servers get
//! HOME alone) under `--write ~` left `~/.cache/sandspawn` writable, and its
//! child rewrote a memo there to name `~/.ssh/id` as the bundle; the next
//! run from HOME alone granted and exported it (SSL_CERT_FILE=~/.ssh/id),
//! the key readable past the default deny. Now both default cache roots
//! (and both config directories) are kept read-only, and a memo whose
//! bundles lie outside its own directory, or are not the ones it checked,
//! is not replayed.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{stderr, PYTHON, SANDSPAWN};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Rewrites every memo under argv[1] to name argv[2] as the bundle; prints
/// OK or the errno name of the first failure.
const FORGE: &str = "import errno, glob, json, sys\n\
                     try:\n    \
                     memos = glob.glob(sys.argv[1] + '/memo-*.json')\n    \
                     assert memos\n    \
                     for m in memos:\n        \
                     d = json.load(open(m))\n        \
                     d['outcome']['bundle'] = sys.argv[2]\n        \
                     d['bundles'] = []\n        \
                     open(m, 'w').write(json.dumps(d))\n    \
                     print('OK')\n\
                     except OSError as e:\n    print(errno.errorcode[e.errno])";

/// `top/home` (HOME, with `.ssh/id`), `top/xdg` and `top/ws` (the cwd).
struct Top {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Top {
    fn new() -> Top {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["home/.ssh", "xdg", "ws"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("home/.ssh/id"), "VICTIMKEY").unwrap();
        Top { _tmp: tmp, top }
    }

    fn key(&self) -> PathBuf {
        self.top.join("home/.ssh/id")
    }

    fn trust_dir(&self) -> PathBuf {
        self.top.join("home/.cache/sandspawn/trust")
    }

    /// `sandspawn run` with HOME (and `xdg` as XDG_CACHE_HOME if asked).
    fn run(&self, backend: &str, xdg: bool, flags: &[&str], cmd: &[&str]) -> Output {
        let mut c = Command::new(SANDSPAWN);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.top.join("home"))
            .env("SSL_CERT_FILE", SYSTEM_CA)
            .current_dir(self.top.join("ws"))
            .args(["run", "--backend", backend])
            .args(flags)
            .arg("--")
            .args(cmd);
        if xdg {
            c.env("XDG_CACHE_HOME", self.top.join("xdg"));
        }
        c.output().unwrap()
    }

    /// What a later run from HOME alone finds in SSL_CERT_FILE.
    fn victim(&self, backend: &str) -> String {
        let out = self.run(
            backend,
            false,
            &["--read", "."],
            &["sh", "-c", "head -c 27 \"$SSL_CERT_FILE\""],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn backends() -> Vec<&'static str> {
    let why = |backend: &str| {
        if !Path::new(PYTHON).exists() || !Path::new(SYSTEM_CA).exists() {
            return Some(format!("{PYTHON} or {SYSTEM_CA} is missing"));
        }
        let out = Top::new().run(backend, false, &[], &["true"]);
        (!out.status.success()).then(|| {
            format!(
                "`sandspawn run --backend {backend}` does not work here: {}",
                stderr(&out)
            )
        })
    };
    support::backends(why)
}

#[test]
fn a_run_with_another_cache_home_cannot_rewrite_the_default_caches_memo() {
    for backend in backends() {
        let t = Top::new();
        assert_eq!(
            t.victim(backend),
            "-----BEGIN CERTIFICATE-----",
            "{backend}"
        );
        let home = t.top.join("home");
        let (dir, key) = (t.trust_dir(), t.key());
        let out = t.run(
            backend,
            true,
            &["--write", home.to_str().unwrap()],
            &[
                PYTHON,
                "-c",
                FORGE,
                dir.to_str().unwrap(),
                key.to_str().unwrap(),
            ],
        );
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = if backend == "bwrap" {
            "EROFS"
        } else {
            "EACCES"
        };
        assert_eq!(got, want, "{backend}: {}", stderr(&out));
        assert_eq!(
            t.victim(backend),
            "-----BEGIN CERTIFICATE-----",
            "{backend}"
        );
    }
}

/// However a memo came to name a bundle outside its directory, it is not
/// replayed: the full pass runs and the bundle is the real one.
#[test]
fn a_memo_naming_a_bundle_outside_its_directory_is_not_replayed() {
    for backend in backends() {
        let t = Top::new();
        assert_eq!(
            t.victim(backend),
            "-----BEGIN CERTIFICATE-----",
            "{backend}"
        );
        let (dir, key) = (t.trust_dir(), t.key());
        let out = Command::new(PYTHON)
            .args(["-c", FORGE, dir.to_str().unwrap(), key.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
        assert_eq!(
            t.victim(backend),
            "-----BEGIN CERTIFICATE-----",
            "{backend}"
        );
    }
}
