//! `keys_beside` against real directories: which keys become denies, with
//! which warnings, and where it stops looking.

use std::path::{Path, PathBuf};

use super::*;
use crate::policy::{Layer, ResolveContext};
use crate::trust::{InputReport, Origin};

fn key_pem() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

/// An outcome with one CA file input named `named`.
fn outcome(named: &Path) -> TrustOutcome {
    TrustOutcome {
        bundle: None,
        extras_bundle: None,
        system_store: None,
        inputs: vec![InputReport {
            origin: Origin::Variable {
                name: "SSL_CERT_FILE".into(),
            },
            path: named.to_path_buf(),
            resolved: std::fs::canonicalize(named).ok(),
            certificates: 1,
            dropped: Vec::new(),
            skipped: None,
            ignored_entries: 0,
        }],
        warnings: Vec::new(),
    }
}

fn policy(read: &[&Path], deny: &[&Path]) -> Policy {
    let layer = Layer {
        origin: "flags".into(),
        read: read.iter().map(|p| p.to_path_buf()).collect(),
        deny: deny.iter().map(|p| p.to_path_buf()).collect(),
        ..Layer::default()
    };
    let cwd = Path::new("/nonexistent-cwd");
    Policy::resolve(&[layer], &ResolveContext { cwd, home: None }).unwrap()
}

fn run(named: &Path, policy: &Policy, limits: &Limits) -> (Vec<(PathBuf, String)>, Vec<String>) {
    let mut warnings = Vec::new();
    let resolver = crate::paths::HostResolver;
    let rules = keys_beside(
        &outcome(named),
        policy,
        &[],
        limits,
        &resolver,
        &mut warnings,
    );
    let rules = rules.into_iter().map(|r| (r.path, r.origin)).collect();
    (rules, warnings)
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(t.path()).unwrap();
    (t, top)
}

#[test]
fn a_key_beside_a_covered_ca_file_is_denied_and_warned_about_once() {
    let (_t, top) = tmp();
    let certs = top.join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("ca-cert.pem"), "not read here").unwrap();
    std::fs::write(certs.join("ca-key.pem"), key_pem()).unwrap();
    std::fs::write(certs.join("notes.txt"), "hello").unwrap();
    std::os::unix::fs::symlink("ca-key.pem", certs.join("key-link.pem")).unwrap();
    let ca = certs.join("ca-cert.pem");
    let key = certs.join("ca-key.pem");
    let why = format!(
        "private key beside CA input {} (SSL_CERT_FILE)",
        ca.display()
    );
    let (rules, warnings) = run(&ca, &policy(&[&top], &[]), &Limits::default());
    assert_eq!(rules, [(key.clone(), why.clone())]);
    assert_eq!(
        warnings,
        [format!(
            "{}: {why}; hidden in the sandbox (move the key out of the CA's directory to \
             silence this)",
            key.display()
        )]
    );
    // Not covered (no root, or a deny over the directory): nothing listed.
    assert_eq!(
        run(&ca, &policy(&[], &[]), &Limits::default()),
        (vec![], vec![])
    );
    let hidden = policy(&[&top], &[&certs]);
    assert_eq!(run(&ca, &hidden, &Limits::default()), (vec![], vec![]));
    // Already denied by the policy: left to that deny, not named twice.
    let denied = policy(&[&top], &[&key]);
    assert_eq!(run(&ca, &denied, &Limits::default()), (vec![], vec![]));
}

/// `./ca.pem -> /srv/proxy/ca.pem`: the proxy's directory is beside the CA,
/// and so is the directory the link sits in, each when a root covers it.
#[test]
fn a_linked_ca_input_looks_where_it_is_and_where_the_link_sits() {
    let (_t, top) = tmp();
    let (ws, proxy) = (top.join("ws"), top.join("proxy"));
    std::fs::create_dir(&ws).unwrap();
    std::fs::create_dir(&proxy).unwrap();
    std::fs::write(proxy.join("ca.pem"), "x").unwrap();
    std::fs::write(proxy.join("ca-key.pem"), key_pem()).unwrap();
    std::fs::write(ws.join("dev-key.pem"), key_pem()).unwrap();
    std::os::unix::fs::symlink(proxy.join("ca.pem"), ws.join("ca.pem")).unwrap();
    let named = ws.join("ca.pem");
    let paths = |p: &Policy| (run(&named, p, &Limits::default()).0.into_iter()).map(|r| r.0);
    assert_eq!(
        paths(&policy(&[&top], &[])).collect::<Vec<_>>(),
        [proxy.join("ca-key.pem"), ws.join("dev-key.pem")]
    );
    assert_eq!(
        paths(&policy(&[&ws], &[])).collect::<Vec<_>>(),
        [ws.join("dev-key.pem")]
    );
}

/// The CA directory scan's bounds hold here too; a directory past them is
/// hidden whole, and said to be: what was not read may be a key, and a
/// child that can write there could push the key past them.
#[test]
fn a_directory_past_the_bounds_is_hidden_whole() {
    let (_t, top) = tmp();
    std::fs::write(top.join("ca.pem"), "x").unwrap();
    std::fs::write(top.join("ca-key.pem"), key_pem()).unwrap();
    for i in 0..4 {
        std::fs::write(top.join(format!("f{i}")), "y".repeat(100)).unwrap();
    }
    let ca = top.join("ca.pem");
    let p = policy(&[&top], &[]);
    let hidden = vec![(
        top.clone(),
        format!(
            "directory of CA input {} (SSL_CERT_FILE), past the bounds of the private-key scan",
            ca.display()
        ),
    )];
    let said = |problem: &str| {
        vec![format!(
            "SSL_CERT_FILE {}: its directory {} {problem}, past what sandspawn looks through \
             for private keys, so the directory is hidden in the sandbox; keep the CA in a \
             directory of its own",
            ca.display(),
            top.display()
        )]
    };
    let few = Limits {
        max_dir_entries: 5,
        ..Limits::default()
    };
    let (rules, warnings) = run(&ca, &p, &few);
    assert_eq!(rules, hidden);
    assert_eq!(
        warnings,
        said("has more than 5 entries, over the limit for a CA directory")
    );
    // Files named to sort before the key use up the bytes first.
    for i in 0..3 {
        std::fs::write(top.join(format!("a{i}")), "z".repeat(100)).unwrap();
    }
    let small = Limits {
        max_total_bytes: 250,
        ..Limits::default()
    };
    let (rules, warnings) = run(&ca, &p, &small);
    assert_eq!(rules, hidden);
    assert_eq!(
        warnings,
        said("holds more than 250 bytes of files to look through")
    );
    // A file over the per-file limit is no key file: passed over, unread.
    let tiny = Limits {
        max_file_bytes: 99,
        ..Limits::default()
    };
    assert_eq!(run(&ca, &p, &tiny).0, []);
    // A directory the policy hides already is left to that deny.
    let denied = policy(&[&top], &[&top]);
    assert_eq!(run(&ca, &denied, &few).0, []);
}

/// The system store's directory is not listed: its keys live in
/// /etc/ssl/private (hidden by default), and the variables a host exports
/// name the store, so every spawn would list /etc/ssl/certs for nothing.
#[test]
fn the_system_stores_directory_is_not_listed() {
    let (_t, top) = tmp();
    let certs = top.join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("store.pem"), "x").unwrap();
    std::fs::write(certs.join("k.pem"), key_pem()).unwrap();
    let mut o = outcome(&certs.join("store.pem"));
    o.system_store = o.inputs[0].resolved.clone();
    let mut warnings = Vec::new();
    let resolver = crate::paths::HostResolver;
    let rules = keys_beside(
        &o,
        &policy(&[&top], &[]),
        &[],
        &Limits::default(),
        &resolver,
        &mut warnings,
    );
    assert!(rules.is_empty() && warnings.is_empty(), "{warnings:?}");
    // Named otherwise, the same directory is looked at.
    assert_eq!(
        run(
            &certs.join("store.pem"),
            &policy(&[&top], &[]),
            &Limits::default()
        )
        .0
        .len(),
        1
    );
}
