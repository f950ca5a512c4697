//! What the plan learns of the host before it is shaped: which system
//! roots exist (and which are merged-/usr links), what each policy path is
//! here (a directory, a file, missing, unreadable) and where a path named
//! through a symlink really leads.

use std::path::{Path, PathBuf};

use super::assemble::{HostFacts, SystemRoot, SYSTEM_ROOTS};
use super::fs::PathKind;
use crate::paths::MemoResolver;
use crate::policy::Policy;

/// Which system roots exist (and which are merged-/usr links), and what the
/// policy's own paths are on this host.
pub(super) fn probe_host(
    policy: &Policy,
    resolver: &MemoResolver,
    warnings: &mut Vec<String>,
) -> HostFacts {
    let mut facts = HostFacts::default();
    for root in SYSTEM_ROOTS {
        let path = PathBuf::from(root);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&path) {
                    facts.system_roots.push(SystemRoot::Link { path, target });
                }
            }
            Ok(m) if m.is_dir() => facts.system_roots.push(SystemRoot::Dir(path)),
            _ => {}
        }
    }
    for rule in &policy.deny {
        use nix::unistd::{access, AccessFlags};
        // Hiding costs a mount (bwrap) or a rule per sibling (Landlock):
        // skip what the caller, and so the sandbox, cannot open anyway.
        let kind = match std::fs::metadata(&rule.path) {
            Ok(m) if m.is_dir() => {
                if access(&rule.path, AccessFlags::R_OK).is_err()
                    && access(&rule.path, AccessFlags::X_OK).is_err()
                {
                    PathKind::Unreadable
                } else {
                    PathKind::Dir
                }
            }
            // Not a directory: writing (or connecting, for a socket) needs
            // only W_OK, so a write-only file is still worth hiding.
            Ok(_)
                if access(&rule.path, AccessFlags::R_OK).is_err()
                    && access(&rule.path, AccessFlags::W_OK).is_err() =>
            {
                PathKind::Unreadable
            }
            Ok(_) => PathKind::File,
            Err(_) => PathKind::Missing,
        };
        facts.kinds.insert(rule.path.clone(), kind);
    }
    for rule in policy.read.iter().chain(&policy.write).chain(&policy.deny) {
        if let Some(alias) = alias_of(&rule.path, resolver) {
            facts.aliases.insert(rule.path.clone(), alias);
        }
    }
    for (rule, what) in policy
        .read
        .iter()
        .map(|r| (r, "--read"))
        .chain(policy.write.iter().map(|r| (r, "--write")))
    {
        // Followed, not lstat'ed: a link that leads nowhere (dangling, or a
        // loop) cannot be bound either, and bwrap failed on its target
        // ("Can't find source path", exit 1) after explain listed it as a
        // plain grant.
        let Err(e) = std::fs::metadata(&rule.path) else {
            continue;
        };
        facts.kinds.insert(rule.path.clone(), PathKind::Missing);
        if let Some(alias) = facts.aliases.get(&rule.path) {
            facts
                .kinds
                .insert(alias.resolved.clone(), PathKind::Missing);
        }
        let why = if std::fs::symlink_metadata(&rule.path).is_ok() {
            format!("a symlink that leads nowhere ({e})")
        } else {
            "no such path on this host".to_string()
        };
        warnings.push(format!(
            "{what} {} (from {}): {why}; it will not be visible in the sandbox",
            rule.path.display(),
            rule.origin
        ));
    }
    facts
}

/// Where `path` leads when a symlink is on the way, `None` when it leads
/// to itself (or cannot be followed: the path then stays as written).
fn alias_of(path: &Path, resolver: &MemoResolver) -> Option<super::Alias> {
    use crate::paths::Resolver;
    let hops = resolver.hops(path).ok()?;
    let resolved = hops.last().filter(|r| r.as_path() != path)?.clone();
    // `ancestors` starts at the path itself: the first link is the deepest.
    let link = path
        .ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))?
        .to_path_buf();
    Some(super::Alias { link, resolved })
}
