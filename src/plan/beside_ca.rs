//! Private keys beside a CA *file* input. A TLS-intercepting proxy often
//! writes its CA certificate and its key into one directory (`ca-cert.pem`
//! and `ca-key.pem`); the child reads the sanitised bundle, never the
//! input, but a root that covers that directory (the workspace preset with
//! SSL_CERT_FILE=./certs/ca.pem, `--read ~`) would hand it the key. So the
//! regular files beside each CA file that hold key material (judged as a
//! CA directory's files are) become denies, on either backend.
//!
//! The cost stays small: only directories a root of the plan exposes are
//! listed, once, not recursively, within the CA directory scan's bounds;
//! one past them is hidden whole (a child that can write there could
//! otherwise push the key past them for the next run).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::paths::{self, Resolver};
use crate::policy::{PathRule, Policy};
use crate::trust::{self, Limits, TrustOutcome};

/// [`keys_beside`] with the system roots and the trust step's bounds.
pub(super) fn for_plan(
    outcome: &TrustOutcome,
    policy: &Policy,
    resolver: &dyn Resolver,
    warnings: &mut Vec<String>,
) -> Vec<PathRule> {
    let limits = Limits::default();
    keys_beside(
        outcome,
        policy,
        super::SYSTEM_ROOTS,
        &limits,
        resolver,
        warnings,
    )
}

/// Denies for the keys beside `outcome`'s CA file inputs that a root of
/// `policy` (or a system root in `system`) would expose, with one warning
/// line per key. Paths the policy already denies are left to it.
pub(super) fn keys_beside(
    outcome: &TrustOutcome,
    policy: &Policy,
    system: &[&str],
    limits: &Limits,
    resolver: &dyn Resolver,
    warnings: &mut Vec<String>,
) -> Vec<PathRule> {
    let file_input = |i: &&trust::InputReport| i.resolved.as_deref().is_some_and(Path::is_file);
    if !outcome.inputs.iter().any(|i| file_input(&i)) {
        return Vec::new();
    }
    // Each root as named and where it really is: a root named through a
    // link exposes its target. Walked with the plan's memo: the same
    // prefixes (/etc, HOME) are walked for the mounts anyway.
    let with_real = |p: &Path| {
        let real = (resolver.hops(p).ok())
            .and_then(|h| h.last().cloned())
            .filter(|r| r != p);
        std::iter::once(p.to_path_buf()).chain(real)
    };
    let roots: Vec<PathBuf> = (policy.read.iter().chain(&policy.write))
        .map(|r| r.path.as_path())
        .chain(system.iter().map(Path::new))
        .flat_map(with_real)
        .collect();
    let denied: Vec<PathBuf> = (policy.deny.iter())
        .flat_map(|r| with_real(&r.path))
        .collect();
    let covered = |dir: &Path| paths::granted_past_denies(&roots, &denied, dir);
    let mut out: Vec<PathRule> = Vec::new();
    let mut scanned: Vec<PathBuf> = Vec::new();
    let mut budget = 0u64;
    for input in outcome.inputs.iter().filter(file_input) {
        let Some(real) = input.resolved.as_deref() else {
            continue;
        };
        // The distribution's store: its keys live in /etc/ssl/private,
        // hidden by default, and the variables a host exports point here
        // (a listing of /etc/ssl/certs on every spawn, for nothing).
        if outcome.system_store.as_deref() == Some(real) {
            continue;
        }
        // Where the CA really is, and where the named path sits when that
        // is a link elsewhere (`./ca.pem -> /srv/proxy/ca.pem`): both
        // directories are beside it for whoever reads them.
        let named_dir =
            (paths::normalize(&input.path).parent()).and_then(|d| std::fs::canonicalize(d).ok());
        let dirs = real
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .chain(named_dir);
        let origin = input.origin.describe();
        let ca = input.path.display().to_string();
        for dir in dirs {
            if scanned.contains(&dir) || !covered(&dir) {
                continue;
            }
            scanned.push(dir.clone());
            let (keys, problem) = scan(&dir, real, limits, &mut budget);
            // A directory not looked through whole is hidden whole: what
            // was not read may be a key, and a child that can write there
            // (a workspace-preset run, whose key is hidden but not the
            // directory) could fill it so that the next run stops short.
            if let Some(problem) = problem {
                warnings.push(format!(
                    "{origin} {ca}: its directory {} {problem}, past what sandspawn looks \
                     through for private keys, so the directory is hidden in the sandbox; \
                     keep the CA in a directory of its own",
                    dir.display()
                ));
                if !policy.deny.iter().chain(&out).any(|r| r.path == dir) {
                    out.push(PathRule {
                        origin: format!(
                            "directory of CA input {ca} ({origin}), past the bounds of the \
                             private-key scan"
                        ),
                        path: dir,
                    });
                }
                continue;
            }
            for (key, material) in keys {
                // A key granted by its own path (a dev server's key beside
                // the dev CA) is the user's choice, left to that grant.
                let taken = |p: &Path| {
                    (policy.deny.iter().chain(&policy.read).chain(&policy.write))
                        .any(|r| r.path == p)
                        || out.iter().any(|r| r.path == p)
                };
                if taken(&key) {
                    continue;
                }
                let (what, it) = match material {
                    trust::KeyMaterial::Key => ("private key", "the key"),
                    trust::KeyMaterial::MaybePkcs12 => {
                        ("a PKCS#12 file (may hold a private key)", "it")
                    }
                };
                let why = format!("{what} beside CA input {ca} ({origin})");
                warnings.push(format!(
                    "{}: {why}; hidden in the sandbox (move {it} out of the CA's directory \
                     to silence this)",
                    key.display()
                ));
                out.push(PathRule {
                    path: key,
                    origin: why,
                });
            }
        }
    }
    out
}

/// The regular files directly in `dir` that hold key material, and why
/// the look was cut short if it was (too many entries, over the byte
/// budget, unlistable), in which case the caller hides the directory. A file
/// this user cannot read is passed over: the sandbox, the same user with
/// no more rights, cannot read it either. Links are not followed: what one
/// names is not beside the CA.
fn scan(
    dir: &Path,
    ca: &Path,
    limits: &Limits,
    budget: &mut u64,
) -> (Vec<(PathBuf, trust::KeyMaterial)>, Option<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // The sandbox cannot list it either, but it can open a file there
        // by name.
        Err(e) => return (Vec::new(), Some(format!("cannot be listed ({e})"))),
    };
    let mut problem = None;
    let mut files = Vec::new();
    for (n, entry) in entries.enumerate() {
        if n >= limits.max_dir_entries {
            problem = Some(format!(
                "has more than {} entries, over the limit for a CA directory",
                limits.max_dir_entries
            ));
            break;
        }
        let Ok(entry) = entry else { continue };
        // The CA itself was read by the trust step already.
        if entry.file_type().is_ok_and(|t| t.is_file()) && entry.path() != ca {
            files.push(entry.path());
        }
    }
    // Sorted: the warnings and the plan come out the same on every run.
    files.sort();
    let mut keys = Vec::new();
    for path in files {
        let Some(bytes) = read_small(&path, limits.max_file_bytes) else {
            continue;
        };
        *budget += bytes.len() as u64;
        if *budget > limits.max_total_bytes {
            problem = Some(format!(
                "holds more than {} bytes of files to look through",
                limits.max_total_bytes
            ));
            break;
        }
        if let Some(material) = trust::key_material(&bytes) {
            keys.push((path, material));
        }
    }
    (keys, problem)
}

/// The file's bytes, if it is a regular file of at most `max` bytes that
/// this user can read; no key file is that large. Opened without following
/// a link or blocking (a FIFO swapped in after the listing).
fn read_small(path: &Path, max: u64) -> Option<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.size() > max {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.size() as usize);
    file.take(max).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
#[path = "beside_ca_tests.rs"]
mod tests;
