//! Trust: CA inputs in, sanitised content-addressed PEM bundles out.
//!
//! A sandboxed child never reads a CA path a variable named: the proxy's CA
//! often sits next to its private key, and the file may be anything. We read
//! every input through a certificates-only sanitiser ([`sanitize_pem`]) and
//! write what survived, re-encoded, as read-only bundles in a private cache:
//! - `bundle`: system roots (when merging) + extras, for variables that
//!   *replace* a trust store (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, …);
//! - `extras_bundle`: only what the system store lacks, for variables that
//!   *add* (`NODE_EXTRA_CA_CERTS`, `DENO_CERT`, …).
//!
//! Inputs from the parent's variables degrade to warnings (a stale variable
//! must not stop a spawn); inputs the user configured (`--ca`) are strict.
//! Size limits are errors for everyone: they are the guard against a file
//! that is not a CA bundle at all.

mod bundle;
mod input;
mod memo;
mod pem;
mod pkcs12;
mod stale;
mod system;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cache;
#[cfg(test)]
mod tests_warnings;
mod vouch;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

pub(crate) use bundle::{not_ours, DirRule, CACHE_ROOT, PRIVATE_DIR};
pub use pem::{encode_bundle, sanitize_pem, DropReason, Sanitized};
pub(crate) use pem::{key_material, KeyMaterial};

use bundle::{assemble, Assembly, Sanitised};
use pem::Check;

/// Bounds on what one `prepare()` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_dir_entries: usize,
}

impl Default for Limits {
    /// Distro bundles are ~220 KB and hashed dirs a few hundred entries;
    /// these leave an order of magnitude of room.
    fn default() -> Self {
        Limits {
            max_file_bytes: 4 << 20,
            max_total_bytes: 16 << 20,
            max_dir_entries: 1024,
        }
    }
}

/// Where an input came from; decides strictness and names it in messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A trust variable of the parent's environment (`name` is the variable).
    Variable { name: String },
    /// `--ca` or the policy's `ca` list.
    PolicyCa,
    /// The system store (its certificates form the "system set").
    System,
}

impl Origin {
    pub(crate) fn describe(&self) -> String {
        match self {
            Origin::Variable { name } => name.clone(),
            Origin::PolicyCa => "--ca / policy `ca`".to_owned(),
            Origin::System => "system CA store".to_owned(),
        }
    }
}

/// What kind of path an input is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    File,
    Dir,
    FileOrDir,
}

#[derive(Debug, Clone)]
pub struct TrustInput {
    pub origin: Origin,
    /// Absolute (the caller resolves relative values against the parent's cwd).
    pub path: PathBuf,
    pub expect: Expect,
}

#[derive(Debug, Clone)]
pub struct TrustRequest {
    pub inputs: Vec<TrustInput>,
    pub merge_system_roots: bool,
    /// "/" normally; tests pass a temp dir standing in for the root.
    pub system_root: PathBuf,
    pub cache_dir: PathBuf,
    pub limits: Limits,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustOutcome {
    /// System roots (when merging) + extras, deduplicated; None if no certificate.
    #[serde(serialize_with = "lossy_opt")]
    pub bundle: Option<PathBuf>,
    /// Certificates from non-system inputs that the system store lacks.
    #[serde(serialize_with = "lossy_opt")]
    pub extras_bundle: Option<PathBuf>,
    /// The distro bundle file used, if any.
    #[serde(serialize_with = "lossy_opt")]
    pub system_store: Option<PathBuf>,
    /// One per request input, same order.
    pub inputs: Vec<InputReport>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputReport {
    pub origin: Origin,
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Canonical path actually read.
    #[serde(serialize_with = "lossy_opt")]
    pub resolved: Option<PathBuf>,
    /// Distinct certificates found (before removing those the system has).
    pub certificates: usize,
    pub dropped: Vec<Dropped>,
    /// Why the input was not used.
    pub skipped: Option<String>,
    /// Directory entries that were not (links to) readable regular files.
    pub ignored_entries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    #[serde(serialize_with = "lossy")]
    pub file: PathBuf,
    /// 1-based PEM block index, or 0 for the whole file.
    pub block: usize,
    pub reason: DropReason,
}

/// How `explain` words a dropped block: for the user, not the enum's names.
impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::PrivateKey { label } => write!(f, "a private key ({label})"),
            DropReason::Crl => f.write_str("a certificate revocation list"),
            DropReason::OtherLabel { label } => write!(f, "not a certificate ({label})"),
            DropReason::NotACertificate => f.write_str("not an X.509 certificate"),
            DropReason::BadBase64 => f.write_str("a certificate block that is not base64"),
            DropReason::Truncated => f.write_str("a certificate block with no END line"),
        }
    }
}

/// Every variant names the step or input and the path, so the CLI can print
/// it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    #[error("{origin_desc}: {} is {size} bytes, over the {limit}-byte limit for a CA file; point it at a PEM bundle of certificates", path.display())]
    TooLarge {
        origin_desc: String,
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{origin_desc}: reading {} brings the CA inputs to {total} bytes, over the {limit}-byte total limit; pass fewer or smaller CA files", path.display())]
    TotalTooLarge {
        origin_desc: String,
        path: PathBuf,
        total: u64,
        limit: u64,
    },
    #[error("{origin_desc}: directory {} has more than {limit} entries, over the limit for a CA directory; point it at a directory of certificates or a PEM bundle", path.display())]
    TooManyEntries {
        origin_desc: String,
        path: PathBuf,
        limit: usize,
    },
    /// A strict (`--ca` / policy) input that cannot be used.
    #[error("{origin_desc}: {} {problem}; fix the path or remove it", path.display())]
    Input {
        origin_desc: String,
        path: PathBuf,
        problem: String,
    },
    #[error("cache directory {} {problem}; remove it or use another cache directory", path.display())]
    UnsafeCacheDir { path: PathBuf, problem: String },
    #[error("{step} {}: {source}; set XDG_CACHE_HOME to a directory you own", path.display())]
    CacheIo {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache directory {} would be made under {}, which {} (is HOME or XDG_CACHE_HOME right?); set XDG_CACHE_HOME to a directory you own", dir.display(), base.display(), if base.exists() { "is not a directory" } else { "does not exist" })]
    NoCacheBase { dir: PathBuf, base: PathBuf },
    #[error("cached bundle {} does not match its name; remove it", path.display())]
    CacheMismatch { path: PathBuf },
}

/// Text taken from a file's contents (a PEM label, a certificate's
/// subject) made safe to print: control characters are escaped, so a
/// crafted certificate cannot write lines or terminal sequences of its own
/// into sandspawn's stderr.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The distro CA bundle under `root` ("/" normally), if any: the first
/// existing file of the known distro paths, never SSL_CERT_FILE.
pub fn system_store(root: &Path) -> Option<PathBuf> {
    system::find(root)
}

/// `$XDG_CACHE_HOME` (absolute only, per the XDG spec) else `$HOME/.cache`,
/// then `sandspawn/trust`. Reads the given environment data, never `std::env`.
pub fn default_cache_dir(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    let get = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Path::new(v))
    };
    let base = match get("XDG_CACHE_HOME") {
        Some(xdg) if xdg.is_absolute() => xdg.to_path_buf(),
        _ => get("HOME").filter(|h| h.is_absolute())?.join(".cache"),
    };
    Some(base.join("sandspawn").join("trust"))
}

/// Read the inputs and the system store, sanitise, and return the bundles.
///
/// Warm path: bundles are only ever written after every certificate in them
/// passed `x509_parser::parse_x509_certificate`, and a lookup compares the
/// cached file byte for byte. So we first assemble with a cheap DER shape
/// check; if every resulting bundle is already cached (and the few input
/// certificates in no bundle pass the full parse now), the result is the
/// same as a full pass, at roughly half the cost. Otherwise we redo it fully.
pub fn prepare(req: &TrustRequest) -> Result<TrustOutcome, TrustError> {
    let system_path = system::find(&req.system_root);
    let memo_path = memo::path_for(req, system_path.as_deref());
    if let Some(outcome) =
        (memo_path.as_deref()).and_then(|m| memo::lookup(m, system_path.as_deref(), req))
    {
        return Ok(outcome);
    }
    let mut budget = input::Budget::default();
    let system = match system_path {
        Some(path) => {
            let desc = Origin::System.describe();
            let loaded = input::load(&desc, &path, Expect::File, &req.limits, &mut budget)?;
            Some((path, loaded))
        }
        None => None,
    };
    let loaded = req
        .inputs
        .iter()
        .map(|i| {
            // Machines that export a dozen CA variables point them at the
            // system store: reuse the bytes just read instead of reading
            // and checking the same file again.
            if let Some((path, sys)) = &system {
                if *path == i.path && sys.problem.is_none() {
                    return Ok(sys.clone());
                }
            }
            input::load(
                &i.origin.describe(),
                &i.path,
                i.expect,
                &req.limits,
                &mut budget,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    let outcome = sanitise_and_store(req, system.as_ref(), &loaded)?;
    if let Some(memo_path) = &memo_path {
        remember(memo_path, system.as_ref(), &loaded, &outcome);
    }
    Ok(outcome)
}

fn sanitise_and_store(
    req: &TrustRequest,
    system: Option<&(PathBuf, input::Loaded)>,
    loaded: &[input::Loaded],
) -> Result<TrustOutcome, TrustError> {
    let quick = Sanitised::new(system, loaded, Check::Shape);
    if !quick.any_not_a_certificate() {
        let a = assemble(req, system, loaded, quick)?;
        if let Some(outcome) = warm(req, a)? {
            return Ok(outcome);
        }
    }
    let full = Sanitised::new(system, loaded, Check::Full);
    let full = assemble(req, system, loaded, full)?;
    let mut outcome = full.outcome;
    if !full.combined.is_empty() {
        let dir = bundle::open_cache_dir(&req.cache_dir)?;
        outcome.bundle = Some(bundle::store(&dir, &full.combined)?);
        if !full.extras.is_empty() {
            outcome.extras_bundle = Some(bundle::store(&dir, &full.extras)?);
        }
    }
    Ok(outcome)
}

/// Memoise a clean pass: one where every input was read without a problem
/// (a skipped input is retried every time, so its warning is never stale).
fn remember(
    memo_path: &Path,
    system: Option<&(PathBuf, input::Loaded)>,
    loaded: &[input::Loaded],
    outcome: &TrustOutcome,
) {
    let all = || system.map(|(_, l)| l).into_iter().chain(loaded);
    if all().any(|l| l.problem.is_some()) || outcome.bundle.is_none() {
        return;
    }
    let watch = all().flat_map(|l| l.watch.iter().cloned()).collect();
    memo::store(memo_path, watch, outcome);
}

/// The warm path's verdict: `Some` if everything is cached and verified.
fn warm(req: &TrustRequest, a: Assembly) -> Result<Option<TrustOutcome>, TrustError> {
    let full_ok = |d: &Vec<u8>| pem::certificate_len(d, Check::Full) == Some(d.len());
    if !a.unbundled.iter().all(full_ok) {
        return Ok(None);
    }
    let mut outcome = a.outcome;
    if a.combined.is_empty() {
        return Ok(Some(outcome));
    }
    let dir = bundle::open_cache_dir(&req.cache_dir)?;
    // I/O errors and mismatches fall through to the full pass, which reports them.
    let hit = |content: &[u8]| match bundle::lookup(&dir, &bundle::file_name(content), content) {
        Ok(bundle::Cached::Hit(p)) => Some(p),
        _ => None,
    };
    let Some(combined) = hit(&a.combined) else {
        return Ok(None);
    };
    if !a.extras.is_empty() {
        let extras = if a.extras == a.combined {
            Some(combined.clone())
        } else {
            hit(&a.extras)
        };
        let Some(extras) = extras else {
            return Ok(None);
        };
        outcome.extras_bundle = Some(extras);
    }
    outcome.bundle = Some(combined);
    Ok(Some(outcome))
}

/// Paths may be non-UTF-8; JSON cannot carry raw bytes, so reports go lossy
/// rather than failing to serialise.
fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

fn lossy_opt<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => lossy(p, s),
        None => s.serialize_none(),
    }
}
