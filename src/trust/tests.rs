//! End-to-end tests of `prepare()` over temp dirs: a fake filesystem root for
//! distro discovery, rcgen CAs, and a private cache dir.

use super::*;
use base64::Engine;
use std::fs;
use std::os::unix::fs::symlink;
use std::time::Duration;

pub(super) fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap(), key)
}

pub(super) fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

/// Passes the shape check, fails the full parse.
pub(super) const FAKE_CERT: &[u8] = &[0x30, 0x07, 0x30, 0x00, 0x30, 0x00, 0x03, 0x01, 0x00];

pub(super) struct Fx {
    pub(super) tmp: tempfile::TempDir,
    pub(super) sys: [Vec<u8>; 2],
}

impl Fx {
    /// A root whose Debian bundle holds two CAs (with a comment, as distros do).
    pub(super) fn new() -> Fx {
        let tmp = tempfile::tempdir().unwrap();
        let (s1, _) = ca("system one");
        let (s2, _) = ca("system two");
        let certs = tmp.path().join("root/etc/ssl/certs");
        fs::create_dir_all(&certs).unwrap();
        let text = format!("# ACME Root\n{}# Other Root\n{}", s1.pem(), s2.pem());
        fs::write(certs.join("ca-certificates.crt"), text).unwrap();
        fs::create_dir(tmp.path().join("in")).unwrap();
        Fx {
            tmp,
            sys: [s1.der().to_vec(), s2.der().to_vec()],
        }
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join("in").join(rel)
    }

    pub(super) fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        fs::write(&p, content).unwrap();
        p
    }

    pub(super) fn req(&self, inputs: Vec<TrustInput>) -> TrustRequest {
        TrustRequest {
            inputs,
            merge_system_roots: true,
            system_root: self.tmp.path().join("root"),
            cache_dir: self.tmp.path().join("cache/sandspawn/trust"),
            limits: Limits::default(),
        }
    }
}

pub(super) fn var(name: &str, path: &Path, expect: Expect) -> TrustInput {
    TrustInput {
        origin: Origin::Variable { name: name.into() },
        path: path.to_path_buf(),
        expect,
    }
}

pub(super) fn policy(path: &Path) -> TrustInput {
    TrustInput {
        origin: Origin::PolicyCa,
        path: path.to_path_buf(),
        expect: Expect::FileOrDir,
    }
}

pub(super) fn certs_in(p: &Option<PathBuf>) -> Vec<Vec<u8>> {
    let s = sanitize_pem(&fs::read(p.as_ref().expect("a bundle")).unwrap());
    assert!(s.dropped.is_empty());
    s.certificates
}

#[test]
fn combined_holds_system_then_extras_and_extras_skip_system_cas() {
    let fx = Fx::new();
    let (e1, _) = ca("proxy CA");
    let a = fx.write("proxy.pem", e1.pem());
    let s1_pem = pem_block("CERTIFICATE", &fx.sys[0]);
    let b = fx.write("both.pem", format!("{s1_pem}{}", e1.pem()));
    let out = prepare(&fx.req(vec![
        var("SSL_CERT_FILE", &a, Expect::File),
        var("REQUESTS_CA_BUNDLE", &b, Expect::File),
    ]))
    .unwrap();
    let e1 = e1.der().to_vec();
    assert_eq!(
        certs_in(&out.bundle),
        vec![fx.sys[0].clone(), fx.sys[1].clone(), e1.clone()]
    );
    assert_eq!(certs_in(&out.extras_bundle), vec![e1]);
    assert_eq!(
        out.system_store,
        Some(fx.tmp.path().join("root/etc/ssl/certs/ca-certificates.crt"))
    );
    assert_eq!(out.inputs[0].certificates, 1);
    assert_eq!(out.inputs[1].certificates, 2);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    // An input that only repeats a system CA adds nothing to extras.
    let only_sys = fx.write("sys.pem", &s1_pem);
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &only_sys, Expect::File)])).unwrap();
    assert_eq!(out.extras_bundle, None);
    assert_eq!(certs_in(&out.bundle), fx.sys.to_vec());

    // Without merging, the combined bundle is the extras.
    let mut req = fx.req(vec![var("SSL_CERT_FILE", &a, Expect::File)]);
    req.merge_system_roots = false;
    let out = prepare(&req).unwrap();
    assert_eq!(out.bundle, out.extras_bundle);
    assert_eq!(certs_in(&out.bundle).len(), 1);
}

#[test]
fn an_additive_variable_naming_the_system_bundle_gives_node_the_system_roots() {
    // This host's shape: the agent firewall's CA was installed into the
    // system store, and NODE_EXTRA_CA_CERTS names the system bundle (Node's
    // own roots are Mozilla's and lack it). The child's Node must get those
    // roots too, not an extras bundle without them.
    let fx = Fx::new();
    let store = fx.tmp.path().join("root/etc/ssl/certs/ca-certificates.crt");
    let (p, _) = ca("proxy CA");
    let proxy = fx.write("proxy.pem", p.pem());
    let p = p.der().to_vec();
    let req = fx.req(vec![
        var("SSL_CERT_FILE, NODE_EXTRA_CA_CERTS", &store, Expect::File),
        var("REQUESTS_CA_BUNDLE", &proxy, Expect::File),
    ]);
    let out = prepare(&req).unwrap();
    assert_eq!(
        certs_in(&out.extras_bundle),
        vec![fx.sys[0].clone(), fx.sys[1].clone(), p.clone()]
    );
    // The combined bundle still holds each certificate once.
    assert_eq!(
        certs_in(&out.bundle),
        vec![fx.sys[0].clone(), fx.sys[1].clone(), p.clone()]
    );
    // A replacing variable naming the store adds nothing to the extras.
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &store, Expect::File)])).unwrap();
    assert_eq!(out.extras_bundle, None);
    // --no-system-roots keeps the system roots out of both bundles.
    let mut req = req;
    req.merge_system_roots = false;
    let out = prepare(&req).unwrap();
    assert_eq!(certs_in(&out.extras_bundle), vec![p.clone()]);
    assert_eq!(certs_in(&out.bundle), vec![p]);
}

#[test]
fn a_ca_file_already_in_the_system_store_still_reaches_node() {
    // This host's shape from a stripped environment: the agent firewall's
    // CA was installed into the system store, no variable names anything,
    // and the user passes that CA with --ca as Troubleshooting says. Node
    // reads only NODE_EXTRA_CA_CERTS on top of Mozilla's roots, so the CA
    // must be in the extras bundle even though the system store has it.
    let fx = Fx::new();
    let firewall = fx.write("firewall.pem", pem_block("CERTIFICATE", &fx.sys[1]));
    let out = prepare(&fx.req(vec![policy(&firewall)])).unwrap();
    assert_eq!(certs_in(&out.extras_bundle), vec![fx.sys[1].clone()]);
    assert_eq!(certs_in(&out.bundle), fx.sys.to_vec());
    // The same file named by a replacing variable adds nothing to Node.
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &firewall, Expect::File)])).unwrap();
    assert_eq!(out.extras_bundle, None);
}

#[test]
fn a_utf8_byte_order_mark_before_the_first_block_is_skipped() {
    let (c, _) = ca("bom");
    for nl in ["\n", "\r\n"] {
        let text = pem_block("CERTIFICATE", c.der()).replace('\n', nl);
        let mut file = b"\xef\xbb\xbf".to_vec();
        file.extend_from_slice(text.as_bytes());
        let s = sanitize_pem(&file);
        assert_eq!(s.certificates, vec![c.der().to_vec()], "{nl:?}");
        assert!(s.dropped.is_empty(), "{:?}", s.dropped);
    }
    // A DER certificate behind a mark is read too.
    let mut der = b"\xef\xbb\xbf".to_vec();
    der.extend_from_slice(c.der());
    assert_eq!(sanitize_pem(&der).certificates, vec![c.der().to_vec()]);
}

#[test]
fn no_store_and_no_inputs_gives_no_bundle() {
    let fx = Fx::new();
    let mut req = fx.req(vec![]);
    req.system_root = fx.tmp.path().join("empty-root");
    let out = prepare(&req).unwrap();
    assert_eq!(
        (out.bundle, out.extras_bundle, out.system_store),
        (None, None, None)
    );
    assert!(out.warnings.is_empty());
    assert!(!req.cache_dir.exists(), "nothing to write, no cache dir");

    let (e1, _) = ca("lonely");
    req.inputs = vec![var(
        "SSL_CERT_FILE",
        &fx.write("e.pem", e1.pem()),
        Expect::File,
    )];
    let out = prepare(&req).unwrap();
    assert_eq!(certs_in(&out.bundle), vec![e1.der().to_vec()]);
    assert!(out.warnings[0].starts_with("no system CA store found under"));
}

#[test]
fn keys_and_crls_are_dropped_and_reported() {
    let fx = Fx::new();
    let (c, key) = ca("mitmproxy");
    let crl = pem_block("X509 CRL", &[0x30, 0x00]);
    let mixed = fx.write(
        "mitmproxy-ca.pem",
        format!("{}{}{crl}", key.serialize_pem(), c.pem()),
    );
    let key_only = fx.write("ca-key.pem", key.serialize_pem());
    let out = prepare(&fx.req(vec![
        var("SSL_CERT_FILE", &mixed, Expect::File),
        var("NODE_EXTRA_CA_CERTS", &key_only, Expect::File),
    ]))
    .unwrap();
    let r = &out.inputs[0];
    assert_eq!(r.certificates, 1);
    assert_eq!(r.skipped, None);
    let pk = DropReason::PrivateKey {
        label: "PRIVATE KEY".into(),
    };
    assert_eq!(
        r.dropped,
        vec![
            Dropped {
                file: mixed.clone(),
                block: 1,
                reason: pk.clone()
            },
            Dropped {
                file: mixed.clone(),
                block: 3,
                reason: DropReason::Crl
            },
        ]
    );
    assert_eq!(out.inputs[1].dropped.len(), 1);
    assert_eq!(
        out.warnings,
        vec![format!(
            "NODE_EXTRA_CA_CERTS: {} holds no certificate (1 private key dropped); ignored",
            key_only.display()
        )]
    );
    let bundle = fs::read(out.bundle.unwrap()).unwrap();
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(key.serialize_der());
    assert!(!String::from_utf8(bundle).unwrap().contains(&key_b64[..40]));

    // Strict input: a key-only file is an error naming --ca.
    let err = prepare(&fx.req(vec![policy(&key_only)])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("--ca / policy `ca`: "), "{msg}");
    assert!(
        msg.contains("holds no certificate (1 private key dropped)"),
        "{msg}"
    );
}

#[test]
fn trusted_certificate_is_kept_and_relabelled() {
    let fx = Fx::new();
    let (c, _) = ca("aux");
    let mut aux = c.der().to_vec();
    aux.extend_from_slice(&[0x30, 0x03, 0x0c, 0x01, b'x']);
    let p = fx.write("trusted.pem", pem_block("TRUSTED CERTIFICATE", &aux));
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)])).unwrap();
    let text = fs::read_to_string(out.extras_bundle.as_ref().unwrap()).unwrap();
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(certs_in(&out.extras_bundle), vec![c.der().to_vec()]);
}

#[test]
fn garbage_and_empty_files_are_skipped_with_warnings() {
    let fx = Fx::new();
    let garbage = fx.write("garbage.pem", b"\x00\xffnot pem at all\n");
    let empty = fx.write("empty.pem", b"");
    let out = prepare(&fx.req(vec![
        var("CURL_CA_BUNDLE", &garbage, Expect::File),
        var("AWS_CA_BUNDLE", &empty, Expect::File),
    ]))
    .unwrap();
    assert_eq!(
        out.inputs[0].dropped,
        vec![Dropped {
            file: garbage.clone(),
            block: 0,
            reason: DropReason::NotACertificate
        }]
    );
    assert_eq!(
        out.warnings,
        vec![
            format!(
                "CURL_CA_BUNDLE: {} holds no certificate (1 other block dropped); ignored",
                garbage.display()
            ),
            format!(
                "AWS_CA_BUNDLE: {} holds no certificate (empty file); ignored",
                empty.display()
            ),
        ]
    );
    assert_eq!(out.extras_bundle, None);
    assert_eq!(certs_in(&out.bundle), fx.sys.to_vec());
}

#[test]
fn symlink_hops_are_followed_and_loops_reported() {
    let fx = Fx::new();
    let (c, _) = ca("linked");
    let real = fx.write("real.pem", c.pem());
    symlink("real.pem", fx.path("hop1")).unwrap();
    symlink(fx.path("hop1"), fx.path("hop2")).unwrap();
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &fx.path("hop2"), Expect::File)])).unwrap();
    assert_eq!(
        out.inputs[0].resolved,
        Some(fs::canonicalize(&real).unwrap())
    );
    assert_eq!(out.inputs[0].certificates, 1);

    symlink("loop-b", fx.path("loop-a")).unwrap();
    symlink("loop-a", fx.path("loop-b")).unwrap();
    let out =
        prepare(&fx.req(vec![var("SSL_CERT_FILE", &fx.path("loop-a"), Expect::File)])).unwrap();
    assert!(out.inputs[0]
        .skipped
        .as_ref()
        .unwrap()
        .starts_with("symlink loop at"));
    assert!(out.warnings[0].starts_with("SSL_CERT_FILE: "));
    assert!(out.warnings[0].contains("symlink loop at"));
    let err = prepare(&fx.req(vec![policy(&fx.path("loop-a"))])).unwrap_err();
    assert!(matches!(err, TrustError::Input { .. }), "{err}");
    assert!(err.to_string().contains("symlink loop"), "{err}");

    symlink("nowhere", fx.path("dangling")).unwrap();
    let out = prepare(&fx.req(vec![var("X", &fx.path("dangling"), Expect::File)])).unwrap();
    assert!(
        out.warnings[0].contains("dangling symlink"),
        "{:?}",
        out.warnings
    );
}

#[test]
fn fifo_is_skipped_without_blocking() {
    let fx = Fx::new();
    let fifo = fx.path("fifo.pem");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (c, _) = ca("beside a fifo");
    fs::create_dir(fx.path("dir")).unwrap();
    fs::write(fx.path("dir/ok.pem"), c.pem()).unwrap();
    nix::unistd::mkfifo(
        &fx.path("dir/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let req = fx.req(vec![
        var("SSL_CERT_FILE", &fifo, Expect::File),
        var("SSL_CERT_DIR", &fx.path("dir"), Expect::Dir),
    ]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(prepare(&req).map_err(|e| e.to_string())).unwrap());
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("prepare() blocked on a FIFO")
        .unwrap();
    assert_eq!(
        out.inputs[0].skipped.as_deref(),
        Some("is a FIFO, not a regular file")
    );
    assert_eq!(out.inputs[1].certificates, 1);
    assert_eq!(out.inputs[1].ignored_entries, 1);
    assert!(prepare(&fx.req(vec![policy(&fifo)])).is_err());
}

#[test]
fn directory_where_a_file_is_expected_and_vice_versa() {
    let fx = Fx::new();
    let dir = fx.path("d");
    fs::create_dir(&dir).unwrap();
    let file = fx.write("f.pem", ca("f").0.pem());
    let out = prepare(&fx.req(vec![
        var("SSL_CERT_FILE", &dir, Expect::File),
        var("SSL_CERT_DIR", &file, Expect::Dir),
        var("BUNDLE_SSL_CA_CERT", &file, Expect::FileOrDir),
    ]))
    .unwrap();
    assert_eq!(
        out.inputs[0].skipped.as_deref(),
        Some("is a directory, not a file")
    );
    assert_eq!(
        out.inputs[1].skipped.as_deref(),
        Some("is a file, not a directory")
    );
    assert_eq!(out.inputs[2].certificates, 1);
    let mut strict = policy(&dir);
    strict.expect = Expect::File;
    assert!(prepare(&fx.req(vec![strict])).is_err());
    let err = prepare(&fx.req(vec![policy(&fx.path("missing.pem"))])).unwrap_err();
    assert!(
        err.to_string().contains("missing.pem does not exist"),
        "{err}"
    );
}

#[test]
fn size_limits_are_errors_naming_the_variable() {
    let fx = Fx::new();
    let big = fx.path("big.pem");
    let f = fs::File::create(&big).unwrap();
    f.set_len(Limits::default().max_file_bytes + 1).unwrap(); // sparse
    let err = prepare(&fx.req(vec![var("SSL_CERT_FILE", &big, Expect::File)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "SSL_CERT_FILE: {} is 4194305 bytes, over the 4194304-byte limit for a CA file; \
             point it at a PEM bundle of certificates",
            big.display()
        )
    );

    let mut req = fx.req(vec![var(
        "A",
        &fx.write("a.pem", ca("a").0.pem()),
        Expect::File,
    )]);
    req.limits.max_total_bytes = 1000; // the system store alone is larger
    assert!(matches!(
        prepare(&req),
        Err(TrustError::TotalTooLarge { .. })
    ));

    let dir = fx.path("many");
    fs::create_dir(&dir).unwrap();
    for i in 0..5 {
        fs::write(dir.join(format!("{i}.pem")), b"").unwrap();
    }
    let mut req = fx.req(vec![var("SSL_CERT_DIR", &dir, Expect::Dir)]);
    req.limits.max_dir_entries = 4;
    let err = prepare(&req).unwrap_err();
    assert!(
        matches!(err, TrustError::TooManyEntries { limit: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&dir.display().to_string()));
    req.limits.max_dir_entries = 5;
    prepare(&req).unwrap();
}

#[test]
fn hashed_directory_reads_links_and_files_and_ignores_the_rest() {
    let fx = Fx::new();
    let (a, _) = ca("a");
    let (b, _) = ca("b");
    let dir = fx.path("certs");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("a.pem"), a.pem()).unwrap();
    symlink("a.pem", dir.join("5ed36f99.0")).unwrap();
    fs::write(dir.join("b.crt"), b.der()).unwrap(); // DER is accepted too
    symlink("gone", dir.join("deadbeef.0")).unwrap();
    let out = prepare(&fx.req(vec![var("SSL_CERT_DIR", &dir, Expect::Dir)])).unwrap();
    let r = &out.inputs[0];
    assert_eq!((r.certificates, r.ignored_entries), (2, 2));
    // Sorted by name: 5ed36f99.0 (a), a.pem (a again), b.crt.
    assert_eq!(
        certs_in(&out.extras_bundle),
        vec![a.der().to_vec(), b.der().to_vec()]
    );
}
