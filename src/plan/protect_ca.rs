//! CA inputs inside writable roots. The trust bundle of every later run
//! (and of every MCP server) is built from these files: a sandboxed child
//! that could rewrite one, or rename its directory away and put a new one
//! in its place, would have its own CA trusted from then on. So each file
//! (and CA directory) read lies under a protected, read-only path, as
//! sandspawn's own state does. A symlink inside a writable root on the way
//! to an input fails closed: the child could point it elsewhere, and no
//! read-only bind of the target keeps the link itself in place.

use std::path::{Path, PathBuf};

use super::fs::Access;
use super::protect::ProtectError;
use super::Plan;
use crate::paths::{depth, is_within, HopError, Resolver};
use crate::trust::{Origin, TrustOutcome};

/// One CA input as the trust step saw it.
pub struct CaInput<'a> {
    /// The path as named (absolute, normalized).
    pub named: &'a Path,
    /// Where it came from, for messages (`SSL_CERT_FILE`, `--ca / policy `ca``).
    pub origin: String,
}

/// The CA inputs every later run's bundle is built from, and the system
/// store, should a writable root hold it.
pub fn inputs_of(outcome: &TrustOutcome) -> Vec<CaInput<'_>> {
    (outcome.inputs.iter())
        .map(|i| CaInput {
            named: &i.path,
            origin: i.origin.describe(),
        })
        .chain(outcome.system_store.iter().map(|s| CaInput {
            named: s,
            origin: Origin::System.describe(),
        }))
        .collect()
}

/// A CA input hidden inside a writable root (it holds a key, or a deny
/// covers it) is masked, not bound read-only; the directories leading to
/// the mask must stay in place all the same, or the child renames them
/// away, mask and all, and leaves a new input for the next run. Marking
/// the mask protected has lowering pin them as it does for a read-only
/// protected path.
pub fn keep_masks_in_place(plan: &mut Plan, hidden: &[PathBuf]) {
    for p in hidden {
        let mask = (plan.fs.entries.iter_mut())
            .filter(|e| e.access == Access::Deny && is_within(p, &e.path))
            .max_by_key(|e| depth(&e.path));
        if let Some(mask) = mask {
            mask.protected = true;
        }
    }
}

/// What to protect for `inputs`, and warnings for inputs a child could
/// create. `writable_at` says (lexically, links not followed) whether a
/// path lies under a writable root; `roots` are the writable roots
/// themselves, which the child cannot replace.
pub fn ca_inputs(
    inputs: &[CaInput<'_>],
    roots: &[PathBuf],
    writable_at: &dyn Fn(&Path) -> bool,
    resolver: &dyn Resolver,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, ProtectError> {
    let mut out: Vec<PathBuf> = Vec::new();
    // No writable root, nothing to keep (and no hashed directory to list
    // on every run).
    if roots.is_empty() {
        return Ok(out);
    }
    let mut push = |p: PathBuf| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for input in inputs {
        // A link inside a protected directory cannot be changed; one
        // inside a writable root can, and so can a root that is a link
        // inside another (`--write ~ --write ~/ws`, `~/ws` a link).
        let replaceable = |a: &Path, inside: Option<&Path>| {
            writable_at(a)
                && (!roots.iter().any(|r| r.as_path() == a) || a.parent().is_some_and(writable_at))
                && !inside.is_some_and(|d| is_within(a, d))
                && std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink())
        };
        let follow = |path: &Path, inside: Option<&Path>| {
            follow(input, path, inside, writable_at, &replaceable, resolver)
        };
        let Some(real) = follow(input.named, None)? else {
            // Where the child would create it: through a linked directory
            // on the way, that is the link's target.
            let created_at = (input.named.parent())
                .and_then(|d| std::fs::canonicalize(d).ok())
                .zip(input.named.file_name())
                .map(|(d, name)| d.join(name));
            if std::fs::symlink_metadata(input.named).is_err()
                && (writable_at(input.named) || created_at.is_some_and(|c| writable_at(&c)))
            {
                warnings.push(format!(
                    "{} {}: missing inside a writable root; the sandbox could create it \
                     and later runs would trust what it holds: create it, or name a CA \
                     outside the --write roots",
                    input.origin,
                    input.named.display()
                ));
            }
            continue;
        };
        for p in [input.named, real.as_path()] {
            if writable_at(p) {
                push(p.to_path_buf());
            }
        }
        if !real.is_dir() {
            continue;
        }
        // A hashed directory's entries are links, often to files beside
        // it: those the directory's protection does not cover are
        // protected by their real path.
        let Ok(entries) = std::fs::read_dir(&real) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = real.join(entry.file_name());
            let Some(target) = follow(&path, Some(&real))? else {
                continue;
            };
            if !is_within(&target, &real) && writable_at(&target) && target.is_file() {
                push(target);
            }
        }
    }
    Ok(out)
}

/// One warning per writable root that is itself a protected CA input
/// (`--write certs` with SSL_CERT_DIR naming certs): the grant asked for
/// is read-only, and without this nothing says why the child's writes
/// there fail. (A root deeper inside a protected directory stays
/// writable: the deeper entry decides.)
pub fn roots_kept(protected: &[PathBuf], roots: &[PathBuf]) -> Vec<String> {
    (roots.iter())
        .filter(|root| protected.contains(root))
        .map(|root| {
            format!(
                "--write {}: stays read-only: it is a CA input, which the trust bundle of \
                 later runs is built from; name a CA outside the --write roots to write there",
                root.display()
            )
        })
        .collect()
}

/// Where `path` leads (`None` when it cannot be followed: the trust step
/// skipped it too), after checking that no link on the way could be
/// replaced by the child. A chain that ends badly inside a writable root
/// fails closed too: a link (outside) to a missing file there is a CA the
/// child can create for the next run, and a path that cannot be inspected
/// there may hide a link it can point elsewhere. (A missing `path` itself
/// is only warned about by the caller: the user named that path.)
fn follow(
    input: &CaInput<'_>,
    path: &Path,
    inside: Option<&Path>,
    writable_at: &dyn Fn(&Path) -> bool,
    replaceable: &dyn Fn(&Path, Option<&Path>) -> bool,
    resolver: &dyn Resolver,
) -> Result<Option<PathBuf>, ProtectError> {
    let mut hops = Vec::new();
    // Checked even when the walk fails: the hops of a loop, or those
    // before a prefix that cannot be read, are links all the same.
    let walked = resolver.walk(path, &mut hops);
    for hop in &hops {
        if let Some(link) = hop.ancestors().find(|a| replaceable(a, inside)) {
            // A loop leads nowhere: name something that is not a link.
            let real = std::fs::canonicalize(path).map_or_else(
                |_| "a CA outside the --write roots".to_string(),
                |r| r.display().to_string(),
            );
            return Err(ProtectError {
                path: link.to_path_buf(),
                problem: format!(
                    "a symlink inside a writable root on the way to the CA input {} ({}), \
                     which the sandbox could point elsewhere for later runs to trust; \
                     name {real} instead",
                    input.named.display(),
                    input.origin
                ),
            });
        }
    }
    let last = hops.last().cloned();
    let exists = |p: &PathBuf| std::fs::symlink_metadata(p).is_ok();
    let is_link = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    let bad_end = match &walked {
        Err(HopError::Io(at, msg)) => Some((
            at.clone(),
            format!(
                "cannot be inspected ({msg}) inside a writable root on the way to the CA \
                 input {} ({}), so a link there the sandbox could point elsewhere, or a file \
                 it could create, would go unseen; make it readable, or name a CA outside \
                 the --write roots",
                input.named.display(),
                input.origin
            ),
        )),
        // Every link on the loop was checked above: none can change.
        Err(HopError::Loop(_)) => None,
        // Only when `path` itself is a link: a missing `path` reached
        // through a linked directory is the user's missing file, which the
        // caller warns about.
        Ok(()) => last
            .clone()
            .filter(|l| hops.len() > 1 && !exists(l) && is_link(path))
            .map(|l| {
                let problem = format!(
                    "missing inside a writable root, where the CA input {} ({}) leads; the \
                 sandbox could create it and later runs would trust what it holds: create \
                 it, or name a CA outside the --write roots",
                    input.named.display(),
                    input.origin
                );
                (l, problem)
            }),
    };
    if let Some((at, problem)) = bad_end {
        if writable_at(&at) && !inside.is_some_and(|d| is_within(&at, d)) {
            return Err(ProtectError { path: at, problem });
        }
    }
    Ok(last.filter(|l| walked.is_ok() && exists(l)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::{normalize, HostResolver};

    /// A host where everything under `.0` cannot be read (EACCES as the
    /// unprivileged user sees a mode 000 directory).
    struct Unreadable(PathBuf);

    impl Resolver for Unreadable {
        fn walk(&self, path: &Path, hops: &mut Vec<PathBuf>) -> Result<(), HopError> {
            hops.clear();
            hops.push(normalize(path));
            if is_within(path, &self.0) {
                let msg = "Permission denied (os error 13)".to_string();
                return Err(HopError::Io(self.0.clone(), msg));
            }
            Ok(())
        }
    }

    fn check(named: &Path, root: &Path, resolver: &dyn Resolver) -> Result<Vec<String>, String> {
        let input = CaInput {
            named,
            origin: "SSL_CERT_FILE".to_string(),
        };
        let mut warnings = Vec::new();
        let writable_at = |p: &Path| is_within(p, root);
        ca_inputs(
            &[input],
            &[root.to_path_buf()],
            &writable_at,
            resolver,
            &mut warnings,
        )
        .map(|_| warnings)
        .map_err(|e| e.to_string())
    }

    /// A prefix that cannot be read inside a writable root may hide a link
    /// the child can retarget: refused, naming it. Before, it was taken
    /// for a missing file and only warned about.
    #[test]
    fn an_uninspectable_prefix_inside_a_writable_root_is_refused() {
        let r = Unreadable(PathBuf::from("/nonexistent-ws/secret"));
        let got = check(
            Path::new("/nonexistent-ws/secret/ca.pem"),
            Path::new("/nonexistent-ws"),
            &r,
        );
        assert_eq!(
            got,
            Err(
                "protected path /nonexistent-ws/secret: cannot be inspected (Permission \
                 denied (os error 13)) inside a writable root on the way to the CA input \
                 /nonexistent-ws/secret/ca.pem (SSL_CERT_FILE), so a link there the sandbox \
                 could point elsewhere, or a file it could create, would go unseen; make it \
                 readable, or name a CA outside the --write roots; refusing to start (a \
                 writable root must not redirect it)"
                    .to_string()
            )
        );
        // Outside every writable root the child can change nothing there.
        let got = check(
            Path::new("/nonexistent-ws/secret/ca.pem"),
            Path::new("/nonexistent-other"),
            &r,
        );
        assert_eq!(got, Ok(vec![]));
    }

    /// A hashed CA directory outside the writable root whose link leads to
    /// a missing file inside it: the child could create that file and the
    /// next run would read it through the link.
    #[test]
    fn a_hashed_link_to_a_missing_file_inside_a_writable_root_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        let (certs, ws) = (top.join("certs"), top.join("ws"));
        std::fs::create_dir(&certs).unwrap();
        std::fs::create_dir(&ws).unwrap();
        std::os::unix::fs::symlink(ws.join("corp.pem"), certs.join("1a2b3c4d.0")).unwrap();
        let got = check(&certs, &ws, &HostResolver).unwrap_err();
        let want = format!(
            "protected path {}: missing inside a writable root, where the CA input {} \
             (SSL_CERT_FILE) leads;",
            ws.join("corp.pem").display(),
            certs.display()
        );
        assert!(got.starts_with(&want), "{got}");
    }

    /// A missing CA named through a linked directory (`~/proj` a link to
    /// the writable `/data/proj`, as a `/home -> var/home` host has for all
    /// of HOME): the user named a file that is simply not there yet, which
    /// is warned about, not refused; the warning looks where the child
    /// could create it, through the link.
    #[test]
    fn a_missing_ca_named_through_a_linked_directory_is_warned_about_not_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        let (ws, link) = (top.join("ws"), top.join("proj"));
        std::fs::create_dir_all(ws.join("certs")).unwrap();
        std::os::unix::fs::symlink(&ws, &link).unwrap();
        let named = link.join("certs/dev.pem");
        let warnings = check(&named, &ws, &HostResolver).unwrap();
        assert_eq!(
            warnings,
            [format!(
                "SSL_CERT_FILE {}: missing inside a writable root; the sandbox could create \
                 it and later runs would trust what it holds: create it, or name a CA \
                 outside the --write roots",
                named.display()
            )]
        );
    }
}
