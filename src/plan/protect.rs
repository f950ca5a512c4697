//! Protected subpaths: inside a writable root, the repository metadata
//! (`.git`, and the gitdir a `.git` file points at) and sandspawn's own
//! `.sandspawn` stay read-only, so a sandboxed tool cannot plant hooks or
//! rewrite its own policy; so do sandspawn's cache and user config
//! directories when a writable root (such as HOME) holds them. Only these fixed names are looked at: the
//! workspace is never scanned.

use std::path::{Path, PathBuf};

use crate::paths::{self, is_within};

/// Names protected directly under every writable root.
pub const PROTECTED_NAMES: &[&str] = &[".git", ".sandspawn"];

/// Why a protected path cannot be protected safely.
#[derive(Debug, thiserror::Error)]
#[error("protected path {path}: {problem}; refusing to start (a writable root must not redirect it)", path = .path.display())]
pub struct ProtectError {
    /// The path.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

/// The protected paths that exist under `writable` roots, each to be bound
/// read-only. A protected path that is a symlink, or a gitdir reached
/// through one, fails closed: the sandboxed child (or anyone sharing the
/// workspace) could redirect it between now and the mount; so could it
/// replace it by a link after this check, and each one's identity is
/// recorded in `ids` from the very `lstat` that judged it (see `pins`).
pub fn probe(
    writable: &[PathBuf],
    ids: &mut super::pins::Ids,
) -> Result<Vec<PathBuf>, ProtectError> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for root in writable {
        for name in PROTECTED_NAMES {
            let path = root.join(name);
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if meta.file_type().is_symlink() {
                return Err(ProtectError {
                    path,
                    problem: "is a symlink inside a writable root".into(),
                });
            }
            if *name == ".git" && meta.is_file() {
                if let Some(gitdir) = gitdir_of(&path, root)? {
                    if writable.iter().any(|w| is_within(&gitdir, w)) && !out.contains(&gitdir) {
                        out.push(gitdir);
                    }
                }
            }
            ids.entry(path.clone()).or_insert(sandspawn_linux::FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            });
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// sandspawn's own state when a writable root holds it: the cache root
/// (trust bundles, their memo files, the bwrap probe, the Landlock private
/// HOME and tmp, the MCP servers' launcher caches, of which a server's own
/// are granted deeper and so stay writable to it) and the user config directory in `dirs`, and the policy
/// files this run was built from in `files`. All read-only, so a sandboxed
/// tool cannot poison the bundles later sandboxes trust or widen the
/// policy of later runs. A missing directory is created (0700) first,
/// since the child could otherwise create it and fill it; a missing file
/// was not read, so there is nothing to keep.
pub fn own_state(
    dirs: &[PathBuf],
    files: &[PathBuf],
    writable: &[PathBuf],
) -> Result<Vec<PathBuf>, ProtectError> {
    use std::os::unix::fs::DirBuilderExt;
    let mut out: Vec<PathBuf> = Vec::new();
    let held = |p: &Path| writable.iter().any(|w| is_within(p, w));
    let wanted = (dirs.iter().map(|d| (d, true))).chain(files.iter().map(|f| (f, false)));
    for (path, is_dir) in wanted.filter(|(p, _)| held(p)) {
        let fail = |problem: String| ProtectError {
            path: path.clone(),
            problem,
        };
        if is_dir {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| fail(format!("cannot be created to protect it ({e})")))?;
        }
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if !is_dir && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fail(e.to_string())),
        };
        if meta.file_type().is_symlink() {
            return Err(fail("is a symlink inside a writable root".into()));
        }
        // Written through a symlinked parent (HOME), it is writable by its
        // real path too: protect both.
        let real = std::fs::canonicalize(path).map_err(|e| fail(e.to_string()))?;
        for p in [path.clone(), real] {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Each protected regular file must have no other name: a hard link left
/// elsewhere in a writable root (by an earlier run, before the file was
/// protected) would stay writable, and on Landlock, whose rules follow
/// inodes, its grant makes the protected name writable too. The regular
/// files directly in each of `dirs` (CA directories, whose files are
/// inputs) are checked as well.
pub fn single_named(protected: &[PathBuf], dirs: &[PathBuf]) -> Result<(), ProtectError> {
    let entries = (dirs.iter())
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|list| list.flatten().map(|e| e.path()));
    for path in protected.iter().cloned().chain(entries) {
        one_name(&path)?;
    }
    Ok(())
}

/// At most this many entries of a protected hooks directory are looked
/// at; past them the plan is refused (a hooks directory holds a few).
pub const MAX_HOOK_ENTRIES: usize = 1024;

/// The regular files directly in a protected hooks directory `dir`, as
/// [`single_named`] checks protected files: a hook with another name in a
/// writable root (`ln .husky/_/pre-commit x`) stays writable through it,
/// and git on the host runs what the child appends. `what` says whose
/// hooks these are.
pub fn hooks_single_named(dir: &Path, what: &str) -> Result<(), ProtectError> {
    let Ok(list) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for (n, entry) in list.flatten().enumerate() {
        if n >= MAX_HOOK_ENTRIES {
            return Err(ProtectError {
                path: dir.to_path_buf(),
                problem: format!(
                    "a hooks directory ({what}) with more than {MAX_HOOK_ENTRIES} entries, \
                     past what sandspawn checks for hard links; remove the extra entries, or \
                     keep the directory out of the --write roots"
                ),
            });
        }
        one_name(&entry.path())?;
    }
    Ok(())
}

/// A regular file at `path` with more than one name fails closed.
fn one_name(path: &Path) -> Result<(), ProtectError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if meta.is_file() && meta.nlink() > 1 {
        return Err(ProtectError {
            path: path.to_path_buf(),
            problem: format!(
                "has {} hard links, and another name inside a writable root would stay \
                 writable; remove the other links (`find / -xdev -samefile {}` lists \
                 them), or keep the file out of the --write roots",
                meta.nlink(),
                path.display()
            ),
        });
    }
    Ok(())
}

/// Each of sandspawn's own paths in `raw` (absolute, as given) that
/// `shown_writable` holds: as named (normalized), and where the kernel
/// opens it ([`own_real_path`]: its links followed, a `..` after a link,
/// `sub/../team.toml`, climbing out of the link's target, not out of `sub`).
pub fn own_paths(
    raw: &[PathBuf],
    shown_writable: &dyn Fn(&Path) -> bool,
    replaceable: &dyn Fn(&Path) -> bool,
    resolver: &dyn paths::Resolver,
) -> Result<Vec<PathBuf>, ProtectError> {
    let mut out: Vec<PathBuf> = Vec::new();
    for r in raw {
        let named = paths::normalize(r);
        // Walked as written: a `..` after a link climbs out of its target,
        // so the walk's end is also where the kernel opens it.
        let real = own_real_path(r, replaceable, resolver)?;
        for p in [named, real] {
            if shown_writable(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// Where one of sandspawn's own paths (`what`: its cache root, user config
/// directory, a policy file of this run) really is: the last hop of its
/// symlink walk (a missing tail as written, where it would be created).
/// Protecting only the spelling through a link left the real directory
/// writable when a writable root held it (`~/.cache -> /data/cache` with
/// `--write /data`). A link on the way that `replaceable` says the child
/// could change (it lies inside a writable root) fails closed: the next run
/// would follow it to a directory of the child's and read its memos,
/// caches or policy. The path itself being such a link is for
/// [`own_state`] to name. A walk that fails (a loop, EACCES) leaves the
/// path as named, after checking the hops it made.
pub fn own_real_path(
    path: &Path,
    replaceable: &dyn Fn(&Path) -> bool,
    resolver: &dyn paths::Resolver,
) -> Result<PathBuf, ProtectError> {
    walk_checked(path, replaceable, resolver).map_err(|(link, real)| ProtectError {
        path: link,
        problem: format!(
            "a symlink inside a writable root on the way to sandspawn's own {}, \
             which the sandbox could point elsewhere for later runs to read; name \
             its real path {real} instead (XDG_CACHE_HOME, XDG_CONFIG_HOME, \
             --policy), or keep the link out of the --write roots",
            path.display()
        ),
    })
}

/// The last hop of `path`'s symlink walk (a missing tail as written; the
/// path as named when the walk fails), or the first link on the way that
/// `replaceable` says the child could change, with the real path to name
/// instead. `path` itself being such a link is left to the caller.
pub(crate) fn walk_checked(
    path: &Path,
    replaceable: &dyn Fn(&Path) -> bool,
    resolver: &dyn paths::Resolver,
) -> Result<PathBuf, (PathBuf, String)> {
    let mut hops = Vec::new();
    let walked = resolver.walk(path, &mut hops);
    let start = paths::normalize(path);
    for hop in &hops {
        let link = (hop.ancestors())
            .filter(|a| !(hop == &start && *a == start.as_path()))
            .find(|a| replaceable(a));
        if let Some(link) = link {
            let real = std::fs::canonicalize(path)
                .ok()
                .or_else(|| hops.last().filter(|_| walked.is_ok()).cloned())
                .map_or_else(
                    || "a path outside the --write roots".to_string(),
                    |r| r.display().to_string(),
                );
            return Err((link.to_path_buf(), real));
        }
    }
    Ok(match (walked, hops.pop()) {
        (Ok(()), Some(real)) => real,
        _ => start,
    })
}

/// The directory a `.git` file names (`gitdir: PATH`, relative to the
/// file's directory), checked to contain no symlink. Read as a regular
/// file only, not following a link, and never waiting: the caller saw a
/// regular file, and one that is a FIFO (or a link) by the time it is
/// opened was swapped in the meantime, by a sandbox still writing there,
/// so that the plan would wait forever for a writer. Refused.
pub(super) fn gitdir_of(git_file: &Path, root: &Path) -> Result<Option<PathBuf>, ProtectError> {
    use crate::readfile::{read_regular, RegularError};
    let text = match read_regular(git_file, 4096, false) {
        Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(RegularError::NotRegular(kind)) => {
            return Err(ProtectError {
                path: git_file.to_path_buf(),
                problem: format!(
                    "is {kind} now, not the regular file it was a moment before: something \
                     is replacing it (a sandbox still running there?)"
                ),
            })
        }
        Err(RegularError::Io(e)) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ProtectError {
                path: git_file.to_path_buf(),
                problem: "is a symlink inside a writable root".into(),
            })
        }
        Err(RegularError::Io(_)) => return Ok(None),
    };
    let Some(target) = text.lines().next().and_then(|l| l.strip_prefix("gitdir:")) else {
        return Ok(None);
    };
    let gitdir = paths::normalize(&root.join(target.trim()));
    match std::fs::canonicalize(&gitdir) {
        Ok(real) if real == gitdir => Ok(Some(gitdir)),
        Ok(real) => Err(ProtectError {
            path: gitdir,
            problem: format!(
                "the gitdir named by {} resolves through a symlink to {}",
                git_file.display(),
                real.display()
            ),
        }),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_dir_file_and_gitdir_are_found_without_scanning() {
        let ws = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(ws.path()).unwrap();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("deep/.git")).unwrap(); // not looked at
        let found = probe(std::slice::from_ref(&root), &mut Default::default()).unwrap();
        assert_eq!(found, vec![root.join(".git")]);

        // A worktree: .git is a file naming a gitdir elsewhere in the root.
        let wt = root.join("wt");
        std::fs::create_dir_all(root.join("meta/worktrees/wt")).unwrap();
        std::fs::create_dir(&wt).unwrap();
        std::fs::write(wt.join(".git"), "gitdir: ../meta/worktrees/wt\n").unwrap();
        std::fs::create_dir(wt.join(".sandspawn")).unwrap();
        let found = probe(&[wt.clone(), root.clone()], &mut Default::default()).unwrap();
        assert_eq!(
            found,
            vec![
                root.join("meta/worktrees/wt"),
                wt.join(".git"),
                wt.join(".sandspawn"),
                root.join(".git")
            ]
        );
    }

    #[test]
    fn a_symlinked_protected_path_fails_closed() {
        let ws = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(ws.path()).unwrap();
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join(".git")).unwrap();
        let err = probe(std::slice::from_ref(&root), &mut Default::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".git") && err.contains("symlink inside a writable root"),
            "{err}"
        );

        let ws2 = tempfile::tempdir().unwrap();
        let root2 = std::fs::canonicalize(ws2.path()).unwrap();
        std::fs::create_dir(root2.join("real")).unwrap();
        std::os::unix::fs::symlink(root2.join("real"), root2.join("link")).unwrap();
        std::fs::write(root2.join(".git"), "gitdir: link\n").unwrap();
        let err = probe(std::slice::from_ref(&root2), &mut Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("resolves through a symlink"), "{err}");
    }

    /// A `.git` seen as a regular file and a FIFO by the time it is read
    /// (a sandbox still running in the workspace swaps it): refused at
    /// once, where a blocking open waited for a writer forever.
    #[test]
    fn a_git_file_swapped_for_a_fifo_is_refused_without_waiting() {
        let ws = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(ws.path()).unwrap();
        let dotgit = root.join(".git");
        nix::unistd::mkfifo(&dotgit, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (git, top) = (dotgit.clone(), root.clone());
        std::thread::spawn(move || {
            let _ = tx.send(gitdir_of(&git, &top).map_err(|e| e.to_string()));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(5));
        let want = format!(
            "protected path {}: is a FIFO now, not the regular file it was a moment before: \
             something is replacing it (a sandbox still running there?); refusing to start \
             (a writable root must not redirect it)",
            dotgit.display()
        );
        assert_eq!(got, Ok(Err(want)));
        // And a link swapped in is one inside the writable root.
        std::fs::remove_file(&dotgit).unwrap();
        std::fs::write(root.join("g"), "gitdir: x\n").unwrap();
        std::os::unix::fs::symlink(root.join("g"), &dotgit).unwrap();
        let err = gitdir_of(&dotgit, &root).unwrap_err().to_string();
        assert!(err.contains("is a symlink inside a writable root"), "{err}");
    }

    #[test]
    fn own_state_under_a_writable_root_is_created_and_a_symlink_fails_closed() {
        let ws = tempfile::tempdir().unwrap();
        let home = std::fs::canonicalize(ws.path()).unwrap();
        let config = home.join(".config/sandspawn");
        let outside = tempfile::tempdir().unwrap();
        let elsewhere = std::fs::canonicalize(outside.path())
            .unwrap()
            .join("sandspawn");
        let found = own_state(
            &[config.clone(), elsewhere.clone()],
            &[home.join("gone.toml")],
            std::slice::from_ref(&home),
        );
        assert_eq!(found.unwrap(), vec![config.clone()]);
        assert!(config.is_dir(), "created so that it can be bound read-only");
        assert!(
            !elsewhere.exists(),
            "outside every writable root: left alone"
        );

        let cache = home.join(".cache/sandspawn");
        std::fs::create_dir_all(home.join(".cache")).unwrap();
        std::fs::create_dir(home.join("real")).unwrap();
        std::os::unix::fs::symlink(home.join("real"), &cache).unwrap();
        let err = own_state(&[cache], &[], &[home]).unwrap_err().to_string();
        assert!(
            err.contains(".cache/sandspawn: is a symlink inside a writable root"),
            "{err}"
        );
    }
}
