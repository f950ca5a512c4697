//! A read or write root granted through a symlink that a sandbox could
//! have planted. A child that could write a directory (`--write .`) leaves
//! `out -> ~/.bashrc` there; a later run granting `--write out` (with the
//! project writable or not) hands it a host file nobody named, one no deny
//! covers (`deny_links` sees only links into denies and sandspawn's own
//! state). Which directories earlier runs made writable is not known here;
//! the ones this run names stand for them: the working directory when it
//! is a project (granted this run or not: the next run may not repeat
//! `--write .`), and every read or write root of this policy. A grant root
//! whose written path crosses a symlink lying inside one of those, in a
//! directory this user may change (the root itself may be that link:
//! `--write out`), is refused, unless where it leads lies within the
//! project or within a root granted without such a link (`out -> ./build`,
//! a monorepo's `node_modules/@x/lib -> ../../../lib`: nothing more is
//! reached). One whose walk fails past such a link (a loop, EACCES) is
//! refused too: where it leads is unknown. Links elsewhere (`~/.cache ->
//! /data/cache` named directly, `/lib -> usr/lib`) are the host's own and
//! keep working. A working directory that is no project (HOME, `/`) is no
//! such place: every link of HOME would be suspect, and HOME holds the
//! user's own.
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
    /// Its path crosses a link a sandbox could have left.
    #[error(
        "{what} root {grant} ({origin}) crosses the symlink {link} (-> {stored}), which lies \
         in the {place} {root} where a sandbox could have left it, and leads to \
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
        /// What holds the link: "writable root", "working directory",
        /// "readable root".
        place: &'static str,
        /// The directory holding the link.
        root: PathBuf,
        /// Where the grant leads.
        leads: PathBuf,
    },
    /// Its path crosses such a link, and cannot be followed past it.
    #[error(
        "{what} root {grant} ({origin}) crosses the symlink {link} (-> {stored}), which lies \
         in the {place} {root} where a sandbox could have left it, and cannot be followed \
         ({error}); refusing to grant it: name the real path instead if that is what is \
         meant, or remove the link",
        grant = .grant.display(),
        link = .link.display(),
        stored = .stored.display(),
        root = .root.display()
    )]
    Unfollowable {
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
        /// What holds the link, as in [`GrantLinkError::Planted`].
        place: &'static str,
        /// The directory holding the link.
        root: PathBuf,
        /// Why the walk stopped.
        error: crate::paths::HopError,
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

/// Refuse the first grant root of `policy` that crosses a link a sandbox
/// could have left (in `project`, the working directory when it is one,
/// or in a root of the policy), or that is a write root leading through a
/// link into a protected directory. `replaceable_dir` says whether this
/// user may change the entries of a directory (a root-owned `/` under
/// `--write /` holds links an unprivileged child cannot replace).
pub(super) fn check(
    policy: &Policy,
    project: Option<&Path>,
    resolver: &dyn Resolver,
    replaceable_dir: &dyn Fn(&Path) -> bool,
) -> Result<(), Box<GrantLinkError>> {
    let leads = |p: &Path| {
        let mut hops = Vec::new();
        let walked = resolver.walk(p, &mut hops);
        (walked.ok().and(hops.last().cloned())).unwrap_or_else(|| paths::normalize(p))
    };
    // As written and where each leads: a link met after a hop lies in
    // the latter. Writable roots first, so a link is named by the place
    // that lets a child write it when there is one.
    let both = |p: &Path, place: &'static str| [(p.to_path_buf(), place), (leads(p), place)];
    let writable = (policy.write.iter()).flat_map(|r| both(&r.path, "writable root"));
    let cwd = project
        .into_iter()
        .flat_map(|p| both(p, "working directory"));
    let readable = (policy.read.iter()).flat_map(|r| both(&r.path, "readable root"));
    let places: Vec<(PathBuf, &'static str)> = writable.chain(cwd).chain(readable).collect();
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
    let grants =
        (policy.write.iter().map(|r| (r, "write"))).chain(policy.read.iter().map(|r| (r, "read")));
    let crossed: Vec<(&PathRule, &'static str, Option<Planted>)> = grants
        .map(|(rule, what)| {
            let link = planted_link(&rule.path, &places, resolver, replaceable_dir);
            (rule, what, link)
        })
        .collect();
    // Where the roots written without such a link lead, by access; and
    // the project, where a link a sandbox left leads nowhere it could not
    // reach by then.
    let project: Vec<PathBuf> = (project.into_iter())
        .flat_map(|p| [p.to_path_buf(), leads(p)])
        .collect();
    let clean = |want_write: bool| -> Vec<PathBuf> {
        (crossed.iter())
            .filter(|(_, what, link)| link.is_none() && (!want_write || *what == "write"))
            .map(|(rule, _, _)| leads(&rule.path))
            .chain(project.iter().cloned())
            .collect()
    };
    let (clean_write, clean_any) = (clean(true), clean(false));
    for (rule, what, planted) in &crossed {
        let Some(Planted { link, place, root }) = planted else {
            continue;
        };
        let stored = std::fs::read_link(link).unwrap_or_default();
        let mut hops = Vec::new();
        // Past the link the walk decides where the grant lands; failing
        // there (a loop, EACCES) leaves that unknown, and the written path
        // would pass for covered when it lies in the project.
        if let Err(error) = resolver.walk(&rule.path, &mut hops) {
            return Err(Box::new(GrantLinkError::Unfollowable {
                what,
                grant: rule.path.clone(),
                origin: rule.origin.clone(),
                link: link.clone(),
                stored,
                place,
                root: root.clone(),
                error,
            }));
        }
        let to = (hops.last().cloned()).unwrap_or_else(|| paths::normalize(&rule.path));
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
            stored,
            link: link.clone(),
            place,
            root: root.clone(),
            leads: to,
        }));
    }
    Ok(())
}

/// A link a sandbox could have left, and the place it lies in.
struct Planted {
    link: PathBuf,
    place: &'static str,
    root: PathBuf,
}

/// The first symlink that opening `path` crosses (the path itself
/// included) lying strictly inside one of `places`, in a directory this
/// user may change, with that place. A place is not one for itself: a
/// link named as a root (`~/.cache -> /data/cache`) counts only when the
/// directory holding it is a place. A walk that fails (a loop, EACCES) is
/// judged by the hops it made.
fn planted_link(
    path: &Path,
    places: &[(PathBuf, &'static str)],
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
            let place = (places.iter()).find(|(p, _)| paths::is_within(a, p) && a != p.as_path());
            if let Some((root, place)) = place.filter(|_| a.parent().is_some_and(replaceable_dir)) {
                return Some(Planted {
                    link: a.to_path_buf(),
                    place,
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
