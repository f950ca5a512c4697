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

fn run(named: &Path, policy: &Policy, bounds: &Bounds) -> (Rules, Vec<String>) {
    let (rules, warnings) = run_all(&outcome(named), policy, bounds);
    (rules.unwrap(), warnings)
}

/// Each deny's path and origin.
type Rules = Vec<(PathBuf, String)>;

/// `keys_beside` for `o`, the cwd a directory no test uses.
fn run_all(
    o: &TrustOutcome,
    policy: &Policy,
    bounds: &Bounds,
) -> (Result<Rules, String>, Vec<String>) {
    let mut warnings = Vec::new();
    let resolver = crate::paths::HostResolver;
    let ctx = Ctx {
        system: &[],
        cwd: Path::new("/nonexistent-cwd"),
        bounds,
        resolver: &resolver,
    };
    let rules = keys_beside(o, policy, &ctx, &mut warnings)
        .map(|rules| rules.into_iter().map(|r| (r.path, r.origin)).collect())
        .map_err(|e| e.to_string());
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
    let (rules, warnings) = run(&ca, &policy(&[&top], &[]), &Bounds::default());
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
        run(&ca, &policy(&[], &[]), &Bounds::default()),
        (vec![], vec![])
    );
    let hidden = policy(&[&top], &[&certs]);
    assert_eq!(run(&ca, &hidden, &Bounds::default()), (vec![], vec![]));
    // Already denied by the policy: left to that deny, not named twice.
    let denied = policy(&[&top], &[&key]);
    assert_eq!(run(&ca, &denied, &Bounds::default()), (vec![], vec![]));
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
    let paths = |p: &Policy| (run(&named, p, &Bounds::default()).0.into_iter()).map(|r| r.0);
    assert_eq!(
        paths(&policy(&[&top], &[])).collect::<Vec<_>>(),
        [proxy.join("ca-key.pem"), ws.join("dev-key.pem")]
    );
    assert_eq!(
        paths(&policy(&[&ws], &[])).collect::<Vec<_>>(),
        [ws.join("dev-key.pem")]
    );
}

/// A directory with more entries than the bound is hidden whole, and said
/// to be: what was not listed may be a key, and a child that can write
/// there could push the key past the bound.
#[test]
fn a_directory_past_the_entry_bound_is_hidden_whole() {
    let (_t, top) = tmp();
    let certs = top.join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("ca.pem"), "x").unwrap();
    std::fs::write(certs.join("ca-key.pem"), key_pem()).unwrap();
    for i in 0..4 {
        std::fs::write(certs.join(format!("f{i}")), "y".repeat(100)).unwrap();
    }
    let ca = certs.join("ca.pem");
    let p = policy(&[&top], &[]);
    let few = Bounds {
        max_entries: 5,
        ..Bounds::default()
    };
    let (rules, warnings) = run(&ca, &p, &few);
    assert_eq!(
        rules,
        [(
            certs.clone(),
            format!(
                "directory of CA input {} (SSL_CERT_FILE), past the bounds of the private-key \
                 scan",
                ca.display()
            ),
        )]
    );
    assert_eq!(
        warnings,
        [format!(
            "SSL_CERT_FILE {}: its directory {} has more than 5 entries, over the limit for a \
             directory beside a CA, past what sandspawn looks through for private keys, so the \
             directory is hidden in the sandbox; keep the CA in a directory of its own",
            ca.display(),
            certs.display()
        )]
    );
    // A directory the policy hides already is left to that deny.
    let denied = policy(&[&top], &[&certs]);
    assert_eq!(run(&ca, &denied, &few).0, []);
    // One granted by its own path is not hidden: the run is refused.
    let (rules, warnings) = run_all(&outcome(&ca), &policy(&[&certs], &[]), &few);
    assert_eq!(warnings, Vec::<String>::new());
    let err = rules.unwrap_err();
    assert_eq!(
        err,
        format!(
            "SSL_CERT_FILE {}: its directory {} has more than 5 entries, over the limit for a \
             directory beside a CA, so sandspawn cannot look through it for private keys and \
             would hide it whole, but it is granted by its own path (flags); move the CA into \
             a directory of its own and point SSL_CERT_FILE at it",
            ca.display(),
            certs.display()
        )
    );
}

/// A file over the per-file bound is hidden unread, by itself, and named;
/// past a directory's byte budget the files not read are hidden one by
/// one, said in one line; the key before them is still found.
#[test]
fn files_not_read_are_hidden_one_by_one() {
    let (_t, top) = tmp();
    std::fs::write(top.join("ca.pem"), "x").unwrap();
    let key = key_pem();
    let key_len = key.len() as u64;
    std::fs::write(top.join("a-key.pem"), key).unwrap();
    std::fs::write(top.join("b-big"), "y".repeat(key_len as usize + 1)).unwrap();
    for i in 0..3 {
        std::fs::write(top.join(format!("c{i}")), "z".repeat(100)).unwrap();
    }
    let ca = top.join("ca.pem");
    // The key just fits a file's bound, and c0 beside it the directory's.
    let bounds = Bounds {
        max_file_bytes: key_len,
        max_dir_bytes: key_len + 150,
        ..Bounds::default()
    };
    let (rules, warnings) = run(&ca, &policy(&[&top], &[]), &bounds);
    let paths: Vec<&Path> = rules.iter().map(|r| r.0.as_path()).collect();
    let want = ["a-key.pem", "b-big", "c1", "c2"].map(|n| top.join(n));
    assert_eq!(paths, want.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let (ca, top) = (ca.display(), top.display());
    assert_eq!(
        warnings,
        [
            format!(
                "{top}/a-key.pem: private key beside CA input {ca} (SSL_CERT_FILE); hidden in \
                 the sandbox (move the key out of the CA's directory to silence this)"
            ),
            format!(
                "{top}/b-big: {} bytes, more than sandspawn reads ({key_len}) of a file \
                 beside CA input {ca} (SSL_CERT_FILE) to look for a private key; hidden in the \
                 sandbox (keep the CA in a directory of its own to silence this)",
                key_len + 1
            ),
            format!(
                "SSL_CERT_FILE {ca}: 2 files of its directory {top} past the {} bytes \
                 sandspawn reads there for private keys (from {top}/c1) are hidden in the \
                 sandbox, unread; keep the CA in a directory of its own",
                bounds.max_dir_bytes
            ),
        ]
    );
}

/// Each directory has its own byte budget: bytes read beside one CA do not
/// count against the directory of another.
#[test]
fn each_directory_has_its_own_byte_budget() {
    let (_t, top) = tmp();
    let mut o = outcome(&top.join("none"));
    o.inputs.clear();
    for d in ["one", "two"] {
        let dir = top.join(d);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "x").unwrap();
        std::fs::write(dir.join("data"), "y".repeat(200)).unwrap();
        let mut input = outcome(&dir.join("ca.pem")).inputs.remove(0);
        input.origin = Origin::Variable {
            name: format!("CA_{d}"),
        };
        o.inputs.push(input);
    }
    let bounds = Bounds {
        max_dir_bytes: 250,
        ..Bounds::default()
    };
    let (rules, warnings) = run_all(&o, &policy(&[&top], &[]), &bounds);
    assert_eq!(rules.unwrap(), []);
    assert_eq!(warnings, Vec::<String>::new());
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
    let (rules, warnings) = run_all(&o, &policy(&[&top], &[]), &Bounds::default());
    assert!(
        rules.unwrap().is_empty() && warnings.is_empty(),
        "{warnings:?}"
    );
    // Named otherwise, the same directory is looked at.
    assert_eq!(
        run(
            &certs.join("store.pem"),
            &policy(&[&top], &[]),
            &Bounds::default()
        )
        .0
        .len(),
        1
    );
}
