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
use crate::paths::{depth, is_within, Resolver};
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
        // inside a writable root can.
        let replaceable = |a: &Path, inside: Option<&Path>| {
            writable_at(a)
                && !roots.iter().any(|r| r.as_path() == a)
                && !inside.is_some_and(|d| is_within(a, d))
                && std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink())
        };
        let Some(real) = follow(input, input.named, None, &replaceable, resolver)? else {
            if std::fs::symlink_metadata(input.named).is_err() && writable_at(input.named) {
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
            let Some(target) = follow(input, &path, Some(&real), &replaceable, resolver)? else {
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
/// replaced by the child.
fn follow(
    input: &CaInput<'_>,
    path: &Path,
    inside: Option<&Path>,
    replaceable: &dyn Fn(&Path, Option<&Path>) -> bool,
    resolver: &dyn Resolver,
) -> Result<Option<PathBuf>, ProtectError> {
    let Ok(hops) = resolver.hops(path) else {
        return Ok(None);
    };
    for hop in &hops {
        if let Some(link) = hop.ancestors().find(|a| replaceable(a, inside)) {
            let real = std::fs::canonicalize(path).map_or_else(
                |_| "the file it leads to".to_string(),
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
    Ok(last.filter(|p| std::fs::symlink_metadata(p).is_ok()))
}
