//! Symlink hops: how the plan learns where a path leads on the host
//! ([`Resolver`]), over the real filesystem, remembered per plan, or a
//! fixed map for tests and dry runs.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::normalize;

/// How the plan learns where a path leads on the host.
pub trait Resolver {
    /// The chain of absolute paths visited when opening `path`: the path
    /// itself first, then each symlink target in turn, ending at the path that
    /// is not a symlink. Components are resolved left to right, like the
    /// kernel does, so a symlinked parent directory is a hop too.
    fn hops(&self, path: &Path) -> Result<Vec<PathBuf>, HopError> {
        let mut hops = Vec::new();
        self.walk(path, &mut hops).map(|()| hops)
    }

    /// [`Resolver::hops`], leaving in `hops` the chain walked so far when
    /// it fails: a caller that must fail closed checks those hops too.
    fn walk(&self, path: &Path, hops: &mut Vec<PathBuf>) -> Result<(), HopError>;
}

/// Why a path could not be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HopError {
    /// More than [`MAX_HOPS`] links: a loop, or a chain no one should rely on.
    #[error("{path}: symlink loop (more than {MAX_HOPS} hops)", path = .0.display())]
    Loop(PathBuf),
    /// The path could not be inspected.
    #[error("{path}: {msg}", path = .0.display(), msg = .1)]
    Io(PathBuf, String),
}

/// The kernel's own limit on symlink hops (ELOOP beyond 40).
pub const MAX_HOPS: usize = 40;

/// [`Resolver`] over the real filesystem: `lstat` and `readlink` only.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostResolver;

impl Resolver for HostResolver {
    fn walk(&self, path: &Path, hops: &mut Vec<PathBuf>) -> Result<(), HopError> {
        walk_into(path, host_readlink, hops)
    }
}

/// What one `readlink` of a path prefix found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// A symlink, with its target as stored.
    Link(PathBuf),
    /// Something that is not a link.
    NotLink,
    /// Nothing: no path below it exists either, so none is a link.
    Missing,
}

/// One `readlink`.
fn host_readlink(p: &Path) -> Result<Step, String> {
    match std::fs::read_link(p) {
        Ok(t) => Ok(Step::Link(t)),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(Step::NotLink),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Step::Missing),
        Err(e) => Err(e.to_string()),
    }
}

/// [`HostResolver`] that asks the host once per path prefix. A plan walks a
/// score of paths under the same few directories (`$HOME/.ssh`,
/// `$HOME/.aws`, … each re-reading `/`, `/home`, `$HOME`); this walks each
/// prefix once. Meant for one plan build: a link changed in between is a
/// race the plan has with or without it.
#[derive(Debug)]
pub struct MemoResolver {
    // Keyed by bytes: `Path`'s own hash walks components, and cost more
    // than the `readlink` it saves.
    pub(super) seen: RefCell<HashMap<OsString, Result<Step, String>>>,
}

impl Default for MemoResolver {
    fn default() -> Self {
        // A default plan reads about a hundred prefixes: room for them up
        // front, so that growing the map does not hash every key again.
        MemoResolver {
            seen: RefCell::new(HashMap::with_capacity(128)),
        }
    }
}

impl Resolver for MemoResolver {
    fn walk(&self, path: &Path, hops: &mut Vec<PathBuf>) -> Result<(), HopError> {
        walk_into(
            path,
            |p| {
                if let Some(known) = self.seen.borrow().get(p.as_os_str()) {
                    return known.clone();
                }
                let found = host_readlink(p);
                self.seen
                    .borrow_mut()
                    .insert(p.as_os_str().to_os_string(), found.clone());
                found
            },
            hops,
        )
    }
}

/// [`Resolver`] over a fixed map of symlinks, for tests and dry runs.
#[derive(Debug, Default, Clone)]
pub struct MapResolver {
    /// link path → target as stored in the link (relative or absolute).
    pub links: HashMap<PathBuf, PathBuf>,
}

impl Resolver for MapResolver {
    fn walk(&self, path: &Path, hops: &mut Vec<PathBuf>) -> Result<(), HopError> {
        walk_into(
            path,
            |p| {
                Ok(match self.links.get(p) {
                    Some(target) => Step::Link(target.clone()),
                    None => Step::NotLink,
                })
            },
            hops,
        )
    }
}

/// [`walk_into`] into a new chain.
#[cfg(test)]
pub(super) fn walk_hops(
    path: &Path,
    readlink: impl Fn(&Path) -> Result<Step, String>,
) -> Result<Vec<PathBuf>, HopError> {
    let mut hops = Vec::new();
    walk_into(path, readlink, &mut hops).map(|()| hops)
}

/// Resolve `path` component by component with `readlink`, like the kernel:
/// a link's target replaces it, and a `..` in a target climbs out of the
/// directory the walk has *reached*, not out of the path as written (with
/// `/ws/sub` a link to `/ws/a/b`, `/ws/sub/../x` is `/ws/a/x`). `hops`
/// gets the path, then, after each link, where the walk now points; while
/// a `..` is still to come that is not known yet, so the link itself is
/// recorded instead (a caller checking who could replace a link on the way
/// sees it). `hops` holds the chain walked so far when it fails.
fn walk_into(
    path: &Path,
    readlink: impl Fn(&Path) -> Result<Step, String>,
    hops: &mut Vec<PathBuf>,
) -> Result<(), HopError> {
    hops.clear();
    hops.push(normalize(path));
    // `reached` is walked and holds no link and no `..`; `rest` is to come:
    // the path as written, whose `..`s climb from what the walk reaches
    // (the kernel's order; a `..` after a link as written, git's
    // `include.path = ../sub/../x`, is taken as the kernel takes it).
    let mut reached = PathBuf::from("/");
    let mut rest: VecDeque<OsString> = parts(path).collect();
    let mut followed = 0usize;
    let record = |hops: &mut Vec<PathBuf>, p: PathBuf| {
        if hops.last() != Some(&p) {
            hops.push(p);
        }
    };
    while let Some(part) = rest.pop_front() {
        if part == ".." {
            reached.pop();
            if !rest.iter().any(|p| p == "..") {
                record(hops, joined(&reached, &rest));
            }
            continue;
        }
        reached.push(&part);
        let target = match readlink(&reached).map_err(|m| HopError::Io(reached.clone(), m))? {
            Step::Link(target) => target,
            Step::NotLink => continue,
            // Every deeper prefix would read ENOENT too (a plan probes a
            // score of absent `~/.config/…`, `/var/snap/…` paths): the
            // chain ends here. A `..` still to come would climb out of
            // what is missing, which whoever creates it decides (a link
            // made there leads anywhere): the chain ends at the missing
            // path itself, for a caller to treat as missing.
            Step::Missing => {
                if rest.iter().any(|p| p == "..") {
                    record(hops, reached);
                }
                return Ok(());
            }
        };
        followed += 1;
        if followed > MAX_HOPS {
            return Err(HopError::Loop(path.to_path_buf()));
        }
        let link = reached.clone();
        reached.pop();
        if target.is_absolute() {
            reached = PathBuf::from("/");
        }
        for part in parts(&target).collect::<Vec<_>>().into_iter().rev() {
            rest.push_front(part);
        }
        if rest.iter().any(|p| p == "..") {
            record(hops, link);
        } else {
            record(hops, joined(&reached, &rest));
        }
    }
    Ok(())
}

/// The names and `..`s of `path` (no root, no `.`).
fn parts(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(s) => Some(s.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// `base` with `rest` appended, as written.
fn joined(base: &Path, rest: &VecDeque<OsString>) -> PathBuf {
    let mut out = base.to_path_buf();
    out.extend(rest);
    out
}
