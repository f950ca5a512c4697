//! A read or write root granted through a symlink that a sandbox could
//! have planted. A child that could write a directory (`--write .`) leaves
//! `out -> ~/.bashrc` there; a later run granting `--write . --write out`
//! hands it a host file nobody named, one no deny covers (`deny_links`
//! sees only links into denies and sandspawn's own state). So a grant root
//! whose written path crosses a symlink lying inside a root that this same
//! policy makes writable (where the child of this run, or of an earlier
//! one, could have put it) is refused, unless where it leads is granted
//! anyway by a root written without such a link (`out -> ./build` under
//! `--write .`: nothing more is reached). Links elsewhere (`~/.cache ->
//! /data/cache`, `/lib -> usr/lib`) are the host's own and keep working.
//!
//! A write root that leads through any link into a `.git` or `.sandspawn`
//! directory, where its written path names none, is refused too: written
//! as `hooks` it would make another repository's hooks (which git on the
//! host runs) writable, past the protection that only looks for those
//! names under each root.

use std::path::{Component, Path, PathBuf};

use super::protect::PROTECTED_NAMES;
use crate::paths::{self, Resolver};
use crate::policy::{PathRule, Policy};

/// Why a grant root is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrantLinkError {
    /// Its path crosses a link inside a writable root.
    #[error(
        "{what} root {grant} ({origin}) crosses the symlink {link} (-> {stored}), which lies \
         in the writable root {root} where a sandbox could have left it, and leads to \
         {leads}; refusing to grant it: name {leads} instead if that is what is meant, or \
         remove the link",
        grant = .grant.display(),
        link = .link.display(),
        stored = .stored.display(),
        root = .root.display(),
        leads = .leads.display()
    )]
    Planted {
        /// "read" or "write".
        what: &'static str,
        /// The root as written.
        grant: PathBuf,
        /// The layer that granted it.
        origin: String,
        /// The link on the way.
        link: PathBuf,
        /// The link's target as stored.
        stored: PathBuf,
        /// The writable root holding the link.
        root: PathBuf,
        /// Where the grant leads.
        leads: PathBuf,
    },
    /// A write root leading through a link into repository metadata or
    /// sandspawn's own `.sandspawn`.
    #[error(
        "write root {grant} ({origin}) leads through a symlink to {leads}, inside a `{name}` \
         directory that sandspawn keeps read-only; refusing to make it writable: name {leads} \
         instead if that is what is meant",
        grant = .grant.display(),
        leads = .leads.display()
    )]
    IntoProtected {
        /// The root as written.
        grant: PathBuf,
        /// The layer that granted it.
        origin: String,
        /// Where it leads.
        leads: PathBuf,
        /// The protected name on the way (`.git`).
        name: &'static str,
    },
}

/// Refuse the first grant root of `policy` that crosses a link in one of
/// its writable roots, or that is a write root leading through a link into
/// a protected directory. `replaceable_dir` says whether this user may
/// change the entries of a directory (a root-owned `/` under `--write /`
/// holds links an unprivileged child cannot replace).
pub(super) fn check(
    policy: &Policy,
    resolver: &dyn Resolver,
    replaceable_dir: &dyn Fn(&Path) -> bool,
) -> Result<(), Box<GrantLinkError>> {
    let leads = |p: &Path| {
        let mut hops = Vec::new();
        let walked = resolver.walk(p, &mut hops);
        (walked.ok().and(hops.last().cloned())).unwrap_or_else(|| paths::normalize(p))
    };
    let writable: Vec<PathBuf> = (policy.write.iter())
        .flat_map(|r| [r.path.clone(), leads(&r.path)])
        .collect();
    let grants =
        (policy.write.iter().map(|r| (r, "write"))).chain(policy.read.iter().map(|r| (r, "read")));
    let crossed: Vec<(&PathRule, &str, Option<Planted>)> = grants
        .map(|(rule, what)| {
            let link = planted_link(&rule.path, &writable, resolver, replaceable_dir);
            (rule, what, link)
        })
        .collect();
    for rule in &policy.write {
        let to = leads(&rule.path);
        if let Some(name) = protected_name(&to).filter(|_| protected_name(&rule.path).is_none()) {
            return Err(Box::new(GrantLinkError::IntoProtected {
                grant: rule.path.clone(),
                origin: rule.origin.clone(),
                leads: to,
                name,
            }));
        }
    }
    // Where the roots written without such a link lead, by access.
    let clean = |want_write: bool| -> Vec<PathBuf> {
        (crossed.iter())
            .filter(|(_, what, link)| link.is_none() && (!want_write || *what == "write"))
            .map(|(rule, _, _)| leads(&rule.path))
            .collect()
    };
    let (clean_write, clean_any) = (clean(true), clean(false));
    for (rule, what, link) in &crossed {
        let Some(Planted { link, root }) = link else {
            continue;
        };
        let to = leads(&rule.path);
        let covered = if *what == "write" {
            &clean_write
        } else {
            &clean_any
        };
        if covered.iter().any(|c| paths::is_within(&to, c)) {
            continue;
        }
        return Err(Box::new(GrantLinkError::Planted {
            what,
            grant: rule.path.clone(),
            origin: rule.origin.clone(),
            stored: std::fs::read_link(link).unwrap_or_default(),
            link: link.clone(),
            root: root.clone(),
            leads: to,
        }));
    }
    Ok(())
}

/// A link a sandbox could have left, and the writable root it lies in.
struct Planted {
    link: PathBuf,
    root: PathBuf,
}

/// The first symlink that opening `path` crosses (the path itself
/// included) lying strictly inside one of `writable`, in a directory this
/// user may change, with that root. A walk that fails (a loop, EACCES) is
/// judged by the hops it made.
fn planted_link(
    path: &Path,
    writable: &[PathBuf],
    resolver: &dyn Resolver,
    replaceable_dir: &dyn Fn(&Path) -> bool,
) -> Option<Planted> {
    let mut hops = Vec::new();
    // One hop, walked whole: no link on the way (most roots; and a policy
    // may hold thousands).
    if resolver.walk(path, &mut hops).is_ok() && hops.len() == 1 {
        return None;
    }
    for hop in &hops {
        // Outermost first: the link the kernel meets first is the one named.
        let mut prefixes: Vec<&Path> = hop.ancestors().collect();
        prefixes.reverse();
        for a in prefixes {
            if !std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink()) {
                continue;
            }
            let root = (writable.iter()).find(|w| paths::is_within(a, w) && a != w.as_path());
            if let Some(root) = root.filter(|_| a.parent().is_some_and(replaceable_dir)) {
                return Some(Planted {
                    link: a.to_path_buf(),
                    root: root.clone(),
                });
            }
        }
    }
    None
}

/// The first protected directory name (`.git`, `.sandspawn`) among the
/// components of `path`.
fn protected_name(path: &Path) -> Option<&'static str> {
    path.components().find_map(|c| match c {
        Component::Normal(n) => PROTECTED_NAMES.iter().copied().find(|p| n == *p),
        _ => None,
    })
}

#[cfg(test)]
#[path = "grant_links_tests.rs"]
mod tests;
