//! Lowering where grants, denies and links nest (found by the backend
//! equivalence test, tests/backend_equivalence.rs): what bwrap is asked to
//! mount must be mountable and must not show more than the plan grants.

use std::path::Path;

use sandspawn_linux::Mount;

use super::assemble::Alias;
use super::tests::{facts, outcome};
use super::*;
use crate::policy::{Layer, Policy, ResolveContext};

/// The plan for `layer` run from `cwd`, with `dirs` existing as
/// directories and `links` as `(written path, deepest link, resolved)`.
fn plan(cwd: &str, layer: Layer, dirs: &[&str], links: &[(&str, &str, &str)]) -> Plan {
    let cwd = Path::new(cwd);
    let policy = Policy::resolve(&[layer], &ResolveContext { cwd, home: None }).unwrap();
    let mut f = facts();
    for d in dirs {
        f.kinds.insert(d.into(), PathKind::Dir);
    }
    for (path, link, resolved) in links {
        let alias = Alias {
            link: link.into(),
            resolved: resolved.into(),
        };
        f.aliases.insert(path.into(), alias);
    }
    assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &[],
        outcome(false, false),
        &f,
    )
}

fn layer(read: &[&str], write: &[&str], deny: &[&str]) -> Layer {
    let v = |l: &[&str]| l.iter().map(|p| p.into()).collect();
    Layer {
        origin: "flags".into(),
        presets: vec![],
        read: v(read),
        write: v(write),
        deny: v(deny),
        ..Layer::default()
    }
}

/// The mounts at or under `under`.
fn mounts_under(plan: &Plan, under: &str) -> Vec<Mount> {
    (plan.lower().mounts.into_iter())
        .filter(|m| m.path().starts_with(under))
        .collect()
}

#[test]
fn a_grant_through_a_link_the_view_shows_is_not_mounted_at_the_link() {
    // `--read /r --read /r/ws/key-link` (-> /r/home/.ssh/id, absolute):
    // bwrap resolved the mount point through the link against its set-up
    // root and failed: "Can't create file at /r/ws/key-link: No such file
    // or directory". The link shows through /r; its target is bound.
    let p = plan(
        "/r",
        layer(&["/r", "/r/ws/key-link"], &[], &[]),
        &["/r"],
        &[("/r/ws/key-link", "/r/ws/key-link", "/r/home/.ssh/id")],
    );
    assert_eq!(
        mounts_under(&p, "/r"),
        vec![
            Mount::ReadOnly { path: "/r".into() },
            Mount::ReadOnly {
                path: "/r/home/.ssh/id".into()
            },
        ]
    );
}

#[test]
fn a_protected_path_under_a_writable_root_through_a_shown_link_is_not_mounted_there() {
    // `--read /r --write /r/plink` (-> /r/real/proj, absolute): bwrap
    // failed on the protected /r/plink/.git ("Can't mkdir …/plink/.git");
    // the real path's .git is protected in its place.
    let mut f = facts();
    f.kinds.insert("/r".into(), PathKind::Dir);
    let alias = Alias {
        link: "/r/plink".into(),
        resolved: "/r/real/proj".into(),
    };
    f.aliases.insert("/r/plink".into(), alias);
    // What protect::probe finds under both spellings of the root.
    f.protected = vec!["/r/plink/.git".into(), "/r/real/proj/.git".into()];
    let cwd = Path::new("/r");
    let l = layer(&["/r"], &["/r/plink"], &[]);
    let policy = Policy::resolve(&[l], &ResolveContext { cwd, home: None }).unwrap();
    let p = assemble(
        vec!["true".into()],
        cwd.into(),
        policy,
        &[],
        outcome(false, false),
        &f,
    );
    assert_eq!(
        mounts_under(&p, "/r"),
        vec![
            Mount::ReadOnly { path: "/r".into() },
            Mount::ReadWrite {
                path: "/r/real/proj".into()
            },
            Mount::ReadOnly {
                path: "/r/real/proj/.git".into()
            },
        ]
    );
}

#[test]
fn a_grant_through_a_link_outside_the_view_is_still_mounted_there() {
    let p = plan(
        "/w",
        layer(&["/r/alias/pub"], &[], &[]),
        &["/w"],
        &[("/r/alias/pub", "/r/alias", "/r/data/pub")],
    );
    let at_link = Mount::ReadOnly {
        path: "/r/alias/pub".into(),
    };
    assert!(mounts_under(&p, "/r").contains(&at_link));
}

#[test]
fn a_deny_seen_through_a_shown_link_does_not_cover_a_grant_inside_it() {
    // `--read /r --read /r/ws/ld --deny /r/data/priv --read
    // /r/data/priv/inner` with /r/ws/ld -> ../data: the deny seen through
    // the link was masked at /r/ws/ld/priv, which bwrap resolved to
    // /r/data/priv *after* binding inner there, hiding the grant.
    let p = plan(
        "/r",
        layer(
            &["/r", "/r/ws/ld", "/r/data/priv/inner"],
            &[],
            &["/r/data/priv"],
        ),
        &["/r", "/r/data/priv", "/r/data/priv/inner"],
        &[("/r/ws/ld", "/r/ws/ld", "/r/data")],
    );
    assert!(mounts_under(&p, "/r/ws").is_empty());
    assert_eq!(
        mounts_under(&p, "/r/data"),
        vec![
            Mount::ReadOnly {
                path: "/r/data".into()
            },
            Mount::Mask {
                path: "/r/data/priv".into(),
                is_dir: true
            },
            Mount::ReadOnly {
                path: "/r/data/priv/inner".into()
            },
        ]
    );
}

#[test]
fn a_deny_inside_a_masked_directory_is_not_mounted_again() {
    // `--read /r --deny /r/ws --deny /r/ws/src/deep`: the inner mask made
    // bwrap create src/deep in the hidden ws, listing `src` there.
    let p = plan(
        "/r",
        layer(&["/r"], &[], &["/r/ws", "/r/ws/src/deep"]),
        &["/r", "/r/ws", "/r/ws/src/deep"],
        &[],
    );
    assert_eq!(
        mounts_under(&p, "/r/ws"),
        vec![Mount::Mask {
            path: "/r/ws".into(),
            is_dir: true
        }]
    );
}

#[test]
fn a_working_directory_inside_a_hidden_path_starts_empty() {
    // `--preset read-all --deny /r/ws` run from /r/ws/src: bwrap failed
    // with "Can't chdir to /r/ws/src"; Landlock ran. Both now start in an
    // empty, read-only directory, with a warning.
    let mut l = layer(&[], &[], &["/r/ws"]);
    l.presets = vec!["read-all".into()];
    let p = plan("/r/ws/src", l, &["/r/ws", "/r/ws/src"], &[]);
    assert_eq!(
        mounts_under(&p, "/r/ws"),
        vec![
            Mount::Mask {
                path: "/r/ws".into(),
                is_dir: true
            },
            Mount::Mask {
                path: "/r/ws/src".into(),
                is_dir: true
            },
        ]
    );
    assert!(
        p.warnings.iter().any(|w| w
            == "the working directory /r/ws/src is inside the hidden /r/ws: the command \
                starts there but sees none of it; grant it (--read .) or run from another \
                directory"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn a_read_root_inside_a_writable_root_through_a_link_is_read_only_under_the_link_too() {
    // `--write /r/wslink` (-> /r/ws) run from /r/ws/src (readonly preset):
    // bwrap bound /r/wslink writable and /r/ws/src read-only only by its
    // real path, so /r/wslink/src/main.rs could be written.
    let mut l = layer(&[], &["/r/wslink"], &[]);
    l.presets = vec!["readonly".into()];
    let p = plan(
        "/r/ws/src",
        l,
        &["/r/ws", "/r/ws/src"],
        &[("/r/wslink", "/r/wslink", "/r/ws")],
    );
    assert_eq!(
        mounts_under(&p, "/r/wslink"),
        vec![
            Mount::ReadWrite {
                path: "/r/wslink".into()
            },
            Mount::ReadOnly {
                path: "/r/wslink/src".into()
            },
        ]
    );
}
