//! Private keys beside a CA *file* input. A TLS-intercepting proxy often
//! writes its CA certificate and its key into one directory (`ca-cert.pem`
//! and `ca-key.pem`); the child reads the sanitised bundle, never the
//! input, but a root that covers that directory (the workspace preset with
//! SSL_CERT_FILE=./certs/ca.pem, `--read ~`) would hand it the key. So the
//! regular files beside each CA file that hold key material (judged as a
//! CA directory's files are) become denies, on either backend.
//!
//! The cost stays small: only directories a root of the plan exposes are
//! listed, once, not recursively, within [`Bounds`], each directory with
//! its own. What is not read is hidden, file by file (a file too big to be
//! a key file, the files past a directory's byte budget), never passed
//! over: a child that can write there could otherwise push the key past
//! the bounds for the next run. Only a directory that cannot be listed, or
//! holds more entries than the bound, is hidden whole; when that directory
//! is the working directory or one granted by its own path, sandspawn
//! refuses to start rather than hide the user's workspace without a word.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::paths::{self, Resolver};
use crate::policy::{PathRule, Policy};
use crate::trust::{self, TrustOutcome};

/// How far the look beside a CA goes, per directory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// A file larger than this is not read, and hidden. A key file is far
    /// smaller: a PEM key with a long chain, or a PKCS#12 holding both, is
    /// a few tens of KB; a DER key a few KB. Data files of many MB beside
    /// a CA in a workspace are common, and reading them would cost.
    pub max_file_bytes: u64,
    /// Bytes read in one directory; its files past them are hidden unread.
    pub max_dir_bytes: u64,
    /// Entries of one directory; past them it is hidden whole (a listing
    /// costs little, but without a bound a child could make it endless).
    pub max_entries: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_file_bytes: 1 << 20,
            max_dir_bytes: 16 << 20,
            max_entries: 10_000,
        }
    }
}

/// The look beside a CA would hide a directory the user works in.
#[derive(Debug, thiserror::Error)]
pub enum BesideCaError {
    /// Hiding it whole would hide the workspace the user asked for.
    #[error(
        "{origin} {ca}: its directory {dir} {problem}, so sandspawn cannot look through it \
         for private keys and would hide it whole, but it is {what}; move the CA into a \
         directory of its own and point {origin} at it",
        dir = .dir.display()
    )]
    WouldHideGranted {
        /// The variable (or `--ca`) that names the CA.
        origin: String,
        /// The CA as named.
        ca: String,
        /// The directory.
        dir: PathBuf,
        /// Why it cannot be looked through.
        problem: String,
        /// What the directory is to the user.
        what: String,
    },
}

/// [`keys_beside`] with the system roots and the default bounds.
pub(super) fn for_plan(
    outcome: &TrustOutcome,
    policy: &Policy,
    cwd: &Path,
    resolver: &dyn Resolver,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathRule>, BesideCaError> {
    let bounds = Bounds::default();
    let ctx = Ctx {
        system: super::SYSTEM_ROOTS,
        cwd,
        bounds: &bounds,
        resolver,
    };
    keys_beside(outcome, policy, &ctx, warnings)
}

/// What `keys_beside` needs besides the outcome and the policy.
pub(super) struct Ctx<'a> {
    /// The system roots, exposed whatever the policy says.
    pub system: &'a [&'a str],
    /// The child's working directory.
    pub cwd: &'a Path,
    pub bounds: &'a Bounds,
    pub resolver: &'a dyn Resolver,
}

/// What the scan found to hide in a listed directory.
enum Found {
    Key(trust::KeyMaterial),
    /// Over the per-file bound, by this many bytes in all.
    TooBig(u64),
    /// Past the directory's byte budget.
    Unread,
}

/// Denies for the keys beside `outcome`'s CA file inputs that a root of
/// `policy` (or a system root in `ctx.system`) would expose, and for the
/// files there that were not read, with warning lines. Paths the policy
/// already denies are left to it.
pub(super) fn keys_beside(
    outcome: &TrustOutcome,
    policy: &Policy,
    ctx: &Ctx<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathRule>, BesideCaError> {
    let file_input = |i: &&trust::InputReport| i.resolved.as_deref().is_some_and(Path::is_file);
    if !outcome.inputs.iter().any(|i| file_input(&i)) {
        return Ok(Vec::new());
    }
    // Each root as named and where it really is: a root named through a
    // link exposes its target. Walked with the plan's memo: the same
    // prefixes (/etc, HOME) are walked for the mounts anyway.
    let with_real = |p: &Path| {
        let real = (ctx.resolver.hops(p).ok())
            .and_then(|h| h.last().cloned())
            .filter(|r| r != p);
        std::iter::once(p.to_path_buf()).chain(real)
    };
    let granted: Vec<&PathRule> = policy.read.iter().chain(&policy.write).collect();
    let roots: Vec<PathBuf> = (granted.iter())
        .map(|r| r.path.as_path())
        .chain(ctx.system.iter().map(Path::new))
        .flat_map(with_real)
        .collect();
    let denied: Vec<PathBuf> = (policy.deny.iter())
        .flat_map(|r| with_real(&r.path))
        .collect();
    let covered = |dir: &Path| paths::granted_past_denies(&roots, &denied, dir);
    // What a directory hidden whole would take from the user: the
    // working directory, or a grant of that very directory.
    let real_cwd = std::fs::canonicalize(ctx.cwd).ok();
    let users = |dir: &Path| {
        if dir == ctx.cwd || real_cwd.as_deref() == Some(dir) {
            return Some("the working directory".to_owned());
        }
        (granted.iter())
            .find(|r| with_real(&r.path).any(|p| p == dir))
            .map(|r| format!("granted by its own path ({})", r.origin))
    };
    let mut out: Vec<PathRule> = Vec::new();
    let mut scanned: Vec<PathBuf> = Vec::new();
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
            let found = match scan(&dir, real, ctx.bounds) {
                Ok(found) => found,
                // Not listed whole: what was not seen may be a key, and a
                // child that can write there could fill it so that the
                // next run stops short. Hidden whole, unless that hides
                // what the user asked to work in.
                Err(problem) => {
                    if let Some(what) = users(&dir) {
                        return Err(BesideCaError::WouldHideGranted {
                            origin,
                            ca,
                            dir,
                            problem,
                            what,
                        });
                    }
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
            };
            let mut unread: Vec<PathBuf> = Vec::new();
            for (path, found) in found {
                // A file granted by its own path (a dev server's key beside
                // the dev CA) is the user's choice, left to that grant.
                let taken = |p: &Path| {
                    (policy.deny.iter().chain(&policy.read).chain(&policy.write))
                        .any(|r| r.path == p)
                        || out.iter().any(|r| r.path == p)
                };
                if taken(&path) {
                    continue;
                }
                let why = match found {
                    Found::Key(material) => {
                        let (what, it) = match material {
                            trust::KeyMaterial::Key => ("private key", "the key"),
                            trust::KeyMaterial::MaybePkcs12 => {
                                ("a PKCS#12 file (may hold a private key)", "it")
                            }
                        };
                        let why = format!("{what} beside CA input {ca} ({origin})");
                        warnings.push(format!(
                            "{}: {why}; hidden in the sandbox (move {it} out of the CA's \
                             directory to silence this)",
                            path.display()
                        ));
                        why
                    }
                    Found::TooBig(size) => {
                        let why = format!(
                            "{size} bytes, more than sandspawn reads ({}) of a file beside CA \
                             input {ca} ({origin}) to look for a private key",
                            ctx.bounds.max_file_bytes
                        );
                        warnings.push(format!(
                            "{}: {why}; hidden in the sandbox (keep the CA in a directory of \
                             its own to silence this)",
                            path.display()
                        ));
                        why
                    }
                    Found::Unread => {
                        unread.push(path.clone());
                        format!(
                            "not read for a private key beside CA input {ca} ({origin}): past \
                             the {} bytes sandspawn reads in its directory",
                            ctx.bounds.max_dir_bytes
                        )
                    }
                };
                out.push(PathRule { path, origin: why });
            }
            // One line for them all: there may be thousands.
            if let Some(first) = unread.first() {
                warnings.push(format!(
                    "{origin} {ca}: {} files of its directory {} past the {} bytes sandspawn \
                     reads there for private keys (from {}) are hidden in the sandbox, unread; \
                     keep the CA in a directory of its own",
                    unread.len(),
                    dir.display(),
                    ctx.bounds.max_dir_bytes,
                    first.display()
                ));
            }
        }
    }
    Ok(out)
}

/// The regular files directly in `dir` to hide: those that hold key
/// material, those too big to read, those past the byte budget. `Err` says
/// why the directory cannot be listed whole (too many entries,
/// unlistable), in which case the caller hides it. A file this user cannot
/// read is passed over: the sandbox, the same user with no more rights,
/// cannot read it either. Links are not followed: what one names is not
/// beside the CA.
fn scan(dir: &Path, ca: &Path, bounds: &Bounds) -> Result<Vec<(PathBuf, Found)>, String> {
    // The sandbox cannot list it either, but it can open a file there by
    // name.
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot be listed ({e})"))?;
    let mut files = Vec::new();
    for (n, entry) in entries.enumerate() {
        if n >= bounds.max_entries {
            return Err(format!(
                "has more than {} entries, over the limit for a directory beside a CA",
                bounds.max_entries
            ));
        }
        let Ok(entry) = entry else { continue };
        // The CA itself was read by the trust step already.
        if entry.file_type().is_ok_and(|t| t.is_file()) && entry.path() != ca {
            files.push(entry.path());
        }
    }
    // Sorted: the warnings and the plan come out the same on every run.
    files.sort();
    let mut found = Vec::new();
    let mut used = 0u64;
    let mut files = files.into_iter();
    for path in files.by_ref() {
        let Some((file, size)) = open_regular(&path) else {
            continue;
        };
        if size > bounds.max_file_bytes {
            found.push((path, Found::TooBig(size)));
            continue;
        }
        if used + size > bounds.max_dir_bytes {
            found.push((path, Found::Unread));
            break;
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // Bounded by the size seen: a file growing now is read no further.
        if file.take(size).read_to_end(&mut bytes).is_err() {
            continue;
        }
        used += bytes.len() as u64;
        if let Some(material) = trust::key_material(&bytes) {
            found.push((path, Found::Key(material)));
        }
    }
    // Past the budget: not opened, each hidden.
    found.extend(files.map(|p| (p, Found::Unread)));
    Ok(found)
}

/// The file and its size, if it is a regular file this user can open.
/// Opened without following a link or blocking (a FIFO swapped in after
/// the listing).
fn open_regular(path: &Path) -> Option<(std::fs::File, u64)> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then(|| (file, meta.size()))
}

#[cfg(test)]
#[path = "beside_ca_tests.rs"]
mod tests;
