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
