//! End-to-end tests of `prepare()` over temp dirs: a fake filesystem root for
//! distro discovery, rcgen CAs, and a private cache dir.

use super::*;
use base64::Engine;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::time::Duration;

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (params.self_signed(&key).unwrap(), key)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

/// Passes the shape check, fails the full parse.
const FAKE_CERT: &[u8] = &[0x30, 0x07, 0x30, 0x00, 0x30, 0x00, 0x03, 0x01, 0x00];

struct Fx {
    tmp: tempfile::TempDir,
    sys: [Vec<u8>; 2],
}

impl Fx {
    /// A root whose Debian bundle holds two CAs (with a comment, as distros do).
    fn new() -> Fx {
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

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join("in").join(rel)
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        fs::write(&p, content).unwrap();
        p
    }

    fn req(&self, inputs: Vec<TrustInput>) -> TrustRequest {
        TrustRequest {
            inputs,
            merge_system_roots: true,
            system_root: self.tmp.path().join("root"),
            cache_dir: self.tmp.path().join("cache/sandspawn/trust"),
            limits: Limits::default(),
        }
    }
}

fn var(name: &str, path: &Path, expect: Expect) -> TrustInput {
    TrustInput {
        origin: Origin::Variable { name: name.into() },
        path: path.to_path_buf(),
        expect,
    }
}

fn policy(path: &Path) -> TrustInput {
    TrustInput {
        origin: Origin::PolicyCa,
        path: path.to_path_buf(),
        expect: Expect::FileOrDir,
    }
}

fn certs_in(p: &Option<PathBuf>) -> Vec<Vec<u8>> {
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

#[test]
fn bundles_are_read_only_reused_and_verified() {
    let fx = Fx::new();
    let p = fx.write("e.pem", ca("e").0.pem());
    let req = fx.req(vec![var("NODE_EXTRA_CA_CERTS", &p, Expect::File)]);
    let first = prepare(&req).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&req.cache_dir), 0o700);
    let bundle = first.bundle.clone().unwrap();
    assert_eq!(mode(&bundle), 0o444);
    assert_eq!(mode(first.extras_bundle.as_ref().unwrap()), 0o444);
    assert_eq!(
        bundle.parent().unwrap(),
        fs::canonicalize(&req.cache_dir).unwrap()
    );
    let stamp = |p: &Path| {
        let m = fs::metadata(p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let before = stamp(&bundle);
    std::thread::sleep(Duration::from_millis(20));
    let second = prepare(&req).unwrap();
    assert_eq!(
        (&second.bundle, &second.extras_bundle),
        (&first.bundle, &first.extras_bundle)
    );
    assert_eq!(stamp(&bundle), before, "warm path must not rewrite");
    let pems = fs::read_dir(&req.cache_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("pem".as_ref()))
        .count();
    assert_eq!(pems, 2);

    fs::remove_file(&bundle).unwrap();
    fs::write(&bundle, b"-----BEGIN CERTIFICATE-----\n").unwrap();
    let err = prepare(&req).unwrap_err();
    assert!(matches!(err, TrustError::CacheMismatch { .. }), "{err}");
}

#[test]
fn shape_check_never_changes_the_outcome() {
    // FAKE_CERT passes the warm path's shape check but not x509-parser: both
    // the first (cold) and second (warm) run must drop it identically, also
    // when it sits in the system store and is not merged.
    let fx = Fx::new();
    let store = fx.tmp.path().join("root/etc/ssl/certs/ca-certificates.crt");
    let mut text = fs::read_to_string(&store).unwrap();
    text.push_str(&pem_block("CERTIFICATE", FAKE_CERT));
    fs::write(&store, text).unwrap();
    let p = fx.write(
        "mix.pem",
        format!("{}{}", pem_block("CERTIFICATE", FAKE_CERT), ca("m").0.pem()),
    );
    for merge in [true, false] {
        let mut req = fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)]);
        req.merge_system_roots = merge;
        let runs: Vec<_> = (0..2).map(|_| prepare(&req).unwrap()).collect();
        for out in &runs {
            assert_eq!(out.inputs[0].certificates, 1);
            assert_eq!(out.inputs[0].dropped[0].reason, DropReason::NotACertificate);
            assert!(!certs_in(&out.bundle).iter().any(|c| c == FAKE_CERT));
        }
        assert_eq!(runs[0].bundle, runs[1].bundle);
    }
}

#[test]
fn non_utf8_paths_work_end_to_end() {
    let fx = Fx::new();
    let dir = fx
        .tmp
        .path()
        .join("in")
        .join(std::ffi::OsStr::from_bytes(b"caf\xff"));
    fs::create_dir(&dir).unwrap();
    let file = dir.join(std::ffi::OsStr::from_bytes(b"ca\xfe.pem"));
    fs::write(&file, ca("bytes").0.pem()).unwrap();
    let mut req = fx.req(vec![var("SSL_CERT_FILE", &file, Expect::File)]);
    req.cache_dir = dir.join(std::ffi::OsStr::from_bytes(b"cache\xff"));
    let out = prepare(&req).unwrap();
    assert_eq!(
        out.inputs[0].resolved,
        Some(fs::canonicalize(&file).unwrap())
    );
    assert!(out.extras_bundle.as_ref().unwrap().exists());
    let json = serde_json::to_string(&out).unwrap();
    assert!(json.contains("caf\u{fffd}"), "{json}");
}

#[test]
fn default_cache_dir_prefers_absolute_xdg() {
    let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
    };
    let d = default_cache_dir;
    assert_eq!(
        d(&env(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")])),
        Some(PathBuf::from("/x/sandspawn/trust"))
    );
    assert_eq!(
        d(&env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])),
        Some(PathBuf::from("/h/.cache/sandspawn/trust"))
    );
    assert_eq!(d(&env(&[("HOME", "relative")])), None);
    assert_eq!(d(&env(&[])), None);
}

#[test]
fn outcome_serialises() {
    let fx = Fx::new();
    let p = fx.write("k.pem", ca("k").1.serialize_pem());
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)])).unwrap();
    let v: serde_json::Value = serde_json::to_value(&out).unwrap();
    assert_eq!(
        v["inputs"][0]["origin"],
        serde_json::json!({"kind": "variable", "name": "SSL_CERT_FILE"})
    );
    assert_eq!(
        v["inputs"][0]["dropped"][0]["reason"],
        serde_json::json!({"private_key": {"label": "PRIVATE KEY"}})
    );
}

#[test]
fn memo_notices_a_rewritten_file_and_a_repointed_link() {
    let fx = Fx::new();
    let (a, _) = ca("memo-a");
    let (b, _) = ca("memo-b");
    let file_a = fx.write("a.pem", a.pem());
    let file_b = fx.write("b.pem", b.pem());
    let link = fx.path("current.pem");
    std::os::unix::fs::symlink(&file_a, &link).unwrap();
    let req = fx.req(vec![var("SSL_CERT_FILE", &link, Expect::File)]);
    assert_eq!(
        certs_in(&prepare(&req).unwrap().extras_bundle),
        vec![a.der().to_vec()]
    );
    // Warm, from the memo.
    assert_eq!(
        certs_in(&prepare(&req).unwrap().extras_bundle),
        vec![a.der().to_vec()]
    );

    // The link now names another file: the memo must not answer.
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&file_b, &link).unwrap();
    assert_eq!(
        certs_in(&prepare(&req).unwrap().extras_bundle),
        vec![b.der().to_vec()]
    );

    // The file is rewritten in place (same inode): ctime moves, memo misses.
    fs::write(&file_b, a.pem()).unwrap();
    assert_eq!(
        certs_in(&prepare(&req).unwrap().extras_bundle),
        vec![a.der().to_vec()]
    );
}

#[test]
fn a_memo_others_could_write_is_ignored() {
    let fx = Fx::new();
    let (a, _) = ca("memo-perm");
    let p = fx.write("a.pem", a.pem());
    let req = fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)]);
    prepare(&req).unwrap();
    let memo = fs::read_dir(&req.cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("memo-")
        })
        .expect("a memo was written");
    assert_eq!(
        fs::metadata(&memo).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Forge it: claim there are no extras.
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&memo).unwrap()).unwrap();
    value["outcome"]["extras_bundle"] = serde_json::Value::Null;
    fs::write(&memo, serde_json::to_vec(&value).unwrap()).unwrap();
    // Owner-only, it is believed (so the forgery is a real one)...
    fs::set_permissions(&memo, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(prepare(&req).unwrap().extras_bundle.is_none());
    // ...writable by the group, it is not.
    fs::set_permissions(&memo, fs::Permissions::from_mode(0o664)).unwrap();
    assert!(prepare(&req).unwrap().extras_bundle.is_some());
}
