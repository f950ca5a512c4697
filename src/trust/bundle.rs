//! Bundles: what goes in them (system roots first, then extras, each
//! certificate once), and materialising them as content-addressed, read-only
//! files in a private cache directory.
//!
//! The name is the sha256 of the content, so a bundle is written once and
//! every later spawn with the same inputs finds it (the warm path: one open,
//! one read, one compare). A file is never overwritten in place: a child
//! that already has the path open must keep seeing the same bytes, and a
//! concurrent sandspawn writing the same name must not race us.

use std::collections::BTreeSet;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::input::{open_nofollow, Loaded, Problem};
use super::pem::{self, Check};
use super::vouch;
use super::{DropReason, Dropped, InputReport, Origin, TrustError, TrustOutcome, TrustRequest};

/// Everything `prepare` computes before touching the cache.
pub(crate) struct Assembly {
    /// Bundle paths still None.
    pub outcome: TrustOutcome,
    /// Encoded combined bundle; empty when there is no certificate at all.
    pub combined: Vec<u8>,
    pub extras: Vec<u8>,
    /// Input certificates in neither bundle (they matched the system set).
    pub unbundled: Vec<Vec<u8>>,
}

/// Certificate sets are ordered sets of DER slices, not hash sets: hashing
/// all of every certificate costs a SipHash pass over ~160 KB per set on
/// every spawn, and hashing a sample invites crafted collisions (a CA file
/// of 100k near-identical certificates would go quadratic). A B-tree costs
/// O(log n) memcmp per operation, and those differ within a few dozen bytes.
type DerSet<'a> = BTreeSet<&'a [u8]>;

/// Sanitiser output for the system store and each input.
pub(crate) struct Sanitised {
    system: Option<(Vec<Vec<u8>>, Vec<Dropped>)>,
    inputs: Vec<(Vec<Vec<u8>>, Vec<Dropped>)>,
}

impl Sanitised {
    pub(crate) fn new(system: Option<&(PathBuf, Loaded)>, loaded: &[Loaded], check: Check) -> Self {
        let system_done = system.map(|(_, l)| sanitize_loaded(l, check));
        // An input holding the very bytes of the system store (the usual
        // case) reuses its sanitised result.
        let inputs = loaded
            .iter()
            .map(|l| match (system, &system_done) {
                (Some((_, sys)), Some(done)) if sys.files == l.files => done.clone(),
                _ => sanitize_loaded(l, check),
            })
            .collect();
        Sanitised {
            system: system_done,
            inputs,
        }
    }

    /// After `Check::Shape`, a block that failed might pass the full parse:
    /// then only a full pass gives the right answer.
    pub(crate) fn any_not_a_certificate(&self) -> bool {
        self.system
            .iter()
            .chain(&self.inputs)
            .flat_map(|(_, d)| d)
            .any(|d| d.reason == DropReason::NotACertificate)
    }
}

/// Apply per-origin strictness and compute both bundles' contents.
pub(crate) fn assemble(
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

    let system_set: DerSet = system_certs.iter().copied().collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    // The store and the directory it sits in (Debian's /etc/ssl/certs also
    // holds ssl-cert's snakeoil certificate, which is in no bundle).
    let system_places: Vec<&Path> = system
        .map(|(path, _)| path.as_path())
        .into_iter()
        .chain(
            req.inputs
                .iter()
                .filter(|i| i.origin == Origin::System)
                .map(|i| i.path.as_path()),
        )
        .flat_map(|p| std::iter::once(p).chain(p.parent()))
        .collect();
    for ((inp, (certs, _)), report) in req.inputs.iter().zip(&per_input).zip(&reports) {
        let at_system = system_places
            .iter()
            .any(|p| crate::paths::same_path(p, &inp.path));
        if inp.origin == Origin::System || at_system || report.skipped.is_some() {
            continue;
        }
        // The system store's certificates are the distro's: never judged,
        // also when a variable names the store.
        let own = certs
            .iter()
            .map(Vec::as_slice)
            .filter(|c| !system_set.contains(c));
        warnings.extend(vouch::warning(&inp.origin, &inp.path, own, now));
    }
    // Extras: what the system store lacks, and everything an additive
    // variable (NODE_EXTRA_CA_CERTS…) of the parent named, system roots
    // included: Node's, Deno's and Codex's own roots are Mozilla's, not the
    // system store, which also holds the CAs an admin or an agent firewall
    // installed there (update-ca-certificates). A parent that pointed
    // NODE_EXTRA_CA_CERTS at the system bundle trusted those in Node; the
    // child must too. A `--ca` / policy `ca` file counts as additive for
    // the same reason: it names the CA the user wants trusted, and when
    // that CA was installed into the system store too, leaving it out of
    // the extras would leave Node without it (Troubleshooting's remedy
    // would do nothing for Node).
    let mut seen = DerSet::new();
    let mut extras: Vec<&[u8]> = Vec::new();
    let mut own: Vec<&[u8]> = Vec::new();
    for ((certs, _), inp) in per_input.iter().zip(&req.inputs) {
        if inp.origin == Origin::System {
            continue;
        }
        // With --no-system-roots the system roots stay out of both.
        let adds = req.merge_system_roots
            && (inp.origin == Origin::PolicyCa || names_additive(&inp.origin));
        for c in certs {
            let in_system = system_set.contains(c.as_slice());
            if (adds || !in_system) && seen.insert(c) {
                extras.push(c);
                if !in_system {
                    own.push(c);
                }
            }
        }
    }
    let mut combined: Vec<&[u8]> = Vec::new();
    if req.merge_system_roots {
        let mut seen_sys = DerSet::new();
        combined.extend(system_certs.iter().filter(|c| seen_sys.insert(c)));
    }
    combined.extend(&own);
    if req.merge_system_roots && system_store.is_none() && !extras.is_empty() {
        warnings.push(format!(
            "no system CA store found under {}; the combined bundle holds only the extra CAs",
            req.system_root.display()
        ));
    }
    if !req.merge_system_roots && combined.is_empty() {
        // No bundle means the trust variables stay unset, and every program
        // falls back to its own default store: the system roots the flag
        // meant to leave out.
        warnings.push(
            "--no-system-roots (merge_system_roots = false): no CA input to trust beside the \
             system roots, so no bundle; the child's programs use their own default stores"
                .to_owned(),
        );
    }
    let bundled: DerSet = combined.iter().copied().collect();
    let unbundled = per_input
        .iter()
        .flat_map(|(certs, _)| certs)
        .filter(|c| !bundled.contains(c.as_slice()))
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

/// Whether a variable that *adds* to its program's own roots named this
/// input (inputs named by several variables carry them comma-joined).
fn names_additive(origin: &Origin) -> bool {
    let Origin::Variable { name } = origin else {
        return false;
    };
    name.split(", ").any(|n| {
        crate::env::families::trust_var(n.as_bytes())
            .is_some_and(|v| v.role == crate::env::TrustRole::Add)
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
        let mut seen = DerSet::new();
        all.iter().map(|c| seen.insert(c.as_slice())).collect()
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

/// The file name a bundle with this content gets.
pub(crate) fn file_name(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let mut name = String::with_capacity(68);
    for b in digest {
        name.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        name.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    name.push_str(".pem");
    name
}

/// Create the cache directory (0700, parents too) and refuse one another
/// user could have planted or can write into: the child trusts what is in it.
/// Returns its canonical path.
pub(crate) fn open_cache_dir(dir: &Path) -> Result<PathBuf, TrustError> {
    let io_err = |step: &'static str| {
        move |source| TrustError::CacheIo {
            step,
            path: dir.to_path_buf(),
            source,
        }
    };
    // `.cache/sandspawn/trust` is ours to make, not what it sits in: a
    // HOME that does not exist (a service user's `/nonexistent`) is not
    // created as a side effect of spawning something.
    if let Some(base) = dir.ancestors().nth(3).filter(|b| !b.is_dir()) {
        return Err(TrustError::NoCacheBase {
            dir: dir.to_path_buf(),
            base: base.to_path_buf(),
        });
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("creating cache directory"))?;
    let meta = fs::symlink_metadata(dir).map_err(io_err("checking cache directory"))?;
    let unsafe_dir = |problem: String| TrustError::UnsafeCacheDir {
        path: dir.to_path_buf(),
        problem,
    };
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir("is a symlink".into()));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory".into()));
    }
    if let Some(problem) = not_ours(&meta, &CACHE_DIR) {
        return Err(unsafe_dir(problem));
    }
    // The directory it sits in (`…/sandspawn`) holds the bwrap probe cache
    // and the Landlock stand-ins for HOME and TMPDIR, and whoever can write
    // there can swap `trust` itself: it must be ours too. A shared
    // XDG_CACHE_HOME (/tmp) lets anyone create it first.
    if let Some(root) = dir.parent() {
        let meta = fs::metadata(root).map_err(io_err("checking cache directory"))?;
        if let Some(problem) = not_ours(&meta, &CACHE_ROOT) {
            return Err(TrustError::UnsafeCacheDir {
                path: root.to_path_buf(),
                problem,
            });
        }
    }
    fs::canonicalize(dir).map_err(io_err("resolving cache directory"))
}

/// What a directory of the cache must be to be safely ours.
pub(crate) struct DirRule {
    /// A root-owned directory is accepted too.
    root_ok: bool,
    /// Mode bits others must not have, and what having one is called.
    open: u32,
    what: &'static str,
    /// The sticky bit excuses write bits: as on /tmp, others then cannot
    /// rename what is ours.
    sticky_ok: bool,
}

/// The trust cache itself: ours, writable by us alone.
pub(crate) const CACHE_DIR: DirRule = DirRule {
    root_ok: false,
    open: 0o022,
    what: "is group- or world-writable",
    sticky_ok: false,
};

/// The directory holding it (`…/sandspawn`, also home of the bwrap probe
/// cache and the Landlock stand-ins): ours or root's, and nobody else may
/// rename in it.
pub(crate) const CACHE_ROOT: DirRule = DirRule {
    root_ok: true,
    sticky_ok: true,
    ..CACHE_DIR
};

/// A stand-in for a private mount (the Landlock HOME and TMPDIR): ours,
/// and nobody else may even look in.
pub(crate) const PRIVATE_DIR: DirRule = DirRule {
    root_ok: false,
    open: 0o077,
    what: "is accessible to other users",
    sticky_ok: false,
};

/// Why the directory `meta` describes breaks `rule`, if it does.
pub(crate) fn not_ours(meta: &fs::Metadata, rule: &DirRule) -> Option<String> {
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && !(rule.root_ok && meta.uid() == 0) {
        return Some(format!(
            "is owned by uid {}, not by the current user (uid {me})",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    let excused = rule.sticky_ok && mode & 0o1000 != 0;
    (mode & rule.open != 0 && !excused).then(|| format!("{} (mode {mode:o})", rule.what))
}

/// What is at a bundle's name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    /// A regular file with exactly this content.
    Hit(PathBuf),
    Absent,
    /// Something else: a symlink, a directory, other bytes.
    Mismatch(PathBuf),
}

/// Look for the bundle with this content in `dir` (canonical). Cheap: no hash,
/// a size check and one byte compare.
pub(crate) fn lookup(dir: &Path, name: &str, content: &[u8]) -> io::Result<Cached> {
    let path = dir.join(name);
    let file = match open_nofollow(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Cached::Absent),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Cached::Mismatch(path)),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() != content.len() as u64 {
        return Ok(Cached::Mismatch(path));
    }
    let mut existing = Vec::with_capacity(content.len() + 1);
    file.take(content.len() as u64 + 1)
        .read_to_end(&mut existing)?;
    Ok(if existing == content {
        Cached::Hit(path)
    } else {
        Cached::Mismatch(path)
    })
}

/// Return the path of the bundle with this content, writing it if absent.
pub(crate) fn store(dir: &Path, content: &[u8]) -> Result<PathBuf, TrustError> {
    let name = file_name(content);
    let path = dir.join(&name);
    let io_err = |step: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| TrustError::CacheIo {
            step,
            path: path.clone(),
            source,
        }
    };
    let found = |cached| match cached {
        Cached::Hit(p) => Ok(Some(p)),
        Cached::Absent => Ok(None),
        Cached::Mismatch(path) => Err(TrustError::CacheMismatch { path }),
    };
    let existing = lookup(dir, &name, content).map_err(io_err("reading cached bundle", &path))?;
    if let Some(p) = found(existing)? {
        return Ok(p);
    }
    // A cold write is rare: the moment to sweep what killed writers left.
    super::stale::prune(dir);
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io_err("creating a bundle in", dir))?;
    let write_err = io_err("writing bundle", tmp.path());
    tmp.write_all(content).map_err(&write_err)?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(0o444))
        .map_err(&write_err)?;
    tmp.as_file().sync_all().map_err(&write_err)?;
    match tmp.persist_noclobber(&path) {
        Ok(_) => Ok(path),
        // Another sandspawn won the race with the same content: use theirs.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            let again =
                lookup(dir, &name, content).map_err(io_err("reading cached bundle", &path))?;
            found(again)?.ok_or(TrustError::CacheMismatch { path })
        }
        Err(e) => Err(TrustError::CacheIo {
            step: "saving bundle",
            path,
            source: e.error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_home_is_not_created_for_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("nonexistent");
        let dir = home.join(".cache/sandspawn/trust");
        let err = open_cache_dir(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cache directory {} would be made under {}, which does not exist (is HOME or XDG_CACHE_HOME right?); set XDG_CACHE_HOME to a directory you own",
                dir.display(),
                home.display()
            )
        );
        assert!(!home.exists());
    }

    #[test]
    fn store_writes_once_read_only_and_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = open_cache_dir(&tmp.path().join("a/b/trust")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let p = store(&dir, b"hello").unwrap();
        assert_eq!(
            p.file_name().unwrap().to_str().unwrap(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.pem"
        );
        assert_eq!(mode(&p), 0o444);
        assert_eq!(store(&dir, b"hello").unwrap(), p);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn mismatching_or_symlinked_cache_entries_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = open_cache_dir(tmp.path()).unwrap();
        let name = file_name(b"content");
        fs::write(dir.join(&name), b"tampered").unwrap();
        let err = store(&dir, b"content").unwrap_err();
        assert!(
            err.to_string()
                .contains("does not match its name; remove it"),
            "{err}"
        );
        fs::remove_file(dir.join(&name)).unwrap();
        fs::write(dir.join("target"), b"content").unwrap();
        std::os::unix::fs::symlink(dir.join("target"), dir.join(&name)).unwrap();
        assert!(matches!(
            store(&dir, b"content"),
            Err(TrustError::CacheMismatch { .. })
        ));
    }

    #[test]
    fn unsafe_cache_dirs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = open_cache_dir(&link).unwrap_err();
        assert!(err.to_string().contains("is a symlink"), "{err}");
        fs::set_permissions(&real, Permissions::from_mode(0o777)).unwrap();
        let err = open_cache_dir(&real).unwrap_err();
        assert!(err.to_string().contains("world-writable"), "{err}");
        let file = tmp.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(open_cache_dir(&file).is_err());
        // Owned by someone else: only testable as root (chown needs privilege).
        if nix::unistd::geteuid().is_root() {
            let other = tmp.path().join("other");
            fs::create_dir(&other).unwrap();
            fs::set_permissions(&other, Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::chown(&other, Some(65534), None).unwrap();
            let err = open_cache_dir(&other).unwrap_err();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        }
    }
}
