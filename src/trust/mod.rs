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
mod pem;
mod system;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

pub use pem::{encode_bundle, sanitize_pem, DropReason, Sanitized};

use input::{Loaded, Problem};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    fn describe(&self) -> String {
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

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    #[serde(serialize_with = "lossy")]
    pub file: PathBuf,
    /// 1-based PEM block index, or 0 for the whole file.
    pub block: usize,
    pub reason: DropReason,
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
    #[error("{step} {}: {source}", path.display())]
    CacheIo {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cached bundle {} does not match its name; remove it", path.display())]
    CacheMismatch { path: PathBuf },
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
    let mut budget = input::Budget::default();
    let system = match system::find(&req.system_root) {
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
            input::load(
                &i.origin.describe(),
                &i.path,
                i.expect,
                &req.limits,
                &mut budget,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    let quick = Sanitised::new(system.as_ref(), &loaded, Check::Shape);
    if !quick.any_not_a_certificate() {
        let a = assemble(req, system.as_ref(), &loaded, quick)?;
        if let Some(outcome) = warm(req, a)? {
            return Ok(outcome);
        }
    }
    let full = Sanitised::new(system.as_ref(), &loaded, Check::Full);
    let full = assemble(req, system.as_ref(), &loaded, full)?;
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

/// Everything `prepare` computes before touching the cache.
struct Assembly {
    /// Bundle paths still None.
    outcome: TrustOutcome,
    /// Encoded combined bundle; empty when there is no certificate at all.
    combined: Vec<u8>,
    extras: Vec<u8>,
    /// Input certificates in neither bundle (they matched the system set).
    unbundled: Vec<Vec<u8>>,
}

/// Hashes a DER certificate by its length and last 16 bytes (inside the
/// signature, effectively random) instead of all of it: dedup of ~150 system
/// certificates should not cost a SipHash over 160 KB. Equality is full.
#[derive(PartialEq, Eq)]
struct DerKey<'a>(&'a [u8]);

impl Hash for DerKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.len());
        state.write(&self.0[self.0.len().saturating_sub(16)..]);
    }
}

/// Sanitiser output for the system store and each input.
struct Sanitised {
    system: Option<(Vec<Vec<u8>>, Vec<Dropped>)>,
    inputs: Vec<(Vec<Vec<u8>>, Vec<Dropped>)>,
}

impl Sanitised {
    fn new(system: Option<&(PathBuf, Loaded)>, loaded: &[Loaded], check: Check) -> Self {
        Sanitised {
            system: system.map(|(_, l)| sanitize_loaded(l, check)),
            inputs: loaded.iter().map(|l| sanitize_loaded(l, check)).collect(),
        }
    }

    /// After `Check::Shape`, a block that failed might pass the full parse:
    /// then only a full pass gives the right answer.
    fn any_not_a_certificate(&self) -> bool {
        self.system
            .iter()
            .chain(&self.inputs)
            .flat_map(|(_, d)| d)
            .any(|d| d.reason == DropReason::NotACertificate)
    }
}

/// Apply per-origin strictness and compute both bundles' contents.
fn assemble(
    req: &TrustRequest,
    system: Option<&(PathBuf, Loaded)>,
    loaded: &[Loaded],
    sanitised: Sanitised,
) -> Result<Assembly, TrustError> {
    let Sanitised {
        system: sys,
        inputs: per_input,
    } = sanitised;
    let mut warnings = Vec::new();
    let mut system_store = None;
    let mut system_certs: Vec<&[u8]> = Vec::new();
    if let (Some((path, l)), Some((certs, _))) = (system, &sys) {
        let problem = l.problem.clone().or_else(|| {
            certs
                .is_empty()
                .then(|| Problem::NoCertificates(String::new()))
        });
        match problem {
            Some(p) => warnings.push(format!(
                "system CA store {} {p}; continuing without system roots",
                path.display()
            )),
            None => {
                system_store = Some(path.clone());
                system_certs.extend(certs.iter().map(Vec::as_slice));
            }
        }
    }

    let mut reports = Vec::with_capacity(req.inputs.len());
    for ((inp, l), (certs, dropped)) in req.inputs.iter().zip(loaded).zip(&per_input) {
        let mut report = InputReport {
            origin: inp.origin.clone(),
            path: inp.path.clone(),
            resolved: l.resolved.clone(),
            certificates: certs.len(),
            dropped: dropped.clone(),
            skipped: None,
            ignored_entries: l.ignored_entries,
        };
        let problem = l.problem.clone().or_else(|| {
            certs
                .is_empty()
                .then(|| Problem::NoCertificates(drop_summary(l, dropped)))
        });
        if let Some(p) = problem {
            let desc = inp.origin.describe();
            if inp.origin == Origin::PolicyCa {
                return Err(TrustError::Input {
                    origin_desc: desc,
                    path: inp.path.clone(),
                    problem: p.to_string(),
                });
            }
            warnings.push(format!("{desc}: {} {p}; ignored", inp.path.display()));
            report.skipped = Some(p.to_string());
        } else if inp.origin == Origin::System {
            system_certs.extend(certs.iter().map(Vec::as_slice));
        }
        reports.push(report);
    }

    let system_set: HashSet<DerKey> = system_certs.iter().map(|c| DerKey(c)).collect();
    let mut seen: HashSet<DerKey> = HashSet::new();
    let mut extras: Vec<&[u8]> = Vec::new();
    for ((certs, _), inp) in per_input.iter().zip(&req.inputs) {
        if inp.origin == Origin::System {
            continue;
        }
        for c in certs {
            if !system_set.contains(&DerKey(c)) && seen.insert(DerKey(c)) {
                extras.push(c);
            }
        }
    }
    let mut combined: Vec<&[u8]> = Vec::new();
    if req.merge_system_roots {
        let mut seen_sys: HashSet<DerKey> = HashSet::new();
        combined.extend(system_certs.iter().filter(|c| seen_sys.insert(DerKey(c))));
    }
    combined.extend(&extras);
    if req.merge_system_roots && system_store.is_none() && !extras.is_empty() {
        warnings.push(format!(
            "no system CA store found under {}; the combined bundle holds only the extra CAs",
            req.system_root.display()
        ));
    }
    let bundled: HashSet<DerKey> = combined.iter().map(|c| DerKey(c)).collect();
    let unbundled = per_input
        .iter()
        .flat_map(|(certs, _)| certs)
        .filter(|c| !bundled.contains(&DerKey(c)))
        .cloned()
        .collect();

    Ok(Assembly {
        outcome: TrustOutcome {
            bundle: None,
            extras_bundle: None,
            system_store,
            inputs: reports,
            warnings,
        },
        combined: pem::encode_slices(combined),
        extras: pem::encode_slices(extras),
        unbundled,
    })
}

/// Distinct certificates (first occurrence order) and drops of one input.
fn sanitize_loaded(l: &Loaded, check: Check) -> (Vec<Vec<u8>>, Vec<Dropped>) {
    let mut all = Vec::new();
    let mut dropped = Vec::new();
    for (file, bytes) in &l.files {
        let s = pem::sanitize_with(bytes, check);
        all.extend(s.certificates);
        dropped.extend(s.dropped.into_iter().map(|(block, reason)| Dropped {
            file: file.clone(),
            block,
            reason,
        }));
    }
    let keep: Vec<bool> = {
        let mut seen = HashSet::new();
        all.iter().map(|c| seen.insert(DerKey(c))).collect()
    };
    let certs = all
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(c, _)| c);
    (certs.collect(), dropped)
}

/// " (1 private key, 2 other blocks dropped)", " (empty file)", or "".
fn drop_summary(l: &Loaded, dropped: &[Dropped]) -> String {
    let count = |f: fn(&DropReason) -> bool| dropped.iter().filter(|d| f(&d.reason)).count();
    let keys = count(|r| matches!(r, DropReason::PrivateKey { .. }));
    let crls = count(|r| *r == DropReason::Crl);
    let other = dropped.len() - keys - crls;
    let mut parts = Vec::new();
    for (n, one, many) in [
        (keys, "private key", "private keys"),
        (crls, "CRL", "CRLs"),
        (other, "other block", "other blocks"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    if !parts.is_empty() {
        format!(" ({} dropped)", parts.join(", "))
    } else if l.files.is_empty() {
        " (no readable files)".to_owned()
    } else if l.files.iter().all(|(_, b)| b.is_empty()) {
        " (empty file)".to_owned()
    } else {
        String::new()
    }
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
