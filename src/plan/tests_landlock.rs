//! The Landlock shape (no private mounts): HOME moves to sandspawn's own
//! directory, and what the user granted under the real HOME is named.

use std::path::{Path, PathBuf};

use super::tests::{env, facts, outcome};
use super::*;
use crate::policy::{Layer, Policy, ResolveContext};

fn landlock_plan(layer: Layer) -> Plan {
    let mut f = facts();
    f.no_private_mounts = Some(PrivateDirs {
        dir: "/home/u/.cache/sandspawn/run/7-9-0".into(),
        home: "/home/u/.cache/sandspawn/run/7-9-0/home".into(),
        tmp: "/home/u/.cache/sandspawn/run/7-9-0/tmp".into(),
    });
    let cwd = Path::new("/home/u/proj");
    let home = Some(Path::new("/home/u"));
    let policy = Policy::resolve(&[layer], &ResolveContext { cwd, home }).unwrap();
    assemble(
        vec!["cargo".into(), "fetch".into()],
        cwd.into(),
        policy,
        &env(&[("HOME", "/home/u")]),
        outcome(false, false),
        &f,
    )
}

#[test]
fn a_dot_directory_granted_under_the_moved_home_is_named() {
    let plan = landlock_plan(Layer {
        origin: "flags".into(),
        read: vec![
            PathBuf::from("/home/u/.rustup"),
            PathBuf::from("/home/u/.cargo/bin"),
        ],
        // A project is found by its path, not through $HOME.
        write: vec![PathBuf::from("/home/u/proj")],
        ..Layer::default()
    });
    let named: Vec<&String> = plan
        .warnings
        .iter()
        .filter(|w| w.starts_with("landlock: HOME is"))
        .collect();
    assert_eq!(
        named,
        [
            "landlock: HOME is /home/u/.cache/sandspawn/run/7-9-0/home (no private HOME without a \
             mount namespace), so /home/u/.rustup is reached by its own path only: a program that \
             looks for it under $HOME does not find it; point the program at it (RUSTUP_HOME, \
             CARGO_HOME, npm_config_cache… with --set), or use the bwrap backend",
            "landlock: HOME is /home/u/.cache/sandspawn/run/7-9-0/home (no private HOME without a \
             mount namespace), so /home/u/.cargo/bin is reached by its own path only: a program that \
             looks for it under $HOME does not find it; point the program at it (RUSTUP_HOME, \
             CARGO_HOME, npm_config_cache… with --set), or use the bwrap backend",
        ]
    );
}

#[test]
fn a_root_a_set_variable_points_at_is_not_named() {
    let plan = landlock_plan(Layer {
        origin: "flags".into(),
        read: vec![
            PathBuf::from("/home/u/.rustup"),
            PathBuf::from("/home/u/.cargo/bin"),
        ],
        set: vec![
            ("RUSTUP_HOME".into(), "/home/u/.rustup".into()),
            ("PATH".into(), "/home/u/.cargo/bin:/usr/bin".into()),
        ],
        ..Layer::default()
    });
    assert!(
        !plan
            .warnings
            .iter()
            .any(|w| w.starts_with("landlock: HOME is")),
        "{:?}",
        plan.warnings
    );
}
