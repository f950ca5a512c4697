//! `explain --verify`'s checks as a pure function of the plan.

use std::path::Path;

use super::tests::{boundary_parent, facts, outcome, BUNDLE, EXTRAS};
use super::*;
use crate::policy::{Layer, Policy, ResolveContext};

#[test]
fn checks_follow_the_plan_env_first_then_mounts_then_network() {
    use sandspawn_linux::verify::Expect;
    let layers = [Layer {
        origin: "flags".into(),
        write: vec!["/work/proj".into()],
        deny: vec!["/work/proj/secret".into()],
        ..Layer::default()
    }];
    let cwd = Path::new("/work/proj");
    let parent = boundary_parent();
    let home = Some(Path::new("/home/u"));
    let policy = Policy::resolve(&layers, &ResolveContext { cwd, home }).unwrap();
    let mut f = facts();
    f.kinds.insert("/work/proj/secret".into(), PathKind::Dir);
    f.protected = vec!["/work/proj/.git".into()];
    let plan = assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &parent,
        outcome(true, true),
        &f,
    );
    let got: Vec<(Expect, String)> = plan
        .checks()
        .iter()
        .map(|c| (c.expect, c.path.display().to_string()))
        .collect();
    let want: Vec<(Expect, &str)> = vec![
        (Expect::Certs, BUNDLE),
        (Expect::Certs, EXTRAS),
        (Expect::Readable, "/home/u"),
        (Expect::Writable, "/tmp"),
        (Expect::Readable, "/usr"),
        (Expect::Readable, "/etc"),
        (Expect::Writable, "/tmp"),
        (Expect::Writable, "/work/proj"),
        (Expect::Writable, "/home/u"),
        (Expect::ReadOnly, "/work/proj/.git"),
        (Expect::Hidden, "/work/proj/secret"),
        (Expect::NoInet, ""),
    ];
    let want: Vec<(Expect, String)> = want.into_iter().map(|(e, p)| (e, p.into())).collect();
    assert_eq!(got, want);
    // One line per bundle, named by the variables that point at it.
    let labels: Vec<String> = plan.checks()[..2]
        .iter()
        .map(|c| c.label.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        labels,
        vec![
            "AWS_CA_BUNDLE (and 15 more)",
            "CODEX_CA_CERTIFICATE (and 2 more)"
        ]
    );
}

/// A deny at the very path of a grant wins (README), so neither `--verify`
/// nor `explain --json` may present that grant as a promise: `--write x
/// --deny x` checked "writable x" and failed with EROFS/EACCES, and `--json`
/// listed x under `writable` as any grant.
#[test]
fn a_grant_denied_at_its_own_path_is_neither_checked_nor_listed() {
    use sandspawn_linux::verify::Expect;
    let layers = [Layer {
        origin: "flags".into(),
        write: vec!["/work/proj".into(), "/work/proj/src".into()],
        deny: vec!["/work/proj/src".into(), "/work/proj/.git".into()],
        ..Layer::default()
    }];
    let cwd = Path::new("/work/proj");
    let parent = boundary_parent();
    let home = Some(Path::new("/home/u"));
    let policy = Policy::resolve(&layers, &ResolveContext { cwd, home }).unwrap();
    let mut f = facts();
    f.kinds.insert("/work/proj/src".into(), PathKind::Dir);
    f.kinds.insert("/work/proj/.git".into(), PathKind::Dir);
    f.protected = vec!["/work/proj/.git".into()];
    let plan = assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &parent,
        outcome(true, true),
        &f,
    );
    let got: Vec<(Expect, String)> = plan
        .checks()
        .iter()
        .filter(|c| c.path.starts_with("/work/proj/"))
        .map(|c| (c.expect, c.path.display().to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Expect::Writable, "/work/proj".to_string()),
            (Expect::Hidden, "/work/proj/src".to_string()),
            (Expect::Hidden, "/work/proj/.git".to_string()),
        ]
    );
    let json = plan.to_json();
    // Each grant of the list, and whether it is marked overridden.
    let grants = |key: &str| -> Vec<(String, bool)> {
        json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let overridden = e.get("overridden") == Some(&serde_json::json!(true));
                (e["path"].as_str().unwrap().to_string(), overridden)
            })
            .filter(|(p, _)| p.starts_with("/work/proj"))
            .collect()
    };
    assert_eq!(
        grants("writable"),
        vec![
            ("/work/proj".to_string(), false),
            ("/work/proj/src".to_string(), true)
        ]
    );
    assert!(grants("readable").contains(&("/work/proj/.git".to_string(), true)));
    assert!(!grants("denied").iter().any(|(_, o)| *o), "{json}");
}

/// The private HOME replaces a deny of HOME (`--deny ~`); the deny's
/// "hidden" check then failed on the bundle's mount point inside it.
#[test]
fn a_deny_replaced_by_the_private_home_is_not_checked_as_hidden() {
    use sandspawn_linux::verify::Expect;
    let layers = [Layer {
        origin: "flags".into(),
        deny: vec!["/home/u".into()],
        ..Layer::default()
    }];
    let cwd = Path::new("/work/proj");
    let parent = boundary_parent();
    let home = Some(Path::new("/home/u"));
    let policy = Policy::resolve(&layers, &ResolveContext { cwd, home }).unwrap();
    let mut f = facts();
    f.kinds.insert("/home/u".into(), PathKind::Dir);
    let plan = assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &parent,
        outcome(true, true),
        &f,
    );
    let home_checks: Vec<Expect> = plan
        .checks()
        .iter()
        .filter(|c| c.path == Path::new("/home/u"))
        .map(|c| c.expect)
        .collect();
    assert!(!home_checks.contains(&Expect::Hidden), "{home_checks:?}");
    assert!(home_checks.contains(&Expect::Writable), "{home_checks:?}");
}
