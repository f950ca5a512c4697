//! `sandspawn explain` and `sandspawn env` end to end, through the real
//! binary, with the parent's environment scrubbed first (this machine
//! exports a dozen CA variables pointing at the system bundle; a test that
//! kept them would pass for the wrong reason).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use serde_json::Value;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

/// A proxy's config directory as Boundary lays it out: the CA certificate
/// and its private key side by side.
struct ProxyDir {
    dir: tempfile::TempDir,
    key_der: Vec<u8>,
}

fn proxy_dir() -> ProxyDir {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sandspawn test proxy CA");
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("ca-cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("ca-key.pem"), key.serialize_pem()).unwrap();
    ProxyDir {
        key_der: key.serialize_der(),
        dir,
    }
}

/// The binary with a clean environment: only what the test sets.
fn sandspawn(home: &Path, vars: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("SECRET_CANARY", "must-not-pass")
        .current_dir(home)
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn env_value<'a>(plan: &'a Value, name: &str) -> Option<&'a str> {
    plan["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .and_then(|v| v["value"].as_str())
}

#[test]
fn boundary_directory_with_key_exposes_only_sanitised_bundles() {
    let proxy = proxy_dir();
    let home = tempfile::tempdir().unwrap();
    let cert = proxy.dir.path().join("ca-cert.pem");
    let out = sandspawn(
        home.path(),
        &[("SSL_CERT_FILE", &cert), ("SSL_CERT_DIR", proxy.dir.path())],
        &["explain", "--json", "--", "true"],
    );
    let plan = json_of(&out);

    let bundle = plan["trust"]["bundle"]
        .as_str()
        .expect("a combined bundle")
        .to_string();
    let extras = plan["trust"]["extras_bundle"]
        .as_str()
        .expect("an extras bundle")
        .to_string();
    assert!(
        bundle.starts_with(home.path().join("cache/sandspawn/trust").to_str().unwrap()),
        "{bundle}"
    );
    for replace in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "PIP_CERT",
    ] {
        assert_eq!(
            env_value(&plan, replace),
            Some(bundle.as_str()),
            "{replace}"
        );
    }
    assert_eq!(
        env_value(&plan, "NODE_EXTRA_CA_CERTS"),
        Some(extras.as_str())
    );
    assert_eq!(
        env_value(&plan, "SSL_CERT_DIR"),
        None,
        "folded into the bundle"
    );
    assert_eq!(env_value(&plan, "SECRET_CANARY"), None);

    // The bundle files are readable, the proxy's directory is not.
    let readable: Vec<&str> = plan["readable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(
        readable.contains(&bundle.as_str()) && readable.contains(&extras.as_str()),
        "{readable:?}"
    );
    // No host grant covers the proxy's directory (a private tmpfs such as
    // /tmp shows none of the host's files).
    let proxy_path = proxy.dir.path();
    let host_grants: Vec<&str> = plan["readable"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["access"] == "read" || r["access"] == "write")
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(
        host_grants.iter().all(|g| !proxy_path.starts_with(g)),
        "proxy dir exposed: {host_grants:?}"
    );
    assert_eq!(plan["violations"], Value::Array(vec![]));

    // Zero key bytes in any bundle: neither the DER nor its base64 text.
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(&proxy.key_der);
    for path in [&bundle, &extras] {
        let bytes = std::fs::read(path).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{path}");
        assert!(
            !text.replace('\n', "").contains(&key_b64[8..72]),
            "key base64 in {path}"
        );
        assert!(
            proxy
                .key_der
                .windows(16)
                .all(|w| !bytes.windows(16).any(|b| b == w)),
            "key DER in {path}"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o444, "{path}");
    }
    assert_eq!(
        std::fs::read_to_string(&extras)
            .unwrap()
            .matches("BEGIN CERTIFICATE")
            .count(),
        1
    );

    // The drop is reported, naming the key file.
    let inputs = plan["trust"]["inputs"].as_array().unwrap();
    let drops: Vec<&Value> = inputs
        .iter()
        .flat_map(|i| i["dropped"].as_array().unwrap())
        .collect();
    assert_eq!(drops.len(), 1, "{inputs:?}");
    assert_eq!(
        drops[0]["file"],
        proxy.dir.path().join("ca-key.pem").to_str().unwrap()
    );
    assert_eq!(drops[0]["reason"]["private_key"]["label"], "PRIVATE KEY");
}

#[test]
fn only_node_extra_ca_certs_still_exports_the_whole_family() {
    // The Codex-module shape: the parent has only NODE_EXTRA_CA_CERTS.
    let proxy = proxy_dir();
    let home = tempfile::tempdir().unwrap();
    let cert = proxy.dir.path().join("ca-cert.pem");
    let plan = json_of(&sandspawn(
        home.path(),
        &[("NODE_EXTRA_CA_CERTS", &cert)],
        &["explain", "--json", "--", "node"],
    ));
    let bundle = plan["trust"]["bundle"].as_str().unwrap();
    assert_eq!(env_value(&plan, "GIT_SSL_CAINFO"), Some(bundle));
    assert_eq!(env_value(&plan, "REQUESTS_CA_BUNDLE"), Some(bundle));
    let combined = std::fs::read_to_string(bundle).unwrap();
    assert!(
        combined.matches("BEGIN CERTIFICATE").count() > 1,
        "system roots merged in"
    );
}

#[test]
fn env_prints_curated_variables_with_secrets_masked() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .env("PATH", "/usr/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("HTTPS_PROXY", "http://alice:hunter2@proxy.corp:3128")
        .env("SECRET_CANARY", "x")
        .args([
            "env",
            "--net",
            "full",
            "--set",
            "API_TOKEN=abc",
            "--set",
            "MODE=fast",
        ]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"HTTPS_PROXY=http://***@proxy.corp:3128"),
        "{text}"
    );
    assert!(
        lines.contains(&"https_proxy=http://***@proxy.corp:3128"),
        "{text}"
    );
    assert!(lines.contains(&"NODE_USE_ENV_PROXY=1"), "{text}");
    assert!(lines.contains(&"API_TOKEN=***"), "{text}");
    assert!(lines.contains(&"MODE=fast"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("SECRET_CANARY"),
        "{text}"
    );
}

fn stderr_line(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(125),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = err.lines().filter(|l| !l.contains("warning:")).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    lines[0].to_string()
}

#[test]
fn bad_input_gets_one_clear_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    let out = sandspawn(h, &[], &["env", "--set", "NOEQUALS"]);
    assert!(stderr_line(&out).contains("--set expects NAME=VALUE, got `NOEQUALS`"));

    let policy = h.join("p.toml");
    std::fs::write(&policy, "read = []\nnetwork = \"none\"\n").unwrap();
    let out = sandspawn(h, &[], &["env", "--policy", policy.to_str().unwrap()]);
    let line = stderr_line(&out);
    assert!(
        line.contains("line 2, column 1") && line.contains("unknown field `network`"),
        "{line}"
    );

    let out = sandspawn(h, &[], &["env", "--policy", "/nonexistent/p.toml"]);
    assert!(stderr_line(&out).contains("/nonexistent/p.toml"));

    let out = sandspawn(h, &[], &["env", "--ca", "/nonexistent/ca.pem"]);
    assert!(stderr_line(&out).contains("/nonexistent/ca.pem"));

    let big = h.join("big.pem");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let out = sandspawn(h, &[("SSL_CERT_FILE", &big)], &["env"]);
    let line = stderr_line(&out);
    assert!(
        line.contains("SSL_CERT_FILE") && line.contains("big.pem"),
        "{line}"
    );
}

#[test]
fn bad_trust_variables_warn_and_name_the_variable() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let proxy = proxy_dir();
    let key = proxy.dir.path().join("ca-key.pem");
    let fifo = h.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let loop_a = h.join("loop-a");
    std::os::unix::fs::symlink(h.join("loop-b"), &loop_a).unwrap();
    std::os::unix::fs::symlink(&loop_a, h.join("loop-b")).unwrap();
    let cases: Vec<(&str, PathBuf)> = vec![
        ("SSL_CERT_FILE", h.join("missing.pem")),
        // A directory where only a file is read (requests and pip take one).
        ("AWS_CA_BUNDLE", proxy.dir.path().to_path_buf()),
        ("NODE_EXTRA_CA_CERTS", key.clone()),
        ("CURL_CA_BUNDLE", fifo),
        ("GIT_SSL_CAINFO", loop_a),
    ];
    let mut vars: Vec<(&str, &Path)> = cases.iter().map(|(k, v)| (*k, v.as_path())).collect();
    vars.push(("PIP_CERT", Path::new("")));
    let out = sandspawn(h, &vars, &["explain", "--json", "--", "true"]);
    let plan = json_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    for (name, path) in &cases {
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(name) && w.contains(path.to_str().unwrap())),
            "no warning naming {name} and {}: {warnings:?} {stderr}",
            path.display()
        );
    }
    assert!(
        warnings.contains(&"PIP_CERT: set but empty; ignored"),
        "{warnings:?}"
    );
    // Nothing readable came of them, and no key byte reached a bundle.
    let bundle = plan["trust"]["bundle"].as_str().unwrap();
    assert!(!std::fs::read_to_string(bundle)
        .unwrap()
        .contains("PRIVATE KEY"));
    assert_eq!(plan["trust"]["extras_bundle"], Value::Null);
}

#[test]
fn a_ca_file_changed_after_planning_does_not_reach_the_child() {
    // The child reads the sanitised copy made when the plan was built: a CA
    // file rewritten while the child runs changes nothing it trusts.
    let first = proxy_dir();
    let second = proxy_dir();
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("ca.pem");
    std::fs::copy(first.dir.path().join("ca-cert.pem"), &ca).unwrap();
    let mut child = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .current_dir(home.path())
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "echo ready; read _ ; cat \"$NODE_EXTRA_CA_CERTS\"",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the child runs, the plan was built: now swap the file.
    use std::io::{BufRead, Read, Write};
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    std::fs::copy(second.dir.path().join("ca-cert.pem"), &ca).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut seen = String::new();
    stdout.read_to_string(&mut seen).unwrap();
    assert!(child.wait().unwrap().success());
    let first_pem = std::fs::read_to_string(first.dir.path().join("ca-cert.pem")).unwrap();
    let second_pem = std::fs::read_to_string(second.dir.path().join("ca-cert.pem")).unwrap();
    let body = |pem: &str| pem.lines().nth(1).unwrap().to_string();
    assert!(
        seen.contains(&body(&first_pem)),
        "the planned certificate: {seen}"
    );
    assert!(
        !seen.contains(&body(&second_pem)),
        "a later rewrite leaked in: {seen}"
    );
}

/// `sandspawn env | head -1`: a reader that stops early is not a failure of
/// sandspawn. It ends as a filter killed by SIGPIPE would (141), without
/// "writing output: Broken pipe" on stderr and without 125.
#[test]
fn a_closed_stdout_ends_quietly_like_sigpipe() {
    let home = tempfile::tempdir().unwrap();
    for args in [&["env"][..], &["explain", "--", "true"][..]] {
        // The read end is closed before sandspawn writes a byte.
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home.path())
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            // Not from HOME, which presets leave out with a warning line of its own.
            .current_dir("/usr")
            .args(args)
            .stdout(std::process::Stdio::from(write))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
        assert_eq!(out.status.code(), Some(141), "{args:?}");
    }
}

/// A cache directory that cannot be made (HOME=/nonexistent for a system
/// user, or a file in the way) names the path and says what to do.
#[test]
fn an_unusable_cache_directory_says_how_to_choose_another() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("file");
    std::fs::write(&file, "").unwrap();
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", &file)
        .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
        .current_dir(home.path())
        .args(["env"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "sandspawn: creating cache directory {}/sandspawn/trust: Not a directory (os error 20); \
             set XDG_CACHE_HOME to a directory you own\n",
            file.display()
        )
    );
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn explain_names_each_dropped_block_in_words() {
    // A combined key + certificate file (mitmproxy's mitmproxy-ca.pem) and
    // a cut-off block: the human plan says what each dropped block was,
    // not the program's internal names.
    let p = proxy_dir();
    let d = p.dir.path();
    let cert = std::fs::read_to_string(d.join("ca-cert.pem")).unwrap();
    let key = std::fs::read_to_string(d.join("ca-key.pem")).unwrap();
    let combined = d.join("combined.pem");
    std::fs::write(
        &combined,
        format!("{key}{cert}-----BEGIN CERTIFICATE-----\nMIIB\n"),
    )
    .unwrap();
    let out = sandspawn(
        d,
        &[("SSL_CERT_FILE", &combined)],
        &["explain", "--", "true"],
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let at = |block: usize| format!("dropped {} block {block}: ", combined.display());
    assert!(
        text.contains(&format!("{}a private key (PRIVATE KEY)", at(1))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}a certificate block with no END line", at(3))),
        "{text}"
    );
    assert!(!text.contains("PrivateKey {"), "{text}");
}

#[test]
fn a_trust_input_holding_a_key_is_hidden_even_inside_a_granted_directory() {
    // mitmproxy's mitmproxy-ca.pem holds the key and the certificate; run
    // from its directory (the readonly preset grants the cwd), the child
    // must trust the certificate through the bundle and read nothing of the
    // key, on either backend.
    let p = proxy_dir();
    let d = p.dir.path();
    let cert = std::fs::read_to_string(d.join("ca-cert.pem")).unwrap();
    let key = std::fs::read_to_string(d.join("ca-key.pem")).unwrap();
    std::fs::write(d.join("combined.pem"), format!("{key}{cert}")).unwrap();
    let body = cert.lines().nth(1).unwrap().to_string();
    for backend in ["bwrap", "landlock"] {
        let out = sandspawn(
            d,
            &[("SSL_CERT_FILE", Path::new("combined.pem"))],
            &[
                "run",
                "--backend",
                backend,
                "--",
                "sh",
                "-c",
                "cat combined.pem; echo; cat ca-cert.pem; echo; cat \"$SSL_CERT_FILE\"",
            ],
        );
        let seen = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{backend}: {out:?}");
        assert!(
            !seen.contains("PRIVATE KEY"),
            "{backend}: the key leaked: {seen}"
        );
        assert!(
            seen.contains(&body),
            "{backend}: the certificate is trusted: {seen}"
        );
    }
    let plan = json_of(&sandspawn(
        d,
        &[("SSL_CERT_FILE", Path::new("combined.pem"))],
        &["explain", "--json", "--", "true"],
    ));
    let denied = plan["denied"].as_array().unwrap();
    assert!(
        denied
            .iter()
            .any(|e| e["path"] == d.join("combined.pem").to_str().unwrap()
                && e["reason"]
                    .as_str()
                    .unwrap()
                    .contains("holds a private key (SSL_CERT_FILE)")),
        "{denied:?}"
    );
}

/// The Landlock backend has no network namespace for `proxy`: `run`
/// refused it (125), but `explain` showed the plan, exit 0, no warning, and
/// the library built it and started a server that exited 125 at once. Now
/// the plan is refused where it is built, with run's line, for all three.
#[test]
fn landlock_with_network_proxy_is_refused_by_explain_as_by_run() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let want = "sandspawn: the landlock backend cannot enforce network `proxy`: it needs a \
                network namespace; use the bwrap backend (`--backend bwrap`) or `--net full`";
    let flags = [
        "--backend",
        "landlock",
        "--net",
        "proxy",
        "--proxy",
        "http://127.0.0.1:9",
    ];
    for sub in [&["explain", "--json"][..], &["explain"], &["run"]] {
        let args: Vec<&str> = sub
            .iter()
            .chain(&flags)
            .chain(&["--", "true"])
            .copied()
            .collect();
        let out = sandspawn(h, &[], &args);
        assert_eq!(stderr_line(&out), want, "{sub:?}");
        assert!(out.stdout.is_empty(), "{sub:?}: nothing printed as a plan");
    }
}
