use std::os::unix::fs::symlink;

use super::*;
use crate::paths::HostResolver;
use crate::policy::{Layer, ResolveContext};

/// `top` (canonical) holding `ws`, `home/.bashrc`, `data/cache` and
/// `other/.git/hooks`; removed with the TempDir.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(t.path()).unwrap();
    for d in ["ws/build", "home", "data/cache", "other/.git/hooks"] {
        std::fs::create_dir_all(top.join(d)).unwrap();
    }
    std::fs::write(top.join("home/.bashrc"), "").unwrap();
    (t, top)
}

fn policy(read: &[PathBuf], write: &[PathBuf]) -> Policy {
    let layer = Layer {
        origin: "flags".into(),
        read: read.to_vec(),
        write: write.to_vec(),
        ..Layer::default()
    };
    let cwd = Path::new("/nonexistent-cwd");
    Policy::resolve(&[layer], &ResolveContext { cwd, home: None }).unwrap()
}

fn checked(read: &[PathBuf], write: &[PathBuf]) -> Result<(), Box<GrantLinkError>> {
    checked_in(None, read, write)
}

/// [`checked`] with `project` the working directory.
fn checked_in(
    project: Option<&Path>,
    read: &[PathBuf],
    write: &[PathBuf],
) -> Result<(), Box<GrantLinkError>> {
    check(&policy(read, write), project, &HostResolver, &|_| true)
}

#[test]
fn a_root_through_a_link_in_a_writable_root_is_refused() {
    let (_t, top) = tree();
    let ws = top.join("ws");
    symlink(top.join("home/.bashrc"), ws.join("out")).unwrap();
    let out = ws.join("out");
    for (read, write, what) in [
        (vec![], vec![ws.clone(), out.clone()], "write"),
        (vec![out.clone()], vec![ws.clone()], "read"),
    ] {
        let err = checked(&read, &write).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{what} root {out} (flags) crosses the symlink {out} (-> {bashrc}), which lies \
                 in the writable root {ws} where a sandbox could have left it, and leads to \
                 {bashrc}; refusing to grant it: name {bashrc} instead if that is what is \
                 meant, or remove the link",
                out = out.display(),
                bashrc = top.join("home/.bashrc").display(),
                ws = ws.display()
            )
        );
    }
    // A link on the way (a parent directory) counts as well.
    symlink(top.join("home"), ws.join("h")).unwrap();
    let err = checked(&[], &[ws.clone(), ws.join("h/.bashrc")]).unwrap_err();
    assert!(
        matches!(&*err, GrantLinkError::Planted { link, .. } if *link == ws.join("h")),
        "{err}"
    );
}

/// The same link outside every writable root of this policy, or where
/// this user cannot change it, is the host's own: granted.
#[test]
fn a_link_outside_the_writable_roots_is_followed() {
    let (_t, top) = tree();
    symlink(top.join("data/cache"), top.join("home/.cache")).unwrap();
    let cache = top.join("home/.cache");
    checked(&[], std::slice::from_ref(&cache)).unwrap();
    checked(&[cache.join("x")], &[top.join("ws")]).unwrap();
    // The link is the root itself, not inside it.
    checked(&[], &[cache.clone(), top.join("data")]).unwrap();
    // In a writable root, but in a directory this user may not change.
    let p = policy(&[], &[top.join("home"), cache.clone()]);
    check(&p, None, &HostResolver, &|d| d != top.join("home")).unwrap();
    // Nor is `replaceable_dir` asked about a directory outside the roots.
    let p = policy(&[], std::slice::from_ref(&cache));
    check(&p, None, &HostResolver, &|_| false).unwrap();
}

/// A link that leads only where a root written without one already
/// grants reaches nothing more.
#[test]
fn a_link_leading_inside_what_is_granted_anyway_is_followed() {
    let (_t, top) = tree();
    let ws = top.join("ws");
    symlink("build", ws.join("out")).unwrap();
    checked(&[], &[ws.clone(), ws.join("out")]).unwrap();
    checked(&[ws.join("out")], std::slice::from_ref(&ws)).unwrap();
    // Readable is not writable: a write root through the link into what
    // is only readable is refused.
    symlink(top.join("data/cache"), ws.join("c")).unwrap();
    let err = checked(&[top.join("data")], &[ws.clone(), ws.join("c")]).unwrap_err();
    assert!(matches!(
        *err,
        GrantLinkError::Planted { what: "write", .. }
    ));
    checked(&[top.join("data"), ws.join("c")], std::slice::from_ref(&ws)).unwrap();
}

/// The working directory (granted or not) and every read root are places
/// a sandbox could have left a link in; the root itself may be the link.
#[test]
fn a_link_in_the_project_or_a_read_root_is_refused_granted_or_not() {
    let (_t, top) = tree();
    let ws = top.join("ws");
    let bashrc = top.join("home/.bashrc");
    symlink(&bashrc, ws.join("out")).unwrap();
    let out = ws.join("out");
    for (read, write, what) in [
        (vec![], vec![out.clone()], "write"),
        (vec![out.clone()], vec![], "read"),
    ] {
        let err = checked_in(Some(&ws), &read, &write).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{what} root {out} (flags) crosses the symlink {out} (-> {bashrc}), which lies \
                 in the working directory {ws} where a sandbox could have left it, and leads \
                 to {bashrc}; refusing to grant it: name {bashrc} instead if that is what is \
                 meant, or remove the link",
                out = out.display(),
                bashrc = bashrc.display(),
                ws = ws.display()
            )
        );
    }
    let err = checked(std::slice::from_ref(&ws), std::slice::from_ref(&out)).unwrap_err();
    assert!(
        matches!(&*err, GrantLinkError::Planted { place: "readable root", root, .. } if *root == ws),
        "{err}"
    );
    // Without the project, a root named through it is the host's own.
    checked(&[], std::slice::from_ref(&out)).unwrap();
}

/// A link leading within the project reaches nothing a sandbox there did
/// not: `out -> build` writable with the project only readable, a
/// monorepo's `node_modules/@x/lib -> ../../../lib`.
#[test]
fn a_link_leading_within_the_project_is_followed() {
    let (_t, top) = tree();
    let ws = top.join("ws");
    std::fs::create_dir_all(ws.join("app/node_modules/@x")).unwrap();
    symlink("build", ws.join("out")).unwrap();
    symlink("../../../lib", ws.join("app/node_modules/@x/lib")).unwrap();
    let lib = ws.join("app/node_modules/@x/lib");
    let (read, write) = (vec![ws.clone(), lib], vec![ws.join("out")]);
    checked_in(Some(&ws), &read, &write).unwrap();
    // Without the project the write lands where only a read reaches.
    let err = checked(&read, &write).unwrap_err();
    assert!(
        matches!(&*err, GrantLinkError::Planted { what: "write", leads, .. } if *leads == ws.join("build")),
        "{err}"
    );
}

/// A walk that fails past a planted link (a loop, a name too long) leaves
/// where the grant leads unknown: refused, not judged by its written path
/// (which lies in the writable root, and passed for covered).
#[test]
fn a_root_that_cannot_be_followed_past_a_planted_link_is_refused() {
    let (_t, top) = tree();
    let ws = top.join("ws");
    symlink("loop", ws.join("loop")).unwrap();
    let long = "x".repeat(300);
    symlink(&long, ws.join("long")).unwrap();
    for (name, error) in [
        (
            "loop",
            format!(
                "{}: symlink loop (more than 40 hops)",
                ws.join("loop").display()
            ),
        ),
        (
            "long",
            format!(
                "{}: File name too long (os error 36)",
                ws.join(&long).display()
            ),
        ),
    ] {
        let root = ws.join(name);
        let stored = std::fs::read_link(&root).unwrap();
        for (read, write, what) in [
            (vec![], vec![ws.clone(), root.clone()], "write"),
            (vec![root.clone()], vec![ws.clone()], "read"),
        ] {
            let err = checked(&read, &write).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{what} root {root} (flags) crosses the symlink {root} (-> {stored}), which \
                     lies in the writable root {ws} where a sandbox could have left it, and \
                     cannot be followed ({error}); refusing to grant it: name the real path \
                     instead if that is what is meant, or remove the link",
                    root = root.display(),
                    stored = stored.display(),
                    ws = ws.display()
                )
            );
        }
    }
}

#[test]
fn a_write_root_through_any_link_into_a_git_directory_is_refused() {
    let (_t, top) = tree();
    // Outside every writable root: a link of the host's, or of the user.
    symlink(top.join("other/.git/hooks"), top.join("home/hooks")).unwrap();
    let hooks = top.join("home/hooks");
    let err = checked(&[], std::slice::from_ref(&hooks)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "write root {} (flags) leads through a symlink to {}, inside a `.git` directory \
             that sandspawn keeps read-only; refusing to make it writable: name {} instead if \
             that is what is meant",
            hooks.display(),
            top.join("other/.git/hooks").display(),
            top.join("other/.git/hooks").display()
        )
    );
    // Readable through it, or writable by its own name, as before.
    checked(std::slice::from_ref(&hooks), &[]).unwrap();
    checked(&[], &[top.join("other/.git/hooks")]).unwrap();
}

#[test]
fn protected_names_are_whole_components() {
    assert_eq!(protected_name(Path::new("/a/.git/hooks")), Some(".git"));
    assert_eq!(
        protected_name(Path::new("/a/.sandspawn")),
        Some(".sandspawn")
    );
    assert_eq!(protected_name(Path::new("/a/.github/x")), None);
    assert_eq!(protected_name(Path::new("/a/x.git")), None);
}
