//! `sandspawn explain --verify`: the plan's promises checked from inside
//! the sandbox, on both backends, through the real binary. The parent's
//! environment is scrubbed; the trust variables are the Boundary shape (a
//! CA certificate beside its private key).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

mod support;
use support::{backend_runs, SANDSPAWN};

/// home/.ssh (a secret), ws/.git (protected), outside/ (the proxy's CA and
/// key), all under the system temp dir so an unprivileged runner can make it.
fn layout() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for dir in ["home/.ssh", "ws/.git", "outside", "cache"] {
        std::fs::create_dir_all(r.join(dir)).unwrap();
    }
    std::fs::write(r.join("home/.ssh/id_rsa"), "-----BEGIN FAKE KEY-----\n").unwrap();
    std::fs::write(r.join("ws/.git/config"), "[core]\n").unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(r.join("outside/ca-cert.pem"), cert.pem()).unwrap();
    std::fs::write(r.join("outside/ca-key.pem"), key.serialize_pem()).unwrap();
    root
}

fn verify(r: &Path, backend: &str, extra: &[&str]) -> Output {
    Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", r.join("home"))
        .env("XDG_CACHE_HOME", r.join("cache"))
        .env("SSL_CERT_FILE", r.join("outside/ca-cert.pem"))
        .env("SSL_CERT_DIR", r.join("outside"))
        .env("NODE_EXTRA_CA_CERTS", r.join("outside/ca-cert.pem"))
        .current_dir(r.join("ws"))
        .args(["explain", "--verify", "--backend", backend, "--net", "none"])
        .args(["--preset", "workspace", "--read"])
        .arg(r.join("home"))
        .args(extra)
        .args(["--", "true"])
        .output()
        .unwrap()
}

/// The report lines after the `verify` header.
fn report(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .skip_while(|l| !l.starts_with("verify (inside the sandbox"))
        .skip(1)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_promise_holds_inside_on_both_backends() {
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let root = layout();
        let r = root.path();
        let out = verify(r, backend, &[]);
        let lines = report(&out);
        let all = lines.join("\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{backend}:\n{all}\n{stderr}");
        assert!(!all.contains("FAIL"), "{backend}:\n{all}");
        let has = |prefix: &str, path: &Path| {
            let path = path.display().to_string();
            lines
                .iter()
                .any(|l| l.starts_with(prefix) && l.contains(&format!("  {path}  (")))
        };
        // Both bundles: the combined one and the extras one.
        let bundles = lines
            .iter()
            .filter(|l| l.starts_with("  ok    certs "))
            .count();
        assert_eq!(bundles, 2, "{backend}:\n{all}");
        // The proxy's key is named only as hidden (it is a trust input's
        // neighbour that held a key: denied, never granted).
        for line in lines.iter().filter(|l| l.contains("ca-key.pem")) {
            assert!(line.starts_with("  ok    hidden "), "{backend}: {line}");
        }
        assert!(
            has("  ok    read-only ", &r.join("ws/.git")),
            "{backend}:\n{all}"
        );
        assert!(
            has("  ok    hidden ", &r.join("home/.ssh")),
            "{backend}:\n{all}"
        );
        if backend == "bwrap" {
            assert!(has("  ok    writable ", &r.join("ws")), "{backend}:\n{all}");
            assert!(
                has("  ok    readable ", &r.join("home")),
                "{backend}:\n{all}"
            );
        } else {
            // Landlock cannot deny under an allow: the workspace (which
            // holds the protected .git) and home (which holds the hidden
            // .ssh) are granted entry by entry, and the verify says what
            // that costs instead of failing.
            let ws = format!(
                "  warn  writable   preset workspace  {}  (EACCES; Landlock granted its entries one by one, the directory itself gets nothing new directly in it)",
                r.join("ws").display()
            );
            assert!(lines.contains(&ws), "{backend}: want {ws:?} in\n{all}");
            assert!(
                has("  warn  readable ", &r.join("home")),
                "{backend}:\n{all}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l == "  ok    no-inet    network none  (socket(AF_INET): EPERM)"),
            "{backend}:\n{all}"
        );
    }
}

/// A promise the kernel does not keep is reported and fails the command:
/// a read root that nobody may read (mode 000; the sandbox holds no
/// capability that would override it, even for root).
#[test]
fn a_promise_that_does_not_hold_fails_with_its_errno() {
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let root = layout();
        let r = root.path();
        let locked = r.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = verify(r, backend, &["--read", locked.to_str().unwrap()]);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
        let lines = report(&out);
        let all = lines.join("\n");
        assert_eq!(out.status.code(), Some(1), "{backend}:\n{all}");
        let want = format!("  FAIL  readable   flags  {}  (EACCES)", locked.display());
        assert!(lines.contains(&want), "{backend}: want {want:?} in\n{all}");
        assert_eq!(all.matches("FAIL").count(), 1, "{backend}:\n{all}");
    }
}

/// Promises the plan does not make are not checked, and the plan's own
/// grants inside a hidden directory are not "visible content": a grant
/// with a deny at the same path (the deny wins) failed `writable`, and a
/// hidden cache holding the trust bundles failed `hidden` on bwrap (its
/// mask shows the way to each bundle).
#[test]
fn a_deny_over_a_grant_and_grants_inside_a_hidden_dir_verify_clean() {
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let root = layout();
        let r = root.path();
        std::fs::create_dir(r.join("ws/src")).unwrap();
        std::fs::write(r.join("cache/history"), "host content\n").unwrap();
        let (src, cache) = (r.join("ws/src"), r.join("cache"));
        let (src, cache) = (src.to_str().unwrap(), cache.to_str().unwrap());
        let out = verify(
            r,
            backend,
            &["--write", src, "--deny", src, "--deny", cache],
        );
        let lines = report(&out);
        let all = lines.join("\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{backend}:\n{all}\n{stderr}");
        assert!(!all.contains("FAIL"), "{backend}:\n{all}");
        let on = |path: &str| -> Vec<&String> {
            lines
                .iter()
                .filter(|l| l.contains(&format!("  {path}  (")))
                .collect()
        };
        let want_src = if backend == "bwrap" {
            "empty"
        } else {
            "EACCES"
        };
        assert_eq!(
            on(src),
            vec![&format!("  ok    hidden     flags  {src}  ({want_src})")],
            "{backend}:\n{all}"
        );
        let want_cache = if backend == "bwrap" {
            "1 entries, only the way to what the plan puts inside it"
        } else {
            "EACCES"
        };
        assert_eq!(
            on(cache),
            vec![&format!(
                "  ok    hidden     flags  {cache}  ({want_cache})"
            )],
            "{backend}:\n{all}"
        );
    }
}

#[test]
fn verify_and_json_do_not_mix() {
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .args(["explain", "--verify", "--json", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the argument '--verify' cannot be used with '--json'"),
        "{stderr}"
    );
}

/// The reader of stdout gone once the plan is read (`explain --verify |
/// head`): the check lines printed inside panicked (exit 101 and a panic
/// message) where the plan's own lines end quietly with 141.
#[test]
fn a_reader_gone_before_the_checks_ends_quietly_with_141() {
    use std::io::BufRead;
    let root = layout();
    let r = root.path();
    for backend in ["bwrap", "landlock"] {
        if !backend_runs(backend) {
            continue;
        }
        let mut child = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", r.join("home"))
            .env("XDG_CACHE_HOME", r.join("cache"))
            .current_dir(r.join("ws"))
            .args(["explain", "--verify", "--backend", backend, "--", "true"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 && !line.starts_with("verify (") {
            line.clear();
        }
        assert!(line.starts_with("verify ("), "{backend}: no verify header");
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{backend}: {stderr}");
        assert!(!stderr.contains("panicked"), "{backend}: {stderr}");
    }
}
