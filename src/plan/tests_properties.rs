//! Plan properties: for arbitrary parents and policies, what the plan
//! exports is usable inside.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::tests::{env, outcome, plan_with, BUNDLE, EXTRAS};
use super::*;
use crate::env::{families, Source};
use crate::paths::MapResolver;
use crate::policy::Layer;

fn arb_path() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "/",
        "/home/u",
        "/home/u/.cache",
        "/home/u/.cache/sandspawn",
        "/home/u/proj",
        "/work",
        "/work/proj",
        "/work/proj/sub",
        "/etc",
        "/tmp",
        "/var/tmp",
        "/boundary",
        "/run/user/1000",
        "/data",
    ])
    .prop_map(String::from)
}

fn arb_var() -> impl Strategy<Value = (String, String)> {
    let names: Vec<&'static str> = families::TRUST_VARS
        .iter()
        .map(|v| v.name)
        .chain([
            "HOME",
            "TMPDIR",
            "XDG_RUNTIME_DIR",
            "PATH",
            "HTTPS_PROXY",
            "no_proxy",
            "SECRET",
            "LC_ALL",
            "NODE_TLS_REJECT_UNAUTHORIZED",
        ])
        .collect();
    (prop::sample::select(names), arb_path()).prop_map(|(n, v)| (n.to_string(), v))
}

prop_compose! {
    fn arb_layer()(read in prop::collection::vec(arb_path(), 0..3),
                   write in prop::collection::vec(arb_path(), 0..3),
                   deny in prop::collection::vec(arb_path(), 0..3),
                   bundle in any::<bool>(), extras in any::<bool>())
                   -> (Layer, bool, bool) {
        (Layer {
            origin: "prop".into(),
            read: read.into_iter().map(PathBuf::from).collect(),
            write: write.into_iter().map(PathBuf::from).collect(),
            deny: deny.into_iter().map(PathBuf::from).collect(),
            ..Layer::default()
        }, bundle, extras)
    }
}

proptest! {
    /// For arbitrary parents and policies, every exported path-valued
    /// variable is usable in the sandbox, and trust adds exactly the bundles.
    #[test]
    fn every_exported_path_is_readable((layer, bundle, extras) in arb_layer(),
                                       vars in prop::collection::vec(arb_var(), 0..12)) {
        let mut parent = env(&[("HOME", "/home/u")]);
        parent.extend(vars.into_iter().map(|(n, v)| (OsString::from(n), OsString::from(v))));
        let mut plan = plan_with(&[layer], &parent, outcome(bundle, extras));
        let violations = plan.verify(&MapResolver::default()).to_vec();
        prop_assert!(violations.is_empty(), "{:?}", violations);
        for var in &plan.env.vars {
            let path = Path::new(&var.value);
            match (&var.source, var.name.to_str().unwrap_or("")) {
                (Source::Trust { .. }, _) | (_, "HOME") | (_, "XDG_RUNTIME_DIR") => prop_assert!(plan.fs.readable(path), "{:?}", var),
                // Writable, and there: a tmpfs starts empty, so a TMPDIR
                // below one would not exist inside.
                (_, "TMPDIR") => prop_assert!(
                    plan.fs.decide(path).is_some_and(|e| e.access == Access::Write
                        || (e.access == Access::Tmpfs && e.path == path)),
                    "{:?}", var
                ),
                _ => {}
            }
            if let Source::Trust { .. } = var.source {
                prop_assert!(var.value == BUNDLE || var.value == EXTRAS);
            }
        }
        for e in plan.fs.entries.iter().filter(|e| e.reason.starts_with("trust")) {
            prop_assert!(e.path == Path::new(BUNDLE) || e.path == Path::new(EXTRAS));
        }
    }
}
