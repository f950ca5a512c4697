//! A read or write root written through a symlink grants what the link
//! leads to, and a grant deeper than a deny wins over it. Together they let
//! a link decide what a deny hides: a child that could write a directory
//! in an earlier run (`--write ~/src`) leaves `~/src/proj/out ->
//! ~/.ssh/id_ed25519` there, and a later run granting `~/src/proj/out`
//! hands the key over, the credential-store deny notwithstanding. So a
//! root whose real path lies strictly inside a deny that its written path
//! is outside of is hidden, both as written and where it leads, unless a
//! grant written without a link exposes that path anyway (the user named
//! it: `--read ~/.ssh/known_hosts`).

use std::path::{Path, PathBuf};

use crate::paths::{self, Resolver};
use crate::policy::{PathRule, Policy};

/// Denies for the roots of `policy` that lead through a link into a path
/// it hides, with one warning line each.
pub(super) fn denies(
    policy: &Policy,
    resolver: &dyn Resolver,
    warnings: &mut Vec<String>,
) -> Vec<PathRule> {
    let real = |p: &Path| {
        (resolver.hops(p).ok())
            .and_then(|h| h.last().cloned())
            .filter(|r| r != p)
    };
    // Each deny as written and where it leads (a deny of a link hides its
    // target too).
    let hidden: Vec<(PathBuf, &PathRule)> = (policy.deny.iter())
        .flat_map(|d| std::iter::once((d.path.clone(), d)).chain(real(&d.path).map(|r| (r, d))))
        .collect();
    let hidden_paths: Vec<PathBuf> = hidden.iter().map(|(p, _)| p.clone()).collect();
    let named: Vec<PathBuf> = (policy.read.iter().chain(&policy.write))
        .map(|r| r.path.clone())
        .collect();
    let mut out: Vec<PathRule> = Vec::new();
    for (rule, what) in
        (policy.read.iter().map(|r| (r, "read"))).chain(policy.write.iter().map(|r| (r, "write")))
    {
        let Some(to) = real(&rule.path) else {
            continue;
        };
        let Some((deny, by)) = hidden.iter().find(|(d, _)| {
            paths::is_within(&to, d)
                && !paths::same_path(&to, d)
                && !paths::is_within(&rule.path, d)
        }) else {
            continue;
        };
        if paths::granted_past_denies(&named, &hidden_paths, &to) {
            continue;
        }
        warnings.push(format!(
            "{}: a {what} root ({}) that leads through a symlink to {}, inside {} which is \
             hidden ({}); hidden in the sandbox (a link where a sandbox could write may have \
             been left there by it): grant {} by that name if it is meant",
            rule.path.display(),
            rule.origin,
            to.display(),
            deny.display(),
            by.origin,
            to.display()
        ));
        let origin = format!(
            "{} root {} leads through a symlink into the hidden {}",
            what,
            rule.path.display(),
            deny.display()
        );
        for path in [rule.path.clone(), to] {
            if !out.iter().any(|r| r.path == path) {
                out.push(PathRule {
                    path,
                    origin: origin.clone(),
                });
            }
        }
    }
    out
}
