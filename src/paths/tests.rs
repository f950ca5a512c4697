//! Path arithmetic (`..` as the kernel opens it, containment) and symlink
//! hops, over a map of links and over real ones.

use std::cell::RefCell;

use super::hops::{walk_hops, Step};
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
    let at = |p: &str| resolve(Path::new(p), Some(&top), &top).map(|r| r.opened().to_path_buf());
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
