//! Path arithmetic shared by policy and plan: `~` expansion, lexical
//! normalisation, component-wise containment, and symlink hops.
//!
//! Everything here is lexical except [`Resolver`], the one seam through which
//! the plan learns about symlinks on the host (a recording implementation
//! makes the plan testable without a filesystem), and a `..` in a policy
//! path, taken as the kernel takes it ([`resolve`]).

use std::path::{Component, Path, PathBuf};

mod hops;
pub use hops::{HopError, HostResolver, MapResolver, MemoResolver, Resolver, MAX_HOPS};

/// Expand a leading `~` or `~/` with `home`, then make the path absolute
/// against `base`: its reading as written (normalised lexically) and, when
/// a `..` in it climbs out of a symlink, as the kernel opens it (see
/// [`Readings`]).
///
/// Returns `None` when the path starts with `~` and no home is known.
pub fn resolve(raw: &Path, home: Option<&Path>, base: &Path) -> Option<Readings> {
    let expanded = match raw.strip_prefix("~") {
        Ok(rest) => home?.join(rest),
        Err(_) => raw.to_path_buf(),
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    Some(Readings {
        written: normalize(&joined),
        steered: steered(&joined),
    })
}

/// What a path names: as written, and where the kernel opens it when a
/// `..` after a symlink climbs out of the link's target (`ws/lnk/../x`,
/// lnk -> a/b, opens a/x). A link in a directory an earlier sandbox could
/// write decides the second, so neither alone may stand for the path: a
/// deny covers both, a grant is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readings {
    /// The path normalised lexically.
    pub written: PathBuf,
    /// Where it is opened, when that is elsewhere.
    pub steered: Option<Steered>,
}

/// A path's `..` climbing out of a symlink: where it is opened, and the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steered {
    /// The path as the kernel opens it.
    pub opened: PathBuf,
    /// The first symlink a `..` climbs out of, as written.
    pub link: PathBuf,
    /// Where that link leads (its real path).
    pub target: PathBuf,
}

impl Readings {
    /// Where the kernel opens the path.
    pub fn opened(&self) -> &Path {
        self.steered.as_ref().map_or(&self.written, |s| &s.opened)
    }
}

/// [`Steered`] for the absolute `path`, when its `..` climbs out of a link.
pub fn steered(path: &Path) -> Option<Steered> {
    let opened = dotdot_as_opened(path)?;
    // Not found would mean the host changed between the walks: the
    // prefix up to the last `..` names what differs.
    let link = link_climbed_out_of(path).unwrap_or_else(|| {
        let comps: Vec<Component> = path.components().collect();
        let last = comps.iter().rposition(|c| *c == Component::ParentDir);
        comps[..last.unwrap_or(comps.len())].iter().collect()
    });
    let target = std::fs::canonicalize(&link).unwrap_or_else(|_| link.clone());
    Some(Steered {
        opened,
        link,
        target,
    })
}

/// The first symlink in the absolute `path` that a later `..` pops: until
/// then every `..` pops a real directory, so reading it lexically is what
/// the kernel does.
fn link_climbed_out_of(path: &Path) -> Option<PathBuf> {
    let mut at = PathBuf::from("/");
    let mut links: Vec<bool> = Vec::new();
    for comp in path.components() {
        match comp {
            Component::Normal(c) => {
                at.push(c);
                let meta = std::fs::symlink_metadata(&at);
                links.push(meta.is_ok_and(|m| m.file_type().is_symlink()));
            }
            Component::ParentDir => {
                if links.pop() == Some(true) {
                    return Some(at);
                }
                at.pop();
            }
            _ => {}
        }
    }
    None
}

/// `path` up to its last `..` where the kernel opens it, the rest as
/// written: after a link, `..` climbs out of the link's target
/// (`ws/lnk/../h/.ssh`, lnk -> a/b, is a/h/.ssh to the child; read
/// lexically it is ws/h/.ssh). `None` without a `..`, when the lexical
/// reading lands there too, or when that prefix cannot be resolved
/// (missing, unreadable): then whoever creates it decides, and the lexical
/// path stands.
///
/// By `std::fs::canonicalize`, not the plan's [`Resolver`]: policies are
/// resolved before a plan (and its memo) exists.
pub fn dotdot_as_opened(path: &Path) -> Option<PathBuf> {
    let comps: Vec<Component> = path.components().collect();
    let last = comps.iter().rposition(|c| *c == Component::ParentDir)?;
    let prefix: PathBuf = comps[..=last].iter().collect();
    let real = std::fs::canonicalize(&prefix).ok()?;
    // Where the lexical reading lands too (no link before a `..`, or one
    // the `..` does not climb out of): it stays, links and all, for the
    // alias logic (`/home/u/p/..` with /home -> var/home is `/home/u`).
    if std::fs::canonicalize(normalize(&prefix)).ok().as_ref() == Some(&real) {
        return None;
    }
    let rest: PathBuf = comps[last + 1..].iter().collect();
    Some(normalize(&real.join(rest)))
}

/// Lexical normalisation: drop `.`, apply `..` to the previous component,
/// never climb above `/`. Used on user-written paths before any comparison;
/// symlinks are handled separately by [`Resolver`].
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(c) => out.push(c),
            Component::Prefix(_) => {}
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

/// Whether `path` is `root` or lies beneath it, comparing whole components
/// (`/home/a` does not contain `/home/ab`).
pub fn is_within(path: &Path, root: &Path) -> bool {
    sandspawn_linux::pathcmp::starts_with(path, root)
}

/// `a == b`, component-wise, by bytes when both are written canonically
/// (`PathBuf`'s own `==` parses components, and planning compares often).
pub fn same_path(a: &Path, b: &Path) -> bool {
    sandspawn_linux::pathcmp::same_path(a, b)
}

/// Whether `path` is granted by one of `grants` more closely than any of
/// `denies` hides it: the deepest grant containing it lies below the
/// deepest deny containing it (at the same depth, the deny wins).
pub fn granted_past_denies(grants: &[PathBuf], denies: &[PathBuf], path: &Path) -> bool {
    let deepest = |list: &[PathBuf]| {
        (list.iter())
            .filter(|r| is_within(path, r))
            .map(|r| depth(r))
            .max()
    };
    match (deepest(grants), deepest(denies)) {
        (Some(g), Some(d)) => g > d,
        (g, _) => g.is_some(),
    }
}

/// Number of normal components: `/` is 0, `/a/b` is 2.
pub fn depth(path: &Path) -> usize {
    sandspawn_linux::pathcmp::depth(path)
}

#[cfg(test)]
mod tests;
