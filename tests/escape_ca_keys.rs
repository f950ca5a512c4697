//! A private key beside a CA *file* input (a proxy's `ca-cert.pem` and
//! `ca-key.pem` in one directory, SSL_CERT_FILE=./certs/ca-cert.pem under
//! the workspace preset): the child reads the sanitised bundle, and the
//! key stays hidden whatever root covers its directory, readable or
//! writable; the other files there stay as the policy says. Before, the
//! key was readable whenever a root covered the CA's directory.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use serde_json::Value;

mod support;
use support::{scrubbed, stderr, Scratch, PYTHON};

/// Per argument `r:PATH` (read), `w:PATH` (append), `m:PATH` (rename
/// away), `u:PATH` (unlink) or `b:VAR` (does the
/// bundle VAR names hold the certificate whose DER is $CA_DER, in hex):
/// OK, NO or the errno name.
static PROBE: LazyLock<String> = LazyLock::new(|| {
    support::attempts(&[
        ("r", "open(p).read()"),
        ("w", "open(p, 'a').write('x')"),
        ("m", "os.rename(p, p + '.moved')"),
        ("u", "os.unlink(p)"),
        (
            "",
            "import ssl\n\
             text = open(os.environ[p]).read()\n\
             ders = [ssl.PEM_cert_to_DER_cert(b.strip() + '\\n-----END CERTIFICATE-----') \
             for b in text.split('-----END CERTIFICATE-----')[:-1]]\n\
             return 'OK' if bytes.fromhex(os.environ['CA_DER']) in ders else 'NO'",
        ),
    ])
});

/// A workspace `top/ws` (the cwd) holding `certs/ca-cert.pem` (a CA),
/// `certs/ca-key.pem` (its key) and `certs/notes.txt`, beside `home`.
struct Ws {
    _dirs: Scratch,
    top: PathBuf,
    ca_der: String,
}

impl Ws {
    fn new() -> Ws {
        let dirs = Scratch::new(&["ws/certs", "home"]);
        let top = dirs.root.clone();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "beside");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let certs = top.join("ws/certs");
        std::fs::write(certs.join("ca-cert.pem"), cert.pem()).unwrap();
        std::fs::write(certs.join("ca-key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(certs.join("notes.txt"), "notes").unwrap();
        let ca_der = cert.der().iter().map(|b| format!("{b:02x}")).collect();
        Ws {
            _dirs: dirs,
            top,
            ca_der,
        }
    }

    fn ws(&self) -> PathBuf {
        self.top.join("ws")
    }

    fn sandspawn(&self, env: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = scrubbed(&self.top.join("home"), None, &self.ws());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The probe's verdicts inside, and sandspawn's stderr.
    fn probe(
        &self,
        backend: &str,
        env: &[(&str, &str)],
        flags: &[&str],
        what: &[&str],
    ) -> (String, String) {
        let out = self
            .sandspawn(env, &["run", "--backend", backend, "--net", "none"])
            .args(flags)
            .env("CA_DER", &self.ca_der)
            .args(["--pass", "CA_DER", "--", PYTHON, "-c", PROBE.as_str()])
            .args(what)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!stdout.is_empty(), "{backend}: {}", stderr(&out));
        (stdout, stderr(&out))
    }
}

fn backends() -> Vec<&'static str> {
    support::backends(|backend| {
        let ws = Ws::new();
        support::unusable(backend, || {
            (ws.sandspawn(&[], &["run", "--backend", backend, "--", "true"])).output()
        })
    })
}

/// The warning for one hidden key.
fn warning(key: &Path, ca: &Path, var: &str) -> String {
    format!(
        "sandspawn: warning: {}: private key beside CA input {} ({var}); hidden in the \
         sandbox (move the key out of the CA's directory to silence this)",
        key.display(),
        ca.display()
    )
}

fn warnings_beside(stderr: &str) -> Vec<&str> {
    (stderr.lines())
        .filter(|l| l.contains("private key beside"))
        .collect()
}

/// The workspace preset (the cwd writable) and the readonly one (`--read
/// .`), by SSL_CERT_FILE, NODE_EXTRA_CA_CERTS and `--ca`: the key is hidden
/// (bwrap masks it, Landlock leaves it out of the grants: EACCES on both),
/// the bundle holds the CA, and notes.txt beside it is readable, and
/// writable only where the policy says so.
#[test]
fn a_key_beside_a_ca_file_is_hidden_and_the_ca_still_trusted() {
    for backend in backends() {
        for (flags, writable) in [
            (&["--preset", "workspace"][..], true),
            (&["--read", "."][..], false),
            (&["--write", "certs"][..], true),
        ] {
            for (var, ca_flag) in [
                ("SSL_CERT_FILE", false),
                ("NODE_EXTRA_CA_CERTS", false),
                ("--ca / policy `ca`", true),
            ] {
                let ws = Ws::new();
                let ca = ws.ws().join("certs/ca-cert.pem");
                let mut env = vec![];
                let mut all: Vec<&str> = flags.to_vec();
                let bundle_var = if ca_flag {
                    all.extend(["--ca", "./certs/ca-cert.pem"]);
                    "SSL_CERT_FILE"
                } else {
                    env.push((var, "./certs/ca-cert.pem"));
                    var
                };
                let bundle = format!("b:{bundle_var}");
                let mut what = vec![
                    "r:certs/ca-key.pem",
                    "r:certs/notes.txt",
                    "w:certs/notes.txt",
                    &bundle,
                ];
                // Under a writable root the hide holds: the key cannot be
                // renamed or removed from under its mask (bwrap), nor out
                // of a directory granted entry by entry (Landlock).
                if writable {
                    what.extend(["m:certs/ca-key.pem", "u:certs/ca-key.pem"]);
                }
                let (got, err) = ws.probe(backend, &env, &all, &what);
                let want = match (writable, backend) {
                    (true, "bwrap") => "EACCES OK OK OK EBUSY EBUSY",
                    (true, _) => "EACCES OK OK OK EACCES EACCES",
                    (false, "bwrap") => "EACCES OK EROFS OK",
                    (false, _) => "EACCES OK EACCES OK",
                };
                let case = format!("{backend} {flags:?} {var}");
                assert_eq!(got, want, "{case}: {err}");
                // Landlock cannot hide a file under a granted directory but
                // by granting the directory's other entries one by one: the
                // directory itself is then not listable, and that is said.
                if backend == "landlock" {
                    let line = format!(
                        "sandspawn: landlock backend: {}: {} granted on its entries one by \
                         one; the directory itself gets None",
                        ws.ws().join("certs").display(),
                        if writable { "Write" } else { "Read" }
                    );
                    assert!(err.lines().any(|l| l == line), "{case}: {err}");
                }
                assert_eq!(
                    warnings_beside(&err),
                    [warning(&ws.ws().join("certs/ca-key.pem"), &ca, var)],
                    "{case}"
                );
            }
        }
    }
}

/// `./ca.pem` a link to the proxy's directory outside the workspace: the
/// keys where the CA really is and where the link sits are both hidden
/// when a root covers them (`--read` of their common parent).
#[test]
fn a_linked_ca_input_hides_the_keys_on_both_sides_of_the_link() {
    for backend in backends() {
        let ws = Ws::new();
        let proxy = ws.top.join("proxy");
        std::fs::rename(ws.ws().join("certs"), &proxy).unwrap();
        std::fs::copy(proxy.join("ca-key.pem"), ws.ws().join("dev-key.pem")).unwrap();
        std::os::unix::fs::symlink(proxy.join("ca-cert.pem"), ws.ws().join("ca.pem")).unwrap();
        let top = ws.top.to_str().unwrap();
        let (got, err) = ws.probe(
            backend,
            &[("SSL_CERT_FILE", "./ca.pem")],
            &["--read", top],
            &[
                "r:dev-key.pem",
                &format!("r:{}", proxy.join("ca-key.pem").display()),
                &format!("r:{}", proxy.join("notes.txt").display()),
                "b:SSL_CERT_FILE",
            ],
        );
        assert_eq!(got, "EACCES EACCES OK OK", "{backend}: {err}");
        let ca = ws.ws().join("ca.pem");
        assert_eq!(
            warnings_beside(&err),
            [
                warning(&proxy.join("ca-key.pem"), &ca, "SSL_CERT_FILE"),
                warning(&ws.ws().join("dev-key.pem"), &ca, "SSL_CERT_FILE"),
            ],
            "{backend}"
        );
    }
}

/// `explain` names each hidden key once with its reason, and `--json`
/// lists it among the denied paths.
#[test]
fn explain_names_the_hidden_key_once() {
    let ws = Ws::new();
    let key = ws.ws().join("certs/ca-key.pem");
    let env = [("SSL_CERT_FILE", "./certs/ca-cert.pem")];
    let why = format!(
        "private key beside CA input {} (SSL_CERT_FILE)",
        ws.ws().join("certs/ca-cert.pem").display()
    );
    let out = ws
        .sandspawn(&env, &["explain", "--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!("  deny   {}  [{why}]", key.display());
    assert_eq!(text.lines().filter(|l| *l == line).count(), 1, "{text}");
    let out = (ws
        .sandspawn(&env, &["explain", "--json", "--", "true"])
        .output())
    .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let denied: Vec<&Value> = (v["denied"].as_array().unwrap().iter())
        .filter(|d| d["path"] == key.to_str().unwrap())
        .collect();
    assert_eq!(
        denied,
        [&serde_json::json!({"path": key.to_str().unwrap(), "access": "deny", "reason": why})]
    );
}

/// A key this user cannot read is passed over (the sandbox, the same user,
/// cannot read it either) and not named; root reads it, so for root it is
/// hidden and named. EACCES inside either way.
#[test]
fn an_unreadable_key_beside_a_ca_file_stays_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let root = nix::unistd::geteuid().is_root();
    for backend in backends() {
        let ws = Ws::new();
        let locked = ws.ws().join("certs/locked-key.pem");
        std::fs::copy(ws.ws().join("certs/ca-key.pem"), &locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let (got, err) = ws.probe(
            backend,
            &[("SSL_CERT_FILE", "./certs/ca-cert.pem")],
            &["--read", "."],
            &[
                "r:certs/locked-key.pem",
                "r:certs/ca-key.pem",
                "b:SSL_CERT_FILE",
            ],
        );
        assert_eq!(got, "EACCES EACCES OK", "{backend}: {err}");
        let ca = ws.ws().join("certs/ca-cert.pem");
        let named = warning(&ws.ws().join("certs/ca-key.pem"), &ca, "SSL_CERT_FILE");
        let want = if root {
            vec![named, warning(&locked, &ca, "SSL_CERT_FILE")]
        } else {
            vec![named]
        };
        assert_eq!(warnings_beside(&err), want, "{backend}");
    }
}

/// A key granted by its own path (a dev server's key beside the dev CA
/// the parent trusts) is the user's choice: readable, and not warned
/// about. Before, the hide won over the grant with no way to give the key
/// back.
#[test]
fn a_key_granted_by_its_own_path_stays_readable() {
    for backend in backends() {
        let ws = Ws::new();
        let env = [("SSL_CERT_FILE", "./certs/ca-cert.pem")];
        let flags = ["--read", ".", "--read", "certs/ca-key.pem"];
        let (got, err) = ws.probe(backend, &env, &flags, &["r:certs/ca-key.pem"]);
        assert_eq!(got, "OK", "{backend}: {err}");
        assert_eq!(warnings_beside(&err), Vec::<&str>::new(), "{backend}");
    }
}

/// PKCS#12 files beside the CA: one that holds only the certificate (a
/// proxy's `mitmproxy-ca-cert.p12`) was hidden and named a private key.
/// Unencrypted, its bags are read: a key bag is a private key, none is no
/// key (left alone); an encrypted part cannot be told, so without a key
/// bag in sight it is hidden all the same and said to be a PKCS#12 file
/// that may hold a private key.
#[test]
fn pkcs12_files_beside_a_ca_are_judged_by_their_bags() {
    let ws = Ws::new();
    let certs = ws.ws().join("certs");
    let p12 = |out: &str, args: &[&str]| {
        let status = Command::new("openssl")
            .current_dir(&certs)
            .args([
                "pkcs12",
                "-export",
                "-in",
                "ca-cert.pem",
                "-passout",
                "pass:",
            ])
            .args(args)
            .args(["-out", out])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            panic!("openssl pkcs12 -export {args:?} failed");
        }
    };
    let plain = ["-certpbe", "NONE", "-nomac"];
    p12("cert-only.p12", &[&["-nokeys"][..], &plain].concat());
    p12(
        "plain-key.p12",
        &[&["-inkey", "ca-key.pem", "-keypbe", "NONE"][..], &plain].concat(),
    );
    // Encrypted (openssl's default): the certificate's part cannot be
    // read; a shrouded key's bag still names itself as a key.
    p12("cert-encrypted.p12", &["-nokeys"]);
    p12("key-encrypted.p12", &["-inkey", "ca-key.pem"]);
    let ca = certs.join("ca-cert.pem");
    let out = ws
        .sandspawn(
            &[("SSL_CERT_FILE", "./certs/ca-cert.pem")],
            &["explain", "--", "true"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    // The warnings section: each line indented, starting with the path.
    let said: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  /") && l.contains("beside CA input"))
        .collect();
    let ca = ca.display();
    let dir = certs.display();
    assert_eq!(
        said,
        [
            format!(
                "  {dir}/ca-key.pem: private key beside CA input {ca} (SSL_CERT_FILE); hidden \
                 in the sandbox (move the key out of the CA's directory to silence this)"
            ),
            format!(
                "  {dir}/cert-encrypted.p12: a PKCS#12 file (may hold a private key) beside CA \
                 input {ca} (SSL_CERT_FILE); hidden in the sandbox (move it out of the CA's \
                 directory to silence this)"
            ),
            format!(
                "  {dir}/key-encrypted.p12: private key beside CA input {ca} (SSL_CERT_FILE); \
                 hidden in the sandbox (move the key out of the CA's directory to silence \
                 this)"
            ),
            format!(
                "  {dir}/plain-key.p12: private key beside CA input {ca} (SSL_CERT_FILE); \
                 hidden in the sandbox (move the key out of the CA's directory to silence \
                 this)"
            ),
        ],
        "{text}"
    );
    assert!(!text.contains("cert-only.p12"), "{text}");
}
