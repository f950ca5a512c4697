//! A per-user, on-disk memo of the bwrap probe, so a spawn does not pay
//! for running `bwrap --version` every time (each run is ~1.5 ms).
//!
//! File: `$XDG_CACHE_HOME/sandspawn/bwrap-probe.v1` (else `~/.cache/...`),
//! one line: `DEV INO SIZE MTIME_NS VERSION TRIAL PATH`. The key is the
//! binary's identity; a changed or replaced bwrap misses and is re-probed.
//! Any failure to read or write falls back to probing: the cache can only
//! make a spawn faster, never change what is enforced beyond the flags
//! implied by the version of that very binary.
//!
//! TRIAL is `untried` or `trial-ok:STATE`, where STATE is a hash of what
//! decides whether this process may create user namespaces (see
//! [`userns_state`]): boot, uid, user namespace, seccomp and no_new_privs of
//! this process, LSM label, the userns sysctls and AppArmor's policy
//! revision. A host that blocks user namespaces after a successful trial
//! (a sysctl, an AppArmor profile, a seccomp filter around the spawner, a
//! container) has another STATE, so the verdict is not reused and the trial
//! runs again.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bwrap::{features_of, parse_version, probe_features, BwrapFeatures, BwrapProbeError};

fn cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sandspawn").join("bwrap-probe.v1"))
}

fn key(path: &Path) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{} {} {} {}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime() * 1_000_000_000 + m.mtime_nsec()
    ))
}

/// A hash of every input we know of that decides whether this process may
/// create a user namespace. Unreadable inputs hash as absent.
pub fn userns_state() -> String {
    use std::hash::{Hash, Hasher};
    const FILES: [&str; 6] = [
        "/proc/sys/kernel/random/boot_id",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
        "/sys/kernel/security/apparmor/revision",
        "/proc/self/attr/current",
    ];
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in FILES {
        std::fs::read(f).ok().hash(&mut h);
    }
    std::fs::read_link("/proc/self/ns/user").ok().hash(&mut h);
    std::fs::metadata("/proc/self")
        .ok()
        .map(|m| (m.uid(), m.gid()))
        .hash(&mut h);
    // Uid/Gid, NoNewPrivs, Seccomp, Seccomp_filters, capability sets.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        let keep = ["Uid:", "Gid:", "Cap", "NoNewPrivs:", "Seccomp"];
        if keep.iter().any(|k| line.starts_with(k)) {
            line.hash(&mut h);
        }
    }
    format!("{:016x}", h.finish())
}

fn lookup(file: &Path, key: &str, path: &Path) -> Option<(BwrapFeatures, String)> {
    let text = std::fs::read(file).ok()?;
    let line = text.split(|b| *b == b'\n').next()?;
    let fields: Vec<&[u8]> = line.splitn(7, |b| *b == b' ').collect();
    let [d, i, s, m, v, t, p] = fields.as_slice() else {
        return None;
    };
    let cached_key = [*d, *i, *s, *m].join(&b' ');
    if cached_key != key.as_bytes() || *p != path.as_os_str().as_bytes() {
        return None;
    }
    let version = parse_version(std::str::from_utf8(v).ok()?)?;
    let trial = String::from_utf8_lossy(t).into_owned();
    Some((features_of(path, version), trial))
}

fn store(file: &Path, key: &str, f: &BwrapFeatures, trial: &str) {
    let Some(dir) = file.parent() else { return };
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    let tmp = dir.join(format!(".bwrap-probe.{}", std::process::id()));
    let (a, b, c) = f.version;
    let mut line = format!("{key} {a}.{b}.{c} {trial} ").into_bytes();
    line.extend_from_slice(f.path.as_os_str().as_bytes());
    line.push(b'\n');
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut out| out.write_all(&line));
    if written.is_ok() {
        let _ = std::fs::rename(&tmp, file);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// [`probe_features`], memoised on disk by the binary's identity.
pub fn probe_cached(path: &Path) -> Result<BwrapFeatures, BwrapProbeError> {
    let (Some(file), Some(key)) = (cache_file(), key(path)) else {
        return probe_features(path);
    };
    if let Some((f, _)) = lookup(&file, &key, path) {
        return Ok(f);
    }
    let f = probe_features(path)?;
    store(&file, &key, &f, "untried");
    Ok(f)
}

fn trial_ok_tag() -> String {
    format!("trial-ok:{}", userns_state())
}

/// Whether a trial sandbox with this bwrap already succeeded in the same
/// user-namespace state as now (remembered on disk).
pub fn trial_known_ok(path: &Path) -> bool {
    match (cache_file(), key(path)) {
        (Some(file), Some(key)) => {
            lookup(&file, &key, path).is_some_and(|(_, trial)| trial == trial_ok_tag())
        }
        _ => false,
    }
}

/// Remember that a trial sandbox with this bwrap succeeded in this state.
pub fn remember_trial_ok(f: &BwrapFeatures) {
    if let (Some(file), Some(key)) = (cache_file(), key(&f.path)) {
        store(&file, &key, f, &trial_ok_tag());
    }
}
