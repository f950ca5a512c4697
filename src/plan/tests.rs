//! Plan tests: pure, no kernel and no real filesystem (symlinks come from a
//! [`MapResolver`]).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use sandspawn_linux::Mount;

use super::*;
use crate::env::families;
use crate::paths::MapResolver;
use crate::policy::{Layer, Policy, ResolveContext};
use crate::trust::TrustOutcome;

pub(super) const BUNDLE: &str = "/home/u/.cache/sandspawn/trust/1111.pem";
pub(super) const EXTRAS: &str = "/home/u/.cache/sandspawn/trust/2222.pem";

pub(super) fn outcome(bundle: bool, extras: bool) -> TrustOutcome {
    TrustOutcome {
        bundle: bundle.then(|| PathBuf::from(BUNDLE)),
        extras_bundle: extras.then(|| PathBuf::from(EXTRAS)),
        system_store: Some("/etc/ssl/certs/ca-certificates.crt".into()),
        inputs: Vec::new(),
        warnings: Vec::new(),
    }
}

pub(super) fn facts() -> HostFacts {
    HostFacts {
        system_roots: vec![
            SystemRoot::Dir("/usr".into()),
            SystemRoot::Link {
                path: "/bin".into(),
                target: "usr/bin".into(),
            },
            SystemRoot::Dir("/etc".into()),
        ],
        kinds: Default::default(),
        protected: Vec::new(),
        no_private_mounts: None,
        proxy: None,
        aliases: Default::default(),
        ids: Default::default(),
    }
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

pub(super) fn plan_with(
    layers: &[Layer],
    parent: &[(OsString, OsString)],
    trust: TrustOutcome,
) -> Plan {
    let cwd = Path::new("/work/proj");
    let home = parent
        .iter()
        .find(|(n, _)| n == "HOME")
        .map(|(_, v)| Path::new(v.as_os_str()));
    let policy = Policy::resolve(layers, &ResolveContext { cwd, home }).unwrap();
    assemble(
        vec!["true".into()],
        cwd.to_path_buf(),
        policy,
        parent,
        trust,
        &facts(),
    )
}

pub(super) fn boundary_parent() -> Vec<(OsString, OsString)> {
    env(&[
        ("HOME", "/home/u"),
        ("PATH", "/usr/bin:/bin"),
        ("SSL_CERT_FILE", "/boundary/ca-cert.pem"),
        ("SSL_CERT_DIR", "/boundary"),
        ("NODE_EXTRA_CA_CERTS", "/boundary/ca-cert.pem"),
    ])
}

#[test]
fn boundary_shape_exposes_bundles_not_the_key_directory() {
    let mut plan = plan_with(&[], &boundary_parent(), outcome(true, true));
    assert!(
        plan.verify(&MapResolver::default()).is_empty(),
        "{:?}",
        plan.violations
    );
    assert_eq!(plan.env.get("SSL_CERT_FILE"), Some(OsStr::new(BUNDLE)));
    assert_eq!(
        plan.env.get("NODE_EXTRA_CA_CERTS"),
        Some(OsStr::new(EXTRAS))
    );
    assert_eq!(plan.env.get("SSL_CERT_DIR"), None);
    assert!(plan.fs.readable(Path::new(BUNDLE)));
    assert!(plan.fs.readable(Path::new(EXTRAS)));
    assert!(!plan.fs.readable(Path::new("/boundary/ca-key.pem")));
    assert!(!plan.fs.readable(Path::new("/boundary")));
    // Exactly the two bundle files were added for trust, not their directory.
    let trust_entries: Vec<&Path> = plan
        .fs
        .entries
        .iter()
        .filter(|e| e.reason.starts_with("trust"))
        .map(|e| e.path.as_path())
        .collect();
    assert_eq!(trust_entries, vec![Path::new(BUNDLE), Path::new(EXTRAS)]);
    // Other cached files are not exposed: they sit in the private, empty HOME.
    let other = plan
        .fs
        .decide(Path::new("/home/u/.cache/sandspawn/trust/other.pem"))
        .unwrap();
    assert_eq!(
        (other.access.clone(), other.path.as_path()),
        (Access::Tmpfs, Path::new("/home/u"))
    );
}

#[test]
fn hidden_home_becomes_a_private_tmpfs_and_readable_home_does_not() {
    let plan = plan_with(&[], &boundary_parent(), outcome(false, false));
    let home = plan.fs.decide(Path::new("/home/u")).unwrap();
    assert_eq!(home.access, Access::Tmpfs);
    assert!(
        !plan.fs.readable(Path::new("/home/u/.ssh/id_ed25519")),
        "default deny under HOME"
    );

    let read_home = Layer {
        origin: "flags".into(),
        read: vec!["~".into()],
        ..Layer::default()
    };
    let plan = plan_with(&[read_home], &boundary_parent(), outcome(false, false));
    assert_eq!(
        plan.fs.decide(Path::new("/home/u/x")).unwrap().access,
        Access::Read
    );
    assert!(
        !plan.fs.readable(Path::new("/home/u/.ssh/id_ed25519")),
        "default deny still wins"
    );
}

#[test]
fn tmpdir_is_private_tmp_unless_the_parents_is_writable() {
    let parent = env(&[("HOME", "/home/u"), ("TMPDIR", "/var/tmp/u")]);
    let plan = plan_with(&[], &parent, outcome(false, false));
    assert_eq!(plan.env.get("TMPDIR"), Some(OsStr::new("/tmp")));
    assert_eq!(
        plan.fs.decide(Path::new("/tmp/x")).unwrap().access,
        Access::Tmpfs
    );

    let parent = env(&[("HOME", "/home/u"), ("TMPDIR", "/work/proj/tmp")]);
    let ws = Layer {
        origin: "flags".into(),
        presets: vec!["workspace".into()],
        ..Layer::default()
    };
    let plan = plan_with(&[ws], &parent, outcome(false, false));
    assert_eq!(plan.env.get("TMPDIR"), Some(OsStr::new("/work/proj/tmp")));
}

#[test]
fn a_tmpdir_below_a_private_tmpfs_goes_to_the_private_tmp() {
    // pam_tmpdir's /tmp/user/1000, or a TMPDIR under the hidden HOME: both
    // are writable on paper (below a tmpfs) but do not exist inside, where
    // each tmpfs starts empty; mktemp there fails with ENOENT.
    for tmpdir in ["/tmp/user/1000", "/home/u/tmp"] {
        let parent = env(&[("HOME", "/home/u"), ("TMPDIR", tmpdir)]);
        let plan = plan_with(&[], &parent, outcome(false, false));
        assert_eq!(plan.env.get("TMPDIR"), Some(OsStr::new("/tmp")), "{tmpdir}");
    }
    // The private /tmp itself, named as such, stays.
    let parent = env(&[("HOME", "/home/u"), ("TMPDIR", "/tmp")]);
    let plan = plan_with(&[], &parent, outcome(false, false));
    assert_eq!(plan.env.get("TMPDIR"), Some(OsStr::new("/tmp")));
}

#[test]
fn a_symlink_hop_out_of_the_view_is_a_violation_naming_the_variable() {
    let mut plan = plan_with(&[], &boundary_parent(), outcome(true, false));
    let mut resolver = MapResolver::default();
    // The cache directory is a link into a place the policy does not expose.
    resolver
        .links
        .insert("/home/u/.cache".into(), "/data/cache".into());
    let violations = plan.verify(&resolver).to_vec();
    assert!(!violations.is_empty());
    let names: Vec<&str> = violations.iter().map(|v| v.variable.as_str()).collect();
    assert!(names.contains(&"SSL_CERT_FILE"), "{names:?}");
    let v = violations
        .iter()
        .find(|v| v.variable == "SSL_CERT_FILE")
        .unwrap();
    assert_eq!(
        v.path,
        PathBuf::from("/data/cache/sandspawn/trust/1111.pem")
    );
    assert!(v.problem.contains("symlink hop 1"), "{}", v.problem);
    // Every replace-role variable is reported, not only the first.
    let replace = families::TRUST_VARS
        .iter()
        .filter(|t| t.role == crate::env::TrustRole::Replace)
        .count();
    assert_eq!(
        names
            .iter()
            .filter(|n| families::trust_var(n.as_bytes()).is_some())
            .count(),
        replace
    );
}

#[test]
fn hops_through_readable_links_are_fine() {
    let mut plan = plan_with(&[], &boundary_parent(), outcome(true, false));
    let mut resolver = MapResolver::default();
    resolver
        .links
        .insert("/home/u/.cache".into(), "/etc/cache-link-target".into());
    // /etc is a system root: the hop stays readable.
    assert!(plan.verify(&resolver).is_empty(), "{:?}", plan.violations);
}

#[test]
fn relative_home_is_reported() {
    let mut plan = plan_with(
        &[],
        &env(&[("HOME", "relative/home")]),
        outcome(false, false),
    );
    let v = plan.verify(&MapResolver::default()).to_vec();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].variable, "HOME");
    assert!(v[0].problem.contains("not an absolute path"));
}

#[test]
fn lowering_orders_parents_before_children_and_masks_after_grants() {
    let layers = [Layer {
        origin: "flags".into(),
        read: vec!["/".into()],
        write: vec!["/work/proj".into()],
        deny: vec!["/work/proj/secret".into(), "/nonexistent".into()],
        ..Layer::default()
    }];
    let cwd = Path::new("/work/proj");
    let parent = env(&[("HOME", "/home/u")]);
    let policy = Policy::resolve(
        &layers,
        &ResolveContext {
            cwd,
            home: Some(Path::new("/home/u")),
        },
    )
    .unwrap();
    let mut f = facts();
    f.kinds.insert("/work/proj/secret".into(), PathKind::Dir);
    f.kinds.insert("/nonexistent".into(), PathKind::Missing);
    f.kinds.insert("/home/u/.ssh".into(), PathKind::Dir);
    f.kinds.insert("/home/u/.netrc".into(), PathKind::File);
    let plan = assemble(
        vec!["ls".into(), "-l".into()],
        cwd.into(),
        policy,
        &parent,
        outcome(true, false),
        &f,
    );
    let spec = plan.lower();
    assert_eq!(spec.program, "ls");
    assert_eq!(spec.args, vec![OsString::from("-l")]);
    let ro = |p: &str| Mount::ReadOnly { path: p.into() };
    assert_eq!(
        spec.mounts,
        vec![
            // No /bin link: "/" holds it already, and a second one cannot
            // be made where the bound view has one. /usr and /etc stay
            // read-only binds.
            ro("/"),
            ro("/usr"),
            ro("/etc"),
            Mount::Tmpfs {
                path: "/tmp".into()
            },
            Mount::ReadWrite {
                path: "/work/proj".into()
            },
            Mount::Mask {
                path: "/home/u/.ssh".into(),
                is_dir: true
            },
            Mount::Mask {
                path: "/home/u/.netrc".into(),
                is_dir: false
            },
            Mount::Mask {
                path: "/work/proj/secret".into(),
                is_dir: true
            },
            ro(BUNDLE),
        ]
    );
    assert!(spec
        .env
        .iter()
        .any(|(n, v)| n == "SSL_CERT_FILE" && v == BUNDLE));
}

#[test]
fn denies_the_caller_cannot_read_are_not_lowered() {
    let cwd = Path::new("/work/proj");
    let policy = Policy::resolve(
        &[],
        &ResolveContext {
            cwd,
            home: Some(Path::new("/home/u")),
        },
    )
    .unwrap();
    let mut f = facts();
    f.kinds.insert("/etc/shadow".into(), PathKind::Unreadable);
    f.kinds.insert("/etc/ssl/private".into(), PathKind::Dir);
    let plan = assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &env(&[("HOME", "/home/u")]),
        outcome(false, false),
        &f,
    );
    let masks: Vec<_> = plan
        .lower()
        .mounts
        .into_iter()
        .filter(|m| matches!(m, Mount::Mask { .. }))
        .collect();
    assert_eq!(
        masks,
        vec![Mount::Mask {
            path: "/etc/ssl/private".into(),
            is_dir: true
        }]
    );
    // The plan still says /etc/shadow is denied.
    assert!(!plan.fs.readable(Path::new("/etc/shadow")));
}

#[test]
fn denies_through_a_symlinked_home_hide_the_real_path_and_mask_no_link() {
    // Silverblue: /home -> var/home. A mask at /home/u/.ssh under `read /`
    // sits behind the bound link (bwrap: "Can't mkdir"), and under a root
    // at /var/home the written path would hide nothing.
    let masks_and_reads = |read: &str| {
        let cwd = Path::new("/work/proj");
        let home = Some(Path::new("/home/u"));
        let layers = [Layer {
            origin: "flags".into(),
            read: vec![read.into()],
            ..Layer::default()
        }];
        let policy = Policy::resolve(&layers, &ResolveContext { cwd, home }).unwrap();
        let mut f = facts();
        f.kinds.insert("/home/u/.ssh".into(), PathKind::Dir);
        for (path, link, resolved) in [
            ("/home/u/.ssh", "/home", "/var/home/u/.ssh"),
            ("/home/u", "/home", "/var/home/u"),
        ] {
            let alias = Alias {
                link: link.into(),
                resolved: resolved.into(),
            };
            f.aliases.insert(path.into(), alias);
        }
        let parent = env(&[("HOME", "/home/u")]);
        let plan = assemble(
            vec!["true".into()],
            cwd.into(),
            policy,
            &parent,
            outcome(false, false),
            &f,
        );
        assert!(!plan.fs.readable(Path::new("/var/home/u/.ssh/id_ed25519")));
        plan.lower()
            .mounts
            .into_iter()
            .filter(|m| {
                matches!(m, Mount::Mask { .. })
                    || m.path().starts_with("/home")
                    || m.path().starts_with("/var")
            })
            .collect::<Vec<_>>()
    };
    let mask = |p: &str| Mount::Mask {
        path: p.into(),
        is_dir: true,
    };
    let ro = |p: &str| Mount::ReadOnly { path: p.into() };
    assert_eq!(masks_and_reads("/"), vec![mask("/var/home/u/.ssh")]);
    assert_eq!(
        masks_and_reads("~"),
        vec![
            ro("/home/u"),
            ro("/var/home/u"),
            mask("/home/u/.ssh"),
            mask("/var/home/u/.ssh")
        ]
    );
}

#[test]
fn protected_paths_are_read_only_inside_a_writable_root() {
    let ws = Layer {
        origin: "flags".into(),
        presets: vec!["workspace".into()],
        ..Layer::default()
    };
    let cwd = Path::new("/work/proj");
    let policy = Policy::resolve(
        &[ws],
        &ResolveContext {
            cwd,
            home: Some(Path::new("/home/u")),
        },
    )
    .unwrap();
    let mut f = facts();
    f.protected = vec!["/work/proj/.git".into()];
    let plan = assemble(
        vec!["git".into()],
        cwd.into(),
        policy,
        &env(&[("HOME", "/home/u")]),
        outcome(false, false),
        &f,
    );
    assert!(plan.fs.writable(Path::new("/work/proj/src/main.rs")));
    assert!(!plan
        .fs
        .writable(Path::new("/work/proj/.git/hooks/pre-commit")));
    assert!(plan.fs.readable(Path::new("/work/proj/.git/config")));
    let mounts = plan.lower().mounts;
    let rw = mounts
        .iter()
        .position(|m| {
            *m == Mount::ReadWrite {
                path: "/work/proj".into(),
            }
        })
        .unwrap();
    let ro = mounts
        .iter()
        .position(|m| {
            *m == Mount::ReadOnly {
                path: "/work/proj/.git".into(),
            }
        })
        .unwrap();
    assert!(rw < ro, "{mounts:?}");
}

#[test]
fn without_private_mounts_home_and_tmpdir_use_sandspawn_dirs_and_host_tmp_stays_hidden() {
    let mut f = facts();
    f.no_private_mounts = Some(PrivateDirs {
        dir: "/home/u/.cache/sandspawn/run/7-9-0".into(),
        home: "/home/u/.cache/sandspawn/run/7-9-0/home".into(),
        tmp: "/home/u/.cache/sandspawn/run/7-9-0/tmp".into(),
    });
    let cwd = Path::new("/work/proj");
    let policy = Policy::resolve(
        &[],
        &ResolveContext {
            cwd,
            home: Some(Path::new("/home/u")),
        },
    )
    .unwrap();
    let mut plan = assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &boundary_parent(),
        outcome(true, false),
        &f,
    );
    assert!(
        plan.verify(&MapResolver::default()).is_empty(),
        "{:?}",
        plan.violations
    );
    assert_eq!(
        plan.env.get("HOME"),
        Some(OsStr::new("/home/u/.cache/sandspawn/run/7-9-0/home"))
    );
    assert_eq!(
        plan.env.get("TMPDIR"),
        Some(OsStr::new("/home/u/.cache/sandspawn/run/7-9-0/tmp"))
    );
    assert!(
        !plan.fs.readable(Path::new("/tmp/boundary/ca-key.pem")),
        "host /tmp must stay hidden"
    );
    assert!(!plan.fs.readable(Path::new("/home/u/.bashrc")));
    assert!(plan.fs.entries.iter().all(|e| e.access != Access::Tmpfs));
}
