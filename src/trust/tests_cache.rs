//! The bundle cache and the memo: bundles are written once, read-only,
//! reused and checked; the memo notices rewritten inputs.

use super::tests::*;
use super::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

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

/// A memo written by another sandspawn build (an upgrade, a rebuild) is not
/// replayed: its outcome followed that build's rules.
#[test]
fn a_memo_from_another_build_is_ignored() {
    let fx = Fx::new();
    let (a, _) = ca("memo-build");
    let p = fx.write("a.pem", a.pem());
    let req = fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)]);
    prepare(&req).unwrap();
    let memo = fs::read_dir(&req.cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().as_bytes().starts_with(b"memo-"))
        .expect("a memo was written");
    // Forge it (no extras), as written by this build: believed...
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&memo).unwrap()).unwrap();
    value["outcome"]["extras_bundle"] = serde_json::Value::Null;
    fs::write(&memo, serde_json::to_vec(&value).unwrap()).unwrap();
    fs::set_permissions(&memo, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(prepare(&req).unwrap().extras_bundle.is_none());
    // ...as written by another executable: not.
    let ino = value["build"]["ino"].as_u64().unwrap_or(0);
    value["build"]["ino"] = (ino + 1).into();
    fs::write(&memo, serde_json::to_vec(&value).unwrap()).unwrap();
    assert!(prepare(&req).unwrap().extras_bundle.is_some());
}

/// The inputs a memo reports are what the look for keys beside a CA and
/// the protection of CA inputs act on: a memo whose input paths are not
/// the request's, or whose resolved paths it did not watch, is not
/// replayed.
#[test]
fn a_memo_with_other_inputs_is_ignored() {
    let fx = Fx::new();
    let (a, _) = ca("memo-inputs");
    let p = fx.write("a.pem", a.pem());
    let real = fs::canonicalize(&p).unwrap();
    let req = fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)]);
    prepare(&req).unwrap();
    let memo = fs::read_dir(&req.cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().as_bytes().starts_with(b"memo-"))
        .expect("a memo was written");
    let good: serde_json::Value = serde_json::from_slice(&fs::read(&memo).unwrap()).unwrap();
    let forged = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = good.clone();
        edit(&mut value);
        fs::write(&memo, serde_json::to_vec(&value).unwrap()).unwrap();
        fs::set_permissions(&memo, fs::Permissions::from_mode(0o600)).unwrap();
        prepare(&req).unwrap()
    };
    // The memo as written is replayed (so a forgery is a real one): its
    // extras, claimed gone, are gone.
    let replayed = forged(&|v| v["outcome"]["extras_bundle"] = serde_json::Value::Null);
    assert!(replayed.extras_bundle.is_none());
    let input = |o: &TrustOutcome| {
        (
            o.inputs.len(),
            o.inputs[0].path.clone(),
            o.inputs[0].resolved.clone(),
        )
    };
    let honest = (1, p.clone(), Some(real.clone()));
    // Another input path, another resolved path, one input more: each
    // gets a full pass, which reports the request's input as it is.
    let o = forged(&|v| v["outcome"]["inputs"][0]["path"] = "/etc/hostname".into());
    assert_eq!(input(&o), honest);
    let o = forged(&|v| v["outcome"]["inputs"][0]["resolved"] = "/etc/hostname".into());
    assert_eq!(input(&o), honest);
    let o = forged(&|v| {
        let extra = v["outcome"]["inputs"][0].clone();
        v["outcome"]["inputs"].as_array_mut().unwrap().push(extra);
    });
    assert_eq!(input(&o), honest);
}
