//! A root written through a link planted into a CA directory that
//! sandspawn hides itself: the key beside a CA file input (the scan's
//! deny), or the whole directory when the scan cannot look through it.
//! Those denies were added after the check for roots leading through a
//! link into a deny had run, so with SSL_CERT_FILE=/top/rvk/proxy/ca.pem,
//! 10 001 files beside it and `ws/out -> /top/rvk/proxy/ca-key.pem` planted
//! by an earlier workspace run, `--read /top/rvk --read out` printed the
//! key through `out` on both backends. Now every deny, whatever its
//! source, is seen by that check: `out` is hidden under both names, with
//! its warning.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;

use std::path::Path;
use std::process::Output;

use support::{assert_said, attempts, backends, stderr, unusable, Scratch, PYTHON};

/// `top/rvk/proxy/{ca.pem,ca-key.pem}` (with `fill` empty files beside
/// them), `top/ws` (the cwd) holding `out -> the key`, and `top/home`.
fn scratch(fill: usize) -> Scratch {
    let s = Scratch::new(&["rvk/proxy", "ws", "home"]);
    let dir = s.path("rvk/proxy");
    std::fs::write(dir.join("ca.pem"), support::ca_pem("review")).unwrap();
    std::fs::write(
        dir.join("ca-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nSECRET\n",
    )
    .unwrap();
    for i in 0..fill {
        std::fs::write(dir.join(format!("f{i:04}")), "").unwrap();
    }
    std::os::unix::fs::symlink(dir.join("ca-key.pem"), s.path("ws/out")).unwrap();
    s
}

fn run(s: &Scratch, backend: &str, flags: &[&str], cmd: &[&str]) -> Output {
    support::scrubbed(&s.path("home"), None, &s.path("ws"))
        .env("SSL_CERT_FILE", s.path("rvk/proxy/ca.pem"))
        .args(["run", "--backend", backend, "--preset", "workspace"])
        .args(flags)
        .arg("--")
        .args(cmd)
        .output()
        .unwrap()
}

fn usable() -> Vec<&'static str> {
    backends(|b| unusable(b, || Ok(run(&scratch(0), b, &[], &["true"]))))
}

fn read_probe() -> String {
    attempts(&[("r", "open(p).read()")])
}

fn warning(s: &Scratch, deny: &Path, origin: &str) -> String {
    let key = s.path("rvk/proxy/ca-key.pem");
    format!(
        "sandspawn: warning: {}: a read root (flags) that leads through a symlink to {}, \
         inside {} which is hidden ({origin}); hidden in the sandbox (a link where a sandbox \
         could write may have been left there by it): grant {} by that name if it is meant",
        s.path("ws/out").display(),
        key.display(),
        deny.display(),
        key.display()
    )
}

/// The scan stops past 10 000 entries: the CA's directory is hidden whole, and
/// `out` leading into it is hidden too.
#[test]
fn a_link_into_a_ca_directory_hidden_whole_stays_hidden() {
    for backend in usable() {
        let s = scratch(10_001);
        let rvk = s.path("rvk");
        let key = s.path("rvk/proxy/ca-key.pem");
        let out = run(
            &s,
            backend,
            &["--read", rvk.to_str().unwrap(), "--read", "out"],
            &[
                PYTHON,
                "-c",
                &read_probe(),
                "r:out",
                &format!("r:{}", key.display()),
            ],
        );
        // Both names of the key are denied (bwrap masks a file unreadable;
        // Landlock grants nothing), the directory too.
        assert_said(&out, "EACCES EACCES", backend);
        let dir = s.path("rvk/proxy");
        let origin = format!(
            "directory of CA input {} (SSL_CERT_FILE), past the bounds of the private-key scan",
            dir.join("ca.pem").display()
        );
        let line = warning(&s, &dir, &origin);
        assert!(
            stderr(&out).lines().any(|l| l == line),
            "{backend}: want\n{line}\ngot\n{}",
            stderr(&out)
        );
    }
}

/// A small directory: the key alone is hidden, and `out` leading to it
/// exactly is hidden under both names.
#[test]
fn a_link_to_a_key_hidden_beside_a_ca_stays_hidden() {
    for backend in usable() {
        let s = scratch(0);
        let rvk = s.path("rvk");
        let key = s.path("rvk/proxy/ca-key.pem");
        let out = run(
            &s,
            backend,
            &["--read", rvk.to_str().unwrap(), "--read", "out"],
            &[
                PYTHON,
                "-c",
                &read_probe(),
                "r:out",
                &format!("r:{}", key.display()),
            ],
        );
        assert_said(&out, "EACCES EACCES", backend);
    }
}
