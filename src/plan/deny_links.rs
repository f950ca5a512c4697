//! A read or write root written through a symlink grants what the link
//! leads to, and a grant deeper than a deny wins over it. Together they let
//! a link decide what a deny hides: a child that could write a directory
//! in an earlier run (`--write ~/src`) leaves `~/src/proj/out ->
//! ~/.ssh/id_ed25519` there, and a later run granting `~/src/proj/out`
//! hands the key over, the credential-store deny notwithstanding. So a
//! root whose real path lies strictly inside a deny that its written path
//! is outside of is hidden, both as written and where it leads, unless a
//! grant written without a link exposes that path anyway (the user named
//! it: `--read ~/.ssh/known_hosts`). So is a root that a link leads to or
//! into sandspawn's own state (`--write cfg`, `cfg -> ~/.config/sandspawn`):
//! a grant of the very path lifts its protection, which a link must not.

use std::path::{Path, PathBuf};

use crate::paths::{self, Resolver};
use crate::policy::{PathRule, Policy};

/// Denies for the roots of `policy` that lead through a link into a path
/// it hides, or to or into sandspawn's own state (`own`: its cache roots
/// and config directories, which a grant of the very path makes writable:
/// a link must not make it one), with one warning line each.
pub(super) fn denies(
    policy: &Policy,
    own: &[PathBuf],
    resolver: &dyn Resolver,
    warnings: &mut Vec<String>,
) -> Vec<PathRule> {
    let real = |p: &Path| {
        (resolver.hops(p).ok())
            .and_then(|h| h.last().cloned())
            .filter(|r| r != p)
    };
    // A path as written and where it leads: a deny of a link hides its
    // target too, and a root written under either spelling (/home/u/.ssh/x
    // with /home -> var/home) is written inside it.
    let spellings =
        |p: &Path| -> Vec<PathBuf> { std::iter::once(p.to_path_buf()).chain(real(p)).collect() };
    let inside = |p: &Path, all: &[PathBuf]| all.iter().any(|a| paths::is_within(p, a));
    let hidden: Vec<(Vec<PathBuf>, &PathRule)> = (policy.deny.iter())
        .map(|d| (spellings(&d.path), d))
        .collect();
    let hidden_paths: Vec<PathBuf> = hidden.iter().flat_map(|(p, _)| p.clone()).collect();
    let own: Vec<Vec<PathBuf>> = own.iter().map(|o| spellings(o)).collect();
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
        let own_state = (own.iter()).find(|o| inside(&to, o) && !inside(&rule.path, o));
        if let Some(o) = own_state.and_then(|o| o.first()) {
            warnings.push(format!(
                "{}: a {what} root ({}) that leads through a symlink to {}, which is \
                 sandspawn's own state; not granted in the sandbox (a link where a sandbox \
                 could write may have been left there by it): grant {} by that name if it is \
                 meant",
                rule.path.display(),
                rule.origin,
                to.display(),
                to.display()
            ));
            let origin = format!(
                "{what} root {} leads through a symlink into sandspawn's own {}",
                rule.path.display(),
                o.display()
            );
            push_both(&mut out, &rule.path, &to, &origin);
            continue;
        }
        let Some((deny, by)) = hidden.iter().find_map(|(all, by)| {
            let deny = all
                .iter()
                .find(|d| paths::is_within(&to, d) && !paths::same_path(&to, d))?;
            (!inside(&rule.path, all)).then_some((deny, by))
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
        push_both(&mut out, &rule.path, &to, &origin);
    }
    out
}

/// A deny of the root as written and of where it leads, once each.
fn push_both(out: &mut Vec<PathRule>, named: &Path, to: &Path, origin: &str) {
    for path in [named, to] {
        if !out.iter().any(|r| r.path == path) {
            out.push(PathRule {
                path: path.to_path_buf(),
                origin: origin.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::HostResolver;
    use crate::policy::{Layer, ResolveContext};

    fn policy(read: &[PathBuf], write: &[PathBuf], deny: &[PathBuf]) -> Policy {
        let layer = Layer {
            origin: "flags".into(),
            read: read.to_vec(),
            write: write.to_vec(),
            deny: deny.to_vec(),
            ..Layer::default()
        };
        let cwd = Path::new("/nonexistent-cwd");
        Policy::resolve(&[layer], &ResolveContext { cwd, home: None }).unwrap()
    }

    /// HOME reached through a link (/home -> var/home): what is written
    /// under it is written inside the deny or own directory under either
    /// spelling, and stays as granted; a planted link into them does not.
    #[test]
    fn either_spelling_of_a_deny_or_own_directory_counts_as_inside() {
        let t = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(t.path()).unwrap();
        for d in [
            "var/home/u/.ssh",
            "var/home/u/.cache/sandspawn/mcp/k/npm",
            "ws",
        ] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("var/home/u/.ssh/known_hosts"), "").unwrap();
        std::os::unix::fs::symlink("var/home", top.join("home")).unwrap();
        let ssh = top.join("home/u/.ssh");
        let own = [top.join("home/u/.cache/sandspawn")];
        let known = ssh.join("known_hosts");
        let npm = own[0].join("mcp/k/npm");
        let mut warnings = Vec::new();
        let p = policy(&[known], &[npm], std::slice::from_ref(&ssh));
        assert_eq!(denies(&p, &own, &HostResolver, &mut warnings), []);
        assert_eq!(warnings, Vec::<String>::new());

        std::os::unix::fs::symlink(ssh.join("known_hosts"), top.join("ws/kh")).unwrap();
        std::os::unix::fs::symlink(&own[0], top.join("ws/c")).unwrap();
        let p = policy(&[top.join("ws/kh")], &[top.join("ws/c")], &[ssh]);
        let hidden: Vec<PathBuf> = (denies(&p, &own, &HostResolver, &mut warnings).into_iter())
            .map(|r| r.path)
            .collect();
        assert_eq!(
            hidden,
            [
                top.join("ws/kh"),
                top.join("var/home/u/.ssh/known_hosts"),
                top.join("ws/c"),
                top.join("var/home/u/.cache/sandspawn"),
            ]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
