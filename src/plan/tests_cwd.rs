//! The working directory against the sandbox's own directories: a cwd
//! inside the private /tmp must stay what the policy made it; roots that
//! do not exist on the host are not mounted.

use std::path::Path;

use sandspawn_linux::Mount;

use super::tests::{env, facts, outcome};
use super::*;
use crate::policy::{Layer, Policy, ResolveContext};

fn plan_in(cwd: &str, layer: Layer) -> Plan {
    let cwd = Path::new(cwd);
    let home = Some(Path::new("/home/u"));
    let policy = Policy::resolve(&[layer], &ResolveContext { cwd, home }).unwrap();
    let parent = env(&[("HOME", "/home/u")]);
    assemble(
        vec!["ls".into()],
        cwd.into(),
        policy,
        &parent,
        outcome(false, false),
        &facts(),
    )
}

#[test]
fn a_cwd_inside_the_private_tmp_granted_by_a_broader_root_is_bound_back() {
    // `cd /tmp/ws && sandspawn run --preset read-all -- ls` failed in bwrap:
    // "Can't chdir to /tmp/ws", the tmpfs at /tmp hid the granted cwd.
    let layer = Layer {
        origin: "flags".into(),
        presets: vec!["read-all".into()],
        ..Layer::default()
    };
    let mounts = plan_in("/tmp/ws", layer).lower().mounts;
    let at = |m: &Mount| mounts.iter().position(|x| x == m);
    let tmpfs = at(&Mount::Tmpfs {
        path: "/tmp".into(),
    });
    let cwd = at(&Mount::ReadOnly {
        path: "/tmp/ws".into(),
    });
    assert!(
        tmpfs.is_some() && cwd > tmpfs,
        "the cwd must be bound after the private /tmp: {mounts:?}"
    );
}

#[test]
fn a_hidden_cwd_inside_the_private_tmp_is_made_to_start_in() {
    // `cd /tmp/t/ws/deep/cwd && sandspawn run --preset read-all --deny ..`
    // failed in bwrap: "Can't chdir to /tmp/t/ws/deep/cwd", the deny inside
    // the tmpfs was not mounted, so the path did not exist.
    let layer = Layer {
        origin: "flags".into(),
        presets: vec!["read-all".into()],
        deny: vec!["/tmp/t/ws/deep".into()],
        ..Layer::default()
    };
    let mounts = plan_in("/tmp/t/ws/deep/cwd", layer).lower().mounts;
    let at = |m: &Mount| mounts.iter().position(|x| x == m);
    let tmpfs = at(&Mount::Tmpfs {
        path: "/tmp".into(),
    });
    let cwd = at(&Mount::Mask {
        path: "/tmp/t/ws/deep/cwd".into(),
        is_dir: true,
    });
    assert!(
        tmpfs.is_some() && cwd > tmpfs,
        "the cwd must be an empty mask after the private /tmp: {mounts:?}"
    );
    // Nothing else of the hidden path is mounted: the tmpfs hides it.
    assert!(
        !mounts
            .iter()
            .any(|m| matches!(m, Mount::Mask { path, .. } if path == Path::new("/tmp/t/ws/deep"))),
        "{mounts:?}"
    );
}

#[test]
fn a_cwd_hidden_by_a_deny_the_private_tmp_or_home_replaces_is_made_to_start_in() {
    // `--deny /tmp` run from /tmp/ws, `--deny ~` run from ~/proj (read-all):
    // the tmpfs replacing the deny hid the cwd too, and bwrap failed
    // "Can't chdir".
    for (deny, cwd) in [("/tmp", "/tmp/ws"), ("/home/u", "/home/u/proj")] {
        let layer = Layer {
            origin: "flags".into(),
            presets: vec!["read-all".into()],
            deny: vec![deny.into()],
            ..Layer::default()
        };
        let plan = plan_in(cwd, layer);
        assert!(
            plan.warnings.iter().any(|w| w
                == &format!(
                    "the working directory {cwd} is inside the hidden {deny}: the command \
                     starts there but sees none of it; grant it (--read .) or run from \
                     another directory"
                )),
            "{:?}",
            plan.warnings
        );
        let mounts = plan.lower().mounts;
        let at = |m: &Mount| mounts.iter().position(|x| x == m);
        let tmpfs = at(&Mount::Tmpfs { path: deny.into() });
        let mask = at(&Mount::Mask {
            path: cwd.into(),
            is_dir: true,
        });
        assert!(tmpfs.is_some() && mask > tmpfs, "{cwd}: {mounts:?}");
    }
}

#[test]
fn a_cwd_that_is_the_private_tmp_itself_is_warned_about() {
    // `cd /tmp && sandspawn run -- ls` lists an empty private /tmp under
    // bwrap (the host's under Landlock): say so instead of silently.
    let plan = plan_in("/tmp", Layer::default());
    assert_eq!(
        plan.warnings,
        vec![
            "the working directory /tmp is the sandbox's private /tmp, empty; \
             pass --write /tmp to use the host's /tmp, or run from another directory"
                .to_string()
        ]
    );
    let plan = plan_in(
        "/tmp",
        Layer {
            origin: "flags".into(),
            write: vec!["/tmp".into()],
            ..Layer::default()
        },
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn roots_missing_on_the_host_are_listed_but_not_mounted() {
    // `run --read /nonexistent` warned "it will not be visible", then bwrap
    // failed: "Can't find source path /nonexistent" (exit 1).
    let cwd = Path::new("/work/proj");
    let layer = Layer {
        origin: "flags".into(),
        read: vec!["/nonexistent".into()],
        write: vec!["/gone/out".into()],
        ..Layer::default()
    };
    let policy = Policy::resolve(&[layer], &ResolveContext { cwd, home: None }).unwrap();
    let mut f = facts();
    f.kinds.insert("/nonexistent".into(), PathKind::Missing);
    f.kinds.insert("/gone/out".into(), PathKind::Missing);
    let plan = assemble(
        vec!["ls".into()],
        cwd.into(),
        policy,
        &[],
        outcome(false, false),
        &f,
    );
    assert!(
        plan.fs.readable(Path::new("/nonexistent")),
        "still in the view"
    );
    let mounts = plan.lower().mounts;
    assert!(
        !mounts
            .iter()
            .any(|m| m.path() == Path::new("/nonexistent") || m.path() == Path::new("/gone/out")),
        "{mounts:?}"
    );
    assert!(mounts.contains(&Mount::ReadOnly {
        path: "/work/proj".into()
    }));
}

#[test]
fn a_deny_of_the_cwd_itself_is_enforced_not_only_listed() {
    // `run --deny .` and `cd ~/.aws && run`: the plan said "denied" (a deny
    // wins a tie), but lowering saw no grant *above* the path and dropped
    // the mask, so the cwd's read root exposed it.
    let cwd = Path::new("/work/proj");
    let layer = Layer {
        origin: "flags".into(),
        deny: vec![".".into()],
        ..Layer::default()
    };
    let policy = Policy::resolve(&[layer], &ResolveContext { cwd, home: None }).unwrap();
    let mut f = facts();
    f.kinds.insert("/work/proj".into(), PathKind::Dir);
    let plan = assemble(
        vec!["ls".into()],
        cwd.into(),
        policy,
        &[],
        outcome(false, false),
        &f,
    );
    assert!(!plan.fs.readable(Path::new("/work/proj/secret")));
    let mounts: Vec<Mount> = plan
        .lower()
        .mounts
        .into_iter()
        .filter(|m| m.path() == Path::new("/work/proj"))
        .collect();
    assert_eq!(
        mounts,
        vec![
            Mount::ReadOnly {
                path: "/work/proj".into()
            },
            Mount::Mask {
                path: "/work/proj".into(),
                is_dir: true
            },
        ]
    );
}

#[test]
fn a_writable_root_over_the_system_keeps_the_system_read_only() {
    // `write = ["/"]` binds the host's root writable; the system
    // directories are bound read-only over it (only the merged-/usr link,
    // which "/" already holds, is left out).
    let layer = Layer {
        origin: "flags".into(),
        write: vec!["/".into()],
        ..Layer::default()
    };
    let mounts = plan_in("/work/proj", layer).lower().mounts;
    let at = |m: &Mount| mounts.iter().position(|x| x == m);
    let root = at(&Mount::ReadWrite { path: "/".into() }).expect("/ bound writable");
    for dir in ["/usr", "/etc"] {
        let ro = at(&Mount::ReadOnly { path: dir.into() });
        assert!(
            ro > Some(root),
            "{dir} must be read-only over /: {mounts:?}"
        );
    }
    assert!(
        !mounts.iter().any(|m| matches!(m, Mount::Symlink { .. })),
        "{mounts:?}"
    );
}

#[test]
fn a_home_inside_the_private_tmp_gets_its_own_directory_after_it() {
    // HOME=/tmp/u: bwrap mounted the private /tmp over it and HOME did not
    // exist inside (`explain --verify`: "FAIL readable HOME (ENOENT)").
    let cwd = Path::new("/work/proj");
    let policy = Policy::resolve(
        &[Layer::default()],
        &ResolveContext {
            cwd,
            home: Some(Path::new("/tmp/u")),
        },
    )
    .unwrap();
    let plan = assemble(
        vec!["ls".into()],
        cwd.into(),
        policy,
        &env(&[("HOME", "/tmp/u")]),
        outcome(false, false),
        &facts(),
    );
    let mounts = plan.lower().mounts;
    let at = |p: &str| {
        mounts
            .iter()
            .position(|m| *m == Mount::Tmpfs { path: p.into() })
            .unwrap_or_else(|| panic!("no tmpfs at {p}: {mounts:?}"))
    };
    assert!(at("/tmp") < at("/tmp/u"), "{mounts:?}");
    assert_eq!(plan.env.get("HOME"), Some(std::ffi::OsStr::new("/tmp/u")));
}

#[test]
fn a_parent_cwd_that_is_not_absolute_is_refused_by_name() {
    // An empty one (a defaulted field) normalized to `/` and the command
    // ran there; a relative one was resolved against this process's cwd.
    for parent in ["", "docs"] {
        let req = Request {
            command: vec!["ls".into()],
            cwd: None,
            parent_cwd: parent.into(),
            parent_env: env(&[("HOME", "/home/u")]),
            layers: vec![],
            cache_dir: None,
            system_root: "/".into(),
        };
        let err = build(&req).unwrap_err();
        assert!(matches!(&err, BuildError::ParentCwd(p) if p == Path::new(parent)));
        assert_eq!(
            err.to_string(),
            format!(
                "the parent's working directory {parent:?} is not an absolute path \
                 (Request::parent_cwd, HostContext::parent_cwd); pass std::env::current_dir()"
            )
        );
    }
}

#[test]
fn a_relative_cache_dir_is_refused_by_name_and_not_created() {
    let parent = tempfile::tempdir().unwrap();
    let req = Request {
        command: vec!["ls".into()],
        cwd: None,
        parent_cwd: parent.path().into(),
        parent_env: env(&[("HOME", "/home/u")]),
        layers: vec![],
        cache_dir: Some("relcache".into()),
        system_root: "/".into(),
    };
    let err = build(&req).unwrap_err();
    assert!(matches!(&err, BuildError::RelativeCacheDir(p) if p == Path::new("relcache")));
    assert_eq!(
        err.to_string(),
        "the trust bundle cache directory \"relcache\" is not an absolute path \
         (Request::cache_dir, HostContext::cache_dir)"
    );
    assert!(!Path::new("relcache").exists());
}
