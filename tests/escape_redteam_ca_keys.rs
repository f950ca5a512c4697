//! A sandbox that can write the directory of a CA file input must not be
//! able to make the next run's scan for the keys beside it stop short:
//! the scan is bounded (entries, bytes per file and per directory), and
//! what it does not read is hidden, file by file (a directory it cannot
//! list whole, as one), never left readable with a warning. Before, the
//! child of a workspace-preset run with SSL_CERT_FILE=./certs/ca-cert.pem
//! (the key hidden, `certs` writable) wrote five 4 MB files named to sort
//! before `ca-key.pem`; the next run with the same policy read the key.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{stderr, PYTHON, SANDSPAWN};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Per argument PATH: OK when it can be read, else the errno name.
const PROBE: &str = "import errno, sys\n\
                     def t(p):\n    try:\n        open(p).read()\n        return 'OK'\n    \
                     except OSError as e:\n        return errno.errorcode[e.errno]\n\
                     print(' '.join(t(a) for a in sys.argv[1:]))";

/// `top/ws` (the cwd) holding `certs/ca-cert.pem` and its key
/// `certs/ca-key.pem`, beside `home`.
struct Ws {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["ws/certs", "home"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "redteam");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let certs = top.join("ws/certs");
        std::fs::write(certs.join("ca-cert.pem"), cert.pem()).unwrap();
        std::fs::write(certs.join("ca-key.pem"), key.serialize_pem()).unwrap();
        Ws { _tmp: tmp, top }
    }

    fn ws(&self) -> PathBuf {
        self.top.join("ws")
    }

    /// `sandspawn run --backend B --preset workspace` with
    /// SSL_CERT_FILE=./certs/ca-cert.pem, running `cmd`.
    fn run(&self, backend: &str, cmd: &[&str]) -> Output {
        Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.top.join("home"))
            .env("SSL_CERT_FILE", "./certs/ca-cert.pem")
            .current_dir(self.ws())
            .args(["run", "--backend", backend, "--preset", "workspace", "--"])
            .args(cmd)
            .output()
            .unwrap()
    }
}

fn backends() -> Vec<&'static str> {
    support::backends(|backend| {
        support::unusable(backend, || Ok(Ws::new().run(backend, &["true"])))
    })
}

/// The first run's child fills `certs` (bwrap: the directory is writable
/// beside the hidden key; Landlock grants it entry by entry, so there the
/// filling is done as a run under another policy would), then the next
/// run with the same policy probes the key: `want` per backend, and the
/// warning `line(certs)` among sandspawn's.
fn filled_then_probed(backend: &str, fill: &str, want: [&str; 2], line: impl Fn(&Path) -> String) {
    let ws = Ws::new();
    let filler = if backend == "bwrap" {
        ws.run(backend, &[PYTHON, "-c", fill])
    } else {
        Command::new(PYTHON)
            .args(["-c", fill])
            .current_dir(ws.ws())
            .output()
            .unwrap()
    };
    assert!(filler.status.success(), "{backend}: {}", stderr(&filler));
    let out = ws.run(backend, &[PYTHON, "-c", PROBE, "certs/ca-key.pem"]);
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = stderr(&out);
    let want = if backend == "bwrap" { want[0] } else { want[1] };
    assert_eq!(got, want, "{backend}: {err}");
    let warning = format!("sandspawn: warning: {}", line(&ws.ws().join("certs")));
    assert!(err.lines().any(|l| l == warning), "{backend}: {err}");
}

/// Five files of 4,000,000 bytes sorting before `ca-key.pem`: each too big
/// to be a key file, hidden unread, and the key is read and hidden.
#[test]
fn big_files_before_the_key_do_not_stop_the_scan() {
    let fill = "for i in range(5):\n    open(f'certs/a{i}', 'wb').write(b'0' * 4000000)";
    for backend in backends() {
        filled_then_probed(backend, fill, ["EACCES", "EACCES"], |certs| {
            format!(
                "{}: private key beside CA input {} (SSL_CERT_FILE); hidden in the sandbox \
                 (move the key out of the CA's directory to silence this)",
                certs.join("ca-key.pem").display(),
                certs.join("ca-cert.pem").display()
            )
        });
    }
}

/// Seventeen files of 1,000,000 bytes sorting before `ca-key.pem` use up
/// the 16 MiB read per directory: the key, unread, is hidden with them.
#[test]
fn a_ca_directory_filled_past_the_byte_budget_hides_what_was_not_read() {
    let fill = "for i in range(17):\n    open(f'certs/a{i:02}', 'wb').write(b'0' * 1000000)";
    for backend in backends() {
        filled_then_probed(backend, fill, ["EACCES", "EACCES"], |certs| {
            format!(
                "SSL_CERT_FILE {}: 2 files of its directory {} past the 16777216 bytes \
                 sandspawn reads there for private keys (from {}) are hidden in the sandbox, \
                 unread; keep the CA in a directory of its own",
                certs.join("ca-cert.pem").display(),
                certs.display(),
                certs.join("a16").display()
            )
        });
    }
}

/// 10,001 entries: the listing stops at 10,000, wherever the key falls in
/// it, and the directory (not the workspace) is hidden whole.
#[test]
fn a_ca_directory_filled_past_the_entry_bound_is_hidden() {
    let fill = "for i in range(10001):\n    open(f'certs/f{i}', 'wb').close()";
    // bwrap masks the directory with an empty one; Landlock grants nothing.
    for backend in backends() {
        filled_then_probed(backend, fill, ["ENOENT", "EACCES"], |certs| {
            format!(
                "SSL_CERT_FILE {}: its directory {} has more than 10000 entries, over the \
                 limit for a directory beside a CA, past what sandspawn looks through for \
                 private keys, so the directory is hidden in the sandbox; keep the CA in a \
                 directory of its own",
                certs.join("ca-cert.pem").display(),
                certs.display()
            )
        });
    }
}
