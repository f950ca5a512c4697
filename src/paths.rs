//! Path arithmetic shared by policy and plan: `~` expansion, lexical
//! normalisation, component-wise containment, and symlink hops.
//!
//! Everything here is lexical except [`Resolver`], the one seam through which
//! the plan learns about symlinks on the host (a recording implementation
//! makes the plan testable without a filesystem), and a `..` in a policy
//! path, taken as the kernel takes it ([`resolve`]).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

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
enum Step {
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
    seen: RefCell<HashMap<OsString, Result<Step, String>>>,
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
fn walk_hops(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(raw: &Path, home: Option<&Path>, base: &Path) -> Option<PathBuf> {
        resolve(raw, home, base).map(|r| r.opened().to_path_buf())
    }

    #[test]
    fn a_dotdot_after_a_link_climbs_out_of_its_target() {
        let t = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir_all(top.join("a/b/c")).unwrap();
        std::os::unix::fs::symlink(top.join("a/b"), top.join("lnk")).unwrap();
        let at =
            |p: &str| resolve(Path::new(p), Some(&top), &top).map(|r| r.opened().to_path_buf());
        assert_eq!(at("lnk/../h/.ssh"), Some(top.join("a/h/.ssh")));
        assert_eq!(at("~/lnk/.."), Some(top.join("a")));
        // Missing before the `..`: whoever creates it decides; lexical.
        assert_eq!(at("gone/../h"), Some(top.join("h")));
        // No `..`: lexical, links and all.
        assert_eq!(at("./lnk/x"), Some(top.join("lnk/x")));
        // A `..` that does not climb out of a link keeps the link's name.
        assert_eq!(at("lnk/c/../d"), Some(top.join("lnk/d")));
        // Both readings, and the link the `..` climbs out of: not the
        // first link on the way (`lnk` here) when the `..` pops another.
        let both = resolve(Path::new("lnk/../h/.ssh"), None, &top).unwrap();
        assert_eq!(both.written, top.join("h/.ssh"));
        let s = both.steered.unwrap();
        assert_eq!((s.link, s.target), (top.join("lnk"), top.join("a/b")));
        std::os::unix::fs::symlink(top.join("a"), top.join("a/b/in")).unwrap();
        let s = resolve(Path::new("lnk/in/../x"), None, &top)
            .unwrap()
            .steered
            .unwrap();
        assert_eq!(s.link, top.join("lnk/in"));
        assert_eq!(s.opened, top.join("x"));
        assert_eq!(
            resolve(Path::new("lnk/c/../d"), None, &top)
                .unwrap()
                .steered,
            None
        );
    }

    #[test]
    fn tilde_and_relative_paths_resolve_against_home_and_base() {
        let home = Path::new("/home/u");
        let base = Path::new("/work/p");
        assert_eq!(
            opened(Path::new("~/.npm"), Some(home), base),
            Some("/home/u/.npm".into())
        );
        assert_eq!(
            opened(Path::new("~"), Some(home), base),
            Some("/home/u".into())
        );
        assert_eq!(
            opened(Path::new("data/../out"), Some(home), base),
            Some("/work/p/out".into())
        );
        assert_eq!(
            opened(Path::new("."), Some(home), base),
            Some("/work/p".into())
        );
        assert_eq!(opened(Path::new("~/x"), None, base), None);
        // `~user` is not expanded: it is a relative name.
        assert_eq!(
            opened(Path::new("~bob/x"), Some(home), base),
            Some("/work/p/~bob/x".into())
        );
    }

    #[test]
    fn normalize_never_climbs_above_root() {
        assert_eq!(
            normalize(Path::new("/../../etc/./ssl/")),
            PathBuf::from("/etc/ssl")
        );
        assert_eq!(normalize(Path::new("/")), PathBuf::from("/"));
    }

    #[test]
    fn the_deeper_of_grant_and_deny_decides_and_a_tie_hides() {
        let v = |ps: &[&str]| ps.iter().map(PathBuf::from).collect::<Vec<_>>();
        let (g, d) = (v(&["/ws", "/ws/a/b"]), v(&["/ws/a"]));
        assert!(granted_past_denies(&g, &d, Path::new("/ws/x")));
        assert!(!granted_past_denies(&g, &d, Path::new("/ws/a/x")));
        assert!(granted_past_denies(&g, &d, Path::new("/ws/a/b/x")));
        assert!(!granted_past_denies(&g, &d, Path::new("/elsewhere")));
        assert!(!granted_past_denies(
            &v(&["/ws"]),
            &v(&["/ws"]),
            Path::new("/ws/x")
        ));
    }

    #[test]
    fn containment_is_by_component() {
        assert!(is_within(Path::new("/home/a/x"), Path::new("/home/a")));
        assert!(is_within(Path::new("/home/a"), Path::new("/home/a")));
        assert!(!is_within(Path::new("/home/ab"), Path::new("/home/a")));
        assert!(is_within(Path::new("/anything"), Path::new("/")));
    }

    #[test]
    fn hops_follow_parent_links_and_relative_targets() {
        let mut r = MapResolver::default();
        r.links.insert(
            "/etc/ssl/certs/ca.pem".into(),
            "../../../usr/share/ca/ca.pem".into(),
        );
        r.links.insert("/usr/share/ca".into(), "/opt/ca".into());
        let hops = r.hops(Path::new("/etc/ssl/certs/ca.pem")).unwrap();
        assert_eq!(
            hops,
            vec![
                PathBuf::from("/etc/ssl/certs/ca.pem"),
                PathBuf::from("/usr/share/ca/ca.pem"),
                PathBuf::from("/opt/ca/ca.pem"),
            ]
        );
    }

    /// A `..` in a target climbs out of the directory reached, as the
    /// kernel does: `/ws/sub` a link to `/ws/a/b` makes
    /// `/ws/sub/../../etc/real.pem` `/ws/etc/real.pem`, not the
    /// `/etc/real.pem` it reads as. The link on the way is a hop too.
    /// Before, the target was normalised as written, so a CA link through
    /// a writable `/ws` was taken for one into `/etc`.
    #[test]
    fn parent_dirs_in_a_target_climb_from_where_the_walk_is() {
        let mut r = MapResolver::default();
        r.links
            .insert("/etc/corp.pem".into(), "/ws/sub/../../etc/real.pem".into());
        r.links.insert("/ws/sub".into(), "/ws/a/b".into());
        assert_eq!(
            r.hops(Path::new("/etc/corp.pem")).unwrap(),
            ["/etc/corp.pem", "/ws/sub", "/ws/etc/real.pem"].map(PathBuf::from)
        );
        // Relative, and past a missing directory: the chain ends there.
        r.links.insert("/d/l".into(), "../gone/../x".into());
        assert_eq!(
            walk_hops(Path::new("/d/l"), |p| Ok(match r.links.get(p) {
                Some(t) => Step::Link(t.clone()),
                None if p == Path::new("/gone") => Step::Missing,
                None => Step::NotLink,
            }))
            .unwrap(),
            ["/d/l", "/gone"].map(PathBuf::from)
        );
    }

    /// A `..` after a link in the path itself, as written (git passes
    /// `include.path` to the kernel unchanged): `/ws/sub/../x` with
    /// `/ws/sub` a link to `/ws/a/b` is `/ws/a/x`, through the link.
    #[test]
    fn a_parent_dir_after_a_link_in_the_path_climbs_from_its_target() {
        let mut r = MapResolver::default();
        r.links.insert("/ws/sub".into(), "/ws/a/b".into());
        assert_eq!(
            r.hops(Path::new("/ws/sub/../x")).unwrap(),
            ["/ws/x", "/ws/sub", "/ws/a/x"].map(PathBuf::from)
        );
    }

    #[test]
    fn host_resolver_ends_where_the_kernel_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("ws/a/b")).unwrap();
        std::fs::create_dir_all(root.join("ws/etc")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("ws/etc/real.pem"), b"ws").unwrap();
        std::fs::write(root.join("etc/real.pem"), b"etc").unwrap();
        std::os::unix::fs::symlink(root.join("ws/a/b"), root.join("ws/sub")).unwrap();
        let link = root.join("corp.pem");
        std::os::unix::fs::symlink(root.join("ws/sub/../../etc/real.pem"), &link).unwrap();
        let hops = HostResolver.hops(&link).unwrap();
        assert_eq!(std::fs::read(&link).unwrap(), b"ws");
        assert_eq!(hops.last().unwrap(), &std::fs::canonicalize(&link).unwrap());
        assert!(hops.contains(&root.join("ws/sub")), "{hops:?}");
    }

    #[test]
    fn hops_report_a_loop() {
        let mut r = MapResolver::default();
        r.links.insert("/a".into(), "/b".into());
        r.links.insert("/b".into(), "/a".into());
        assert_eq!(
            r.hops(Path::new("/a/f")),
            Err(HopError::Loop("/a/f".into()))
        );
    }

    #[test]
    fn host_resolver_follows_real_links() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, b"x").unwrap();
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let hops = HostResolver.hops(&dir.path().join("link")).unwrap();
        assert_eq!(hops.last().unwrap(), &normalize(&real));
    }

    #[test]
    fn memo_resolver_agrees_with_the_host_and_walks_each_prefix_once() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::os::unix::fs::symlink("sub", dir.path().join("link")).unwrap();
        let memo = MemoResolver::default();
        for name in ["link/a", "link/b", "sub/c", "missing/d"] {
            let path = dir.path().join(name);
            assert_eq!(memo.hops(&path), HostResolver.hops(&path), "{name}");
        }
        // Answers come from the memo once a prefix was read: the link
        // replaced by a directory still reads as the link it was.
        std::fs::remove_file(dir.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("link")).unwrap();
        let hops = memo.hops(&dir.path().join("link/e")).unwrap();
        assert_eq!(hops.last().unwrap(), &normalize(&sub.join("e")));
    }

    /// Below a missing prefix nothing exists, so nothing is read: the walk
    /// ends there with the same hops as before (one `readlink` for
    /// `~/.local/share/keyrings` when `~/.local` is absent, not three).
    #[test]
    fn a_missing_prefix_ends_the_walk() {
        let read = RefCell::new(Vec::new());
        let hops = walk_hops(Path::new("/home/u/.local/share/keyrings"), |p| {
            read.borrow_mut().push(p.to_path_buf());
            Ok(if p == Path::new("/home/u/.local") {
                Step::Missing
            } else {
                Step::NotLink
            })
        })
        .unwrap();
        assert_eq!(hops, vec![PathBuf::from("/home/u/.local/share/keyrings")]);
        assert_eq!(
            read.into_inner(),
            ["/home", "/home/u", "/home/u/.local"].map(PathBuf::from)
        );
        // On the host: the memo holds the missing prefix and nothing below.
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("missing/a/b");
        let memo = MemoResolver::default();
        assert_eq!(memo.hops(&deep), Ok(vec![normalize(&deep)]));
        let missing = dir.path().join("missing");
        let seen = memo.seen.borrow();
        assert_eq!(seen.get(missing.as_os_str()), Some(&Ok(Step::Missing)));
        assert!(!seen.contains_key(dir.path().join("missing/a").as_os_str()));
    }
}
