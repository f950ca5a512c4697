//! CA inputs inside a writable root (`--write . --ca ./corp-ca.pem`, the
//! workspace preset with SSL_CERT_FILE=./certs/proxy.pem): every later
//! run's bundle is built from them, so the child must not rewrite one,
//! rename its directory away and plant a new one, or retarget a link on
//! the way. Before, the next run's bundle held whatever the child wrote.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use serde_json::Value;

mod support;
use support::{ca_pem, scrubbed, skip, stderr, Scratch, PYTHON};

/// The errno names of each attempt the child makes: `w:PATH` appends a
/// certificate to PATH, `c:PATH` creates PATH, `m:PATH` renames PATH away.
static ATTEMPTS: LazyLock<String> = LazyLock::new(|| {
    support::attempts(&[
        ("w", "open(p, 'a').write(os.environ['EVIL'])"),
        ("c", "open(p, 'x').write(os.environ['EVIL'])"),
        ("", "os.rename(p, p + '.moved')"),
    ])
});

/// A workspace `ws` (the cwd, writable) beside `home` and `cache`.
struct Ws {
    dirs: Scratch,
}

impl Ws {
    fn new() -> Ws {
        Ws {
            dirs: Scratch::new(&["ws", "home", "cache"]),
        }
    }

    fn ws(&self) -> PathBuf {
        self.dirs.path("ws")
    }

    /// `sandspawn SUB` in `ws` with a scrubbed environment plus `env`.
    fn sandspawn(&self, env: &[(&str, &Path)], args: &[&str]) -> Command {
        let (home, cache) = (self.dirs.path("home"), self.dirs.path("cache"));
        let mut cmd = scrubbed(&home, Some(&cache), &self.ws());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The child's attempts under `--write .`.
    fn attempt(
        &self,
        backend: &str,
        env: &[(&str, &Path)],
        flags: &[&str],
        what: &[&str],
    ) -> String {
        let out = self
            .sandspawn(
                env,
                &["run", "--backend", backend, "--net", "none", "--write", "."],
            )
            .args(flags)
            .env("EVIL", ca_pem("evil"))
            .args(["--pass", "EVIL", "--", PYTHON, "-c", ATTEMPTS.as_str()])
            .args(what)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!stdout.is_empty(), "{backend}: {}", stderr(&out));
        stdout
    }

    /// (certificates per input, extras bundle) of the next run's plan.
    fn trust(&self, env: &[(&str, &Path)], flags: &[&str]) -> (Vec<u64>, Value) {
        let out = self
            .sandspawn(env, &["explain", "--json", "--write", "."])
            .args(flags)
            .args(["--", "true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let counts = (v["trust"]["inputs"].as_array().unwrap().iter())
            .map(|i| i["certificates"].as_u64().unwrap())
            .collect();
        (counts, v["trust"]["extras_bundle"].clone())
    }
}

/// Why `backend` cannot run here, if it cannot.
fn unusable(backend: &str) -> Option<String> {
    let ws = Ws::new();
    support::unusable(backend, || {
        ws.sandspawn(&[], &["run", "--backend", backend, "--", "true"])
            .output()
    })
}

fn backends() -> Vec<&'static str> {
    support::backends(unusable)
}

/// bwrap binds the input read-only (EROFS) and keeps each directory
/// between it and the writable root a mount point (EBUSY); Landlock grants
/// neither the write nor the removal there (EACCES).
fn refused(backend: &str, n: usize) -> String {
    let (write, rename) = if backend == "bwrap" {
        ("EROFS", "EBUSY")
    } else {
        ("EACCES", "EACCES")
    };
    std::iter::once(write)
        .chain(std::iter::repeat_n(rename, n - 1))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_ca_file_inside_a_writable_root_stays_read_only() {
    for backend in backends() {
        // `--ca` by a relative path, and the parent's variable likewise.
        for (var, flag) in [(None, true), (Some("SSL_CERT_FILE"), false)] {
            let ws = Ws::new();
            std::fs::create_dir(ws.ws().join("certs")).unwrap();
            std::fs::write(ws.ws().join("certs/corp-ca.pem"), ca_pem("corp")).unwrap();
            let rel = Path::new("certs/corp-ca.pem");
            let env: Vec<(&str, &Path)> = var.map(|v| (v, rel)).into_iter().collect();
            let flags: &[&str] = if flag {
                &["--ca", "./certs/corp-ca.pem"]
            } else {
                &[]
            };
            let before = ws.trust(&env, flags);
            assert_eq!(before.0, vec![1], "{backend} {var:?}");
            let got = ws.attempt(
                backend,
                &env,
                flags,
                &["w:certs/corp-ca.pem", "m:certs/corp-ca.pem", "m:certs"],
            );
            assert_eq!(got, refused(backend, 3), "{backend} {var:?}");
            assert_eq!(ws.trust(&env, flags), before, "{backend} {var:?}");
        }
    }
}

/// SSL_CERT_DIR: the directory (no new file in it) and the file a hashed
/// link in it leads to, elsewhere in the workspace.
#[test]
fn a_ca_directory_and_the_files_its_links_name_stay_read_only() {
    for backend in backends() {
        let ws = Ws::new();
        std::fs::create_dir_all(ws.ws().join("pki/hashed")).unwrap();
        std::fs::write(ws.ws().join("pki/corp.pem"), ca_pem("corp")).unwrap();
        std::os::unix::fs::symlink("../corp.pem", ws.ws().join("pki/hashed/1a2b3c4d.0")).unwrap();
        let dir = Path::new("pki/hashed");
        let env = [("SSL_CERT_DIR", dir)];
        let before = ws.trust(&env, &[]);
        assert_eq!(before.0, vec![1], "{backend}");
        let got = ws.attempt(
            backend,
            &env,
            &[],
            &["w:pki/corp.pem", "m:pki/corp.pem", "m:pki/hashed", "m:pki"],
        );
        assert_eq!(got, refused(backend, 4), "{backend}");
        let planted = ws.attempt(backend, &env, &[], &["c:pki/hashed/5e6f7a8b.0"]);
        let want = if backend == "bwrap" {
            "EROFS"
        } else {
            "EACCES"
        };
        assert_eq!(planted, want, "{backend}");
        assert_eq!(ws.trust(&env, &[]), before, "{backend}");
    }
}

/// An input that holds a key is hidden, not bound read-only: its
/// directory must still stay in place (before, bwrap let the child rename
/// it, mask and all, and create a new input in its place).
#[test]
fn the_directory_of_a_hidden_key_holding_input_stays_in_place() {
    for backend in backends() {
        let ws = Ws::new();
        std::fs::create_dir(ws.ws().join("mitm")).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap().pem();
        let input = ws.ws().join("mitm/mitmproxy-ca.pem");
        std::fs::write(&input, key.serialize_pem() + &cert).unwrap();
        let env = [("SSL_CERT_FILE", input.as_path())];
        let before = ws.trust(&env, &[]);
        assert_eq!(before.0, vec![1], "{backend}");
        let got = ws.attempt(backend, &env, &[], &["m:mitm"]);
        let want = if backend == "bwrap" {
            "EBUSY"
        } else {
            "EACCES"
        };
        assert_eq!(got, want, "{backend}");
        assert_eq!(ws.trust(&env, &[]), before, "{backend}");
    }
}

/// A link inside the writable root on the way to an input could be
/// pointed elsewhere: refused before anything runs, naming the link and
/// what to name instead.
#[test]
fn a_symlinked_ca_input_inside_a_writable_root_is_refused() {
    let ws = Ws::new();
    std::fs::create_dir(ws.ws().join("real")).unwrap();
    std::fs::write(ws.ws().join("real/corp.pem"), ca_pem("corp")).unwrap();
    std::os::unix::fs::symlink("real", ws.ws().join("certs")).unwrap();
    let out = ws
        .sandspawn(
            &[],
            &[
                "explain",
                "--write",
                ".",
                "--ca",
                "certs/corp.pem",
                "--",
                "true",
            ],
        )
        .output()
        .unwrap();
    let ws_dir = ws.ws();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "sandspawn: protected path {w}/certs: a symlink inside a writable root on the \
             way to the CA input {w}/certs/corp.pem (--ca / policy `ca`), which the sandbox \
             could point elsewhere for later runs to trust; name {w}/real/corp.pem instead; \
             refusing to start (a writable root must not redirect it)",
            w = ws_dir.display()
        )
    );
    // Read-only, the same link is no risk.
    let out = ws
        .sandspawn(&[], &["explain", "--ca", "certs/corp.pem", "--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A missing input the child could create is said, once, by name.
#[test]
fn a_missing_ca_input_inside_a_writable_root_is_warned_about() {
    let ws = Ws::new();
    let out = ws
        .sandspawn(
            &[("SSL_CERT_FILE", Path::new("proxy.pem"))],
            &["explain", "--write", ".", "--", "true"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = format!(
        "SSL_CERT_FILE {}/proxy.pem: missing inside a writable root; the sandbox could \
         create it and later runs would trust what it holds: create it, or name a CA \
         outside the --write roots",
        ws.ws().display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(&line).count(), 1, "{text}");
}

/// Under `--write /` the system roots stay read-only binds: the system
/// store and the links of a hashed /etc/ssl/certs need no protection of
/// their own (before this was settled, each of its ~150 link targets got a
/// mount).
#[test]
fn system_ca_inputs_under_a_root_writable_root_add_nothing() {
    let ws = Ws::new();
    let certs = Path::new("/etc/ssl/certs");
    if !certs.is_dir() {
        return skip("no /etc/ssl/certs here");
    }
    let out = ws
        .sandspawn(
            &[("SSL_CERT_DIR", certs)],
            &["explain", "--json", "--write", "/", "--", "true"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let protected: Vec<&Value> = (v["readable"].as_array().unwrap().iter())
        .filter(|e| e["reason"].as_str().unwrap().starts_with("protected"))
        .filter(|e| {
            let p = e["path"].as_str().unwrap();
            p.starts_with("/etc/") || p.starts_with("/usr/")
        })
        .collect();
    assert!(protected.is_empty(), "{protected:?}");
}

/// A writable root that is itself a CA input stays read-only: `--write
/// pki` with SSL_CERT_DIR=pki (or `--write .` with SSL_CERT_DIR=.). Before,
/// the grant asked for was silently read-only.
#[test]
fn a_writable_root_that_is_a_ca_input_is_warned_about() {
    let ws = Ws::new();
    std::fs::create_dir_all(ws.ws().join("pki/sub")).unwrap();
    std::fs::write(ws.ws().join("pki/corp.pem"), ca_pem("corp")).unwrap();
    let pki = ws.ws().join("pki");
    let explain = |roots: &[&str]| {
        let mut args = vec!["explain"];
        for r in roots {
            args.extend(["--write", r]);
        }
        args.extend(["--", "true"]);
        let out = ws
            .sandspawn(&[("SSL_CERT_DIR", Path::new("pki"))], &args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let line = format!(
        "--write {}: stays read-only: it is a CA input, which the trust bundle of later \
         runs is built from; name a CA outside the --write roots to write there",
        pki.display()
    );
    let text = explain(&["pki"]);
    assert_eq!(text.matches(&line).count(), 1, "{text}");
    // A root holding the input, or one deeper inside it (the deeper grant
    // decides there), is writable: nothing to say.
    for roots in [&["."][..], &[".", "pki/sub"]] {
        let text = explain(roots);
        assert!(!text.contains("stays read-only:"), "{roots:?}: {text}");
    }
}

/// `sandspawn run --write .` in `ws` on `backend`, the child trying
/// `what`: (exit status, stderr, the child's answer).
fn run_attempt(
    ws: &Ws,
    backend: &str,
    env: &[(&str, &Path)],
    what: &[&str],
) -> (Option<i32>, String, String) {
    let out = ws
        .sandspawn(
            env,
            &["run", "--backend", backend, "--net", "none", "--write", "."],
        )
        .env("EVIL", ca_pem("evil"))
        .args(["--pass", "EVIL", "--", PYTHON, "-c", ATTEMPTS.as_str()])
        .args(what)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.code(), stderr(&out).trim().to_string(), said)
}

/// A link outside the writable root (so no one inside can point it
/// elsewhere) to a missing file inside it: the child could create that
/// file and the next run would trust it. Before, the plan only said
/// "dangling symlink; ignored" and the child's file was trusted next time.
#[test]
fn a_ca_link_to_a_missing_file_inside_a_writable_root_is_refused() {
    for backend in backends() {
        let ws = Ws::new();
        let link = ws.dirs.path("home/corp.pem");
        std::os::unix::fs::symlink(ws.ws().join("proxy.pem"), &link).unwrap();
        let env = [("SSL_CERT_FILE", link.as_path())];
        let (code, err, said) = run_attempt(&ws, backend, &env, &["c:proxy.pem"]);
        assert_eq!(code, Some(125), "{backend}: {err} / {said}");
        assert_eq!(
            err,
            format!(
                "sandspawn: protected path {w}/proxy.pem: missing inside a writable root, \
                 where the CA input {l} (SSL_CERT_FILE) leads; the sandbox could create it \
                 and later runs would trust what it holds: create it, or name a CA outside \
                 the --write roots; refusing to start (a writable root must not redirect it)",
                w = ws.ws().display(),
                l = link.display()
            ),
            "{backend}"
        );
        assert_eq!(said, "", "{backend}");
        assert!(!ws.ws().join("proxy.pem").exists(), "{backend}");
        // Created, it is an input like any other, and read-only.
        std::fs::write(ws.ws().join("proxy.pem"), ca_pem("corp")).unwrap();
        let (code, err, said) = run_attempt(&ws, backend, &env, &["w:proxy.pem"]);
        assert_eq!(code, Some(0), "{backend}: {err}");
        assert_eq!(said, refused(backend, 1), "{backend}");
    }
}

/// A link loop through the writable root: the link there could be
/// replaced by a file the next run trusts. Before, the failed walk skipped
/// the check on its links.
#[test]
fn a_ca_link_loop_through_a_writable_root_is_refused() {
    for backend in backends() {
        let ws = Ws::new();
        let link = ws.dirs.path("home/corp.pem");
        std::os::unix::fs::symlink(ws.ws().join("b"), &link).unwrap();
        std::os::unix::fs::symlink(&link, ws.ws().join("b")).unwrap();
        let env = [("SSL_CERT_FILE", link.as_path())];
        let (code, err, said) = run_attempt(&ws, backend, &env, &["m:b"]);
        assert_eq!(code, Some(125), "{backend}: {err} / {said}");
        assert_eq!(
            err,
            format!(
                "sandspawn: protected path {w}/b: a symlink inside a writable root on the way \
                 to the CA input {l} (SSL_CERT_FILE), which the sandbox could point elsewhere \
                 for later runs to trust; name a CA outside the --write roots instead; \
                 refusing to start (a writable root must not redirect it)",
                w = ws.ws().display(),
                l = link.display()
            ),
            "{backend}"
        );
        assert_eq!(said, "", "{backend}");
        assert!(ws.ws().join("b").is_symlink(), "{backend}");
    }
}

/// A CA link (outside) whose target climbs with `..` out of a link inside
/// the writable root: `home/corp.pem -> ws/sub/../../home/real.pem` with
/// `ws/sub -> ws/a/b` opens `ws/home/real.pem`, which the child could
/// rewrite, and `ws/sub`, which it could point elsewhere. Before, the plan
/// read the target as written, took it for `home/real.pem` and protected
/// nothing; the child's certificate was trusted by the next run.
#[test]
fn a_ca_link_climbing_out_of_a_writable_link_is_refused() {
    for backend in backends() {
        let ws = Ws::new();
        std::fs::create_dir_all(ws.ws().join("a/b")).unwrap();
        std::fs::create_dir_all(ws.ws().join("home")).unwrap();
        std::fs::write(ws.dirs.path("home/real.pem"), ca_pem("corp")).unwrap();
        std::fs::write(ws.ws().join("home/real.pem"), ca_pem("ws")).unwrap();
        std::os::unix::fs::symlink(ws.ws().join("a/b"), ws.ws().join("sub")).unwrap();
        let link = ws.dirs.path("home/corp.pem");
        std::os::unix::fs::symlink(ws.ws().join("sub/../../home/real.pem"), &link).unwrap();
        let env = [("SSL_CERT_FILE", link.as_path())];
        let (code, err, said) = run_attempt(&ws, backend, &env, &["w:home/real.pem"]);
        assert_eq!(code, Some(125), "{backend}: {err} / {said}");
        assert_eq!(
            err,
            format!(
                "sandspawn: protected path {w}/sub: a symlink inside a writable root on the way \
                 to the CA input {l} (SSL_CERT_FILE), which the sandbox could point elsewhere \
                 for later runs to trust; name {w}/home/real.pem instead; \
                 refusing to start (a writable root must not redirect it)",
                w = ws.ws().display(),
                l = link.display()
            ),
            "{backend}"
        );
        assert_eq!(said, "", "{backend}");
    }
}
