//! The memo: a warm `prepare()` that reads nothing it has already checked.
//!
//! A full pass reads every input, sanitises it and writes (or finds) the
//! bundles. Its result is recorded with the identity of every file and
//! directory it read (device, inode, size, mtime and ctime, taken from the
//! descriptor that was read) and of the bundles it returned. The next call
//! with the same request stats those paths again; if every identity is
//! unchanged the recorded outcome is returned without reading a byte. ctime
//! cannot be set from user space, so a file rewritten in place, replaced,
//! re-linked or re-pointed (input paths are recorded as given, symlinks and
//! all) changes an identity and forces the full pass.
//!
//! Limits, stated rather than hidden: a dangling link in a CA directory
//! that later becomes valid is noticed only when the directory itself
//! changes (until then its certificate is simply not trusted), and
//! requests with non-UTF-8 paths are never memoised; a certificate that
//! expires after its pass was memoised is warned about (`vouch`) only when
//! an input changes.
//!
//! What a memo relies on: that no sandbox can write its directory (the
//! trust cache is one of sandspawn's own directories, kept read-only in
//! every sandbox, see `plan::own_dirs`), and that it is this user's, not
//! writable by group or others, in a directory nobody else can rearrange
//! (checked). Its content is otherwise believed only where it is checked
//! against the request and the files: the bundles must be files of the
//! memo's own directory that it watched, the system store the one found
//! now, each reported input's path and origin the request's input at the
//! same place (same count), and each resolved path one it watched (the
//! look for keys beside a CA and the protection of CA inputs act on
//! those). Its warnings and the rest of its report (counts, dropped
//! blocks) are replayed as recorded.
//!
//! A memo belongs to the sandspawn build that wrote it (the identity of
//! `/proc/self/exe`): an upgraded binary, whose sanitiser or judgement of
//! certificates may differ, never replays an older one's outcome.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::input::open_nofollow;
use super::{TrustOutcome, TrustRequest};

/// Bump when the meaning of a memo changes.
const VERSION: u32 = 5;

/// What identifies the content of a file or the entry list of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ident {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    uid: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Ident {
    pub(crate) fn of(m: &fs::Metadata) -> Ident {
        Ident {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mode: m.mode(),
            uid: m.uid(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Memo {
    version: u32,
    /// The executable that wrote it (see the module comment).
    build: Ident,
    /// Paths as the full pass named them (stat follows links) and what they were.
    watch: Vec<(PathBuf, Ident)>,
    /// The bundles returned, and what they were.
    bundles: Vec<(PathBuf, Ident)>,
    outcome: TrustOutcome,
}

/// The memo file for this request, or `None` when it cannot be memoised.
pub(crate) fn path_for(req: &TrustRequest, system: Option<&Path>) -> Option<PathBuf> {
    let mut key = format!("v{VERSION}|{}|{:?}|", req.merge_system_roots, req.limits);
    key.push_str(req.system_root.to_str()?);
    key.push('|');
    key.push_str(system.map_or(Some(""), Path::to_str)?);
    for i in &req.inputs {
        key.push_str(&format!("|{:?}|{:?}|", i.origin, i.expect));
        key.push_str(i.path.to_str()?);
    }
    // The recorded bundle paths live in the cache dir and are stored as
    // text: a non-UTF-8 cache dir could not round-trip.
    req.cache_dir.to_str()?;
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Some(req.cache_dir.join(format!("memo-{hex}.json")))
}

/// The running executable's identity; `None` (no /proc) turns the memo off.
fn build() -> Option<Ident> {
    fs::metadata("/proc/self/exe").ok().map(|m| Ident::of(&m))
}

/// The recorded outcome, if everything it depends on is unchanged, its
/// bundles are files of the memo's own directory that it checked, its
/// system store (if any) is `system`, the one found now, and its inputs
/// are `req`'s, each resolved to a path it watched: a memo names what the
/// sandbox is granted and where keys are looked for, so one that a
/// sandbox could have written (a cache another environment's runs use)
/// must not lead anywhere else.
pub(crate) fn lookup(
    memo: &Path,
    system: Option<&Path>,
    req: &TrustRequest,
) -> Option<TrustOutcome> {
    let file = open_nofollow(memo).ok()?;
    let meta = file.metadata().ok()?;
    // Only a memo this user wrote, that nobody else can rewrite, is trusted.
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0
    {
        return None;
    }
    // Nor one in a directory someone else could rearrange: then the full
    // pass runs, and `open_cache_dir` says what is wrong.
    let trust_dir = memo.parent()?;
    let unsafe_dir = |d: &Path, rule| {
        fs::metadata(d).map_or(true, |m| super::bundle::not_ours(&m, rule).is_some())
    };
    if unsafe_dir(trust_dir, &super::bundle::CACHE_DIR)
        || trust_dir
            .parent()
            .is_some_and(|root| unsafe_dir(root, &super::bundle::CACHE_ROOT))
    {
        return None;
    }
    let mut text = Vec::new();
    file.take(4 << 20).read_to_end(&mut text).ok()?;
    let memo: Memo = serde_json::from_slice(&text).ok()?;
    if memo.version != VERSION || Some(memo.build) != build() {
        return None;
    }
    let unchanged = |(path, ident): &(PathBuf, Ident)| {
        fs::metadata(path).is_ok_and(|m| Ident::of(&m) == *ident)
    };
    let outcome = &memo.outcome;
    let checked =
        |b: &PathBuf| b.parent() == Some(trust_dir) && memo.bundles.iter().any(|(p, _)| p == b);
    let kept = [&outcome.bundle, &outcome.extras_bundle]
        .into_iter()
        .flatten()
        .all(checked);
    let as_asked = outcome.inputs.len() == req.inputs.len()
        && (outcome.inputs.iter().zip(&req.inputs))
            .all(|(o, i)| o.path == i.path && o.origin == i.origin);
    let watched = |r: &PathBuf| memo.watch.iter().any(|(p, _)| p == r);
    let resolved = (outcome.inputs.iter())
        .filter_map(|i| i.resolved.as_ref())
        .all(watched);
    (kept
        && as_asked
        && resolved
        && (outcome.system_store.is_none() || outcome.system_store.as_deref() == system)
        && memo.watch.iter().all(unchanged)
        && memo.bundles.iter().all(unchanged))
    .then_some(memo.outcome)
}

/// Record `outcome` (best effort: a memo that cannot be written only costs
/// the next call a full pass).
pub(crate) fn store(memo: &Path, watch: Vec<(PathBuf, Ident)>, outcome: &TrustOutcome) {
    let Some(build) = build() else { return };
    let mut bundles = Vec::new();
    for bundle in [&outcome.bundle, &outcome.extras_bundle]
        .into_iter()
        .flatten()
    {
        match fs::metadata(bundle) {
            Ok(m) => bundles.push((bundle.clone(), Ident::of(&m))),
            Err(_) => return,
        }
    }
    let memo_value = Memo {
        version: VERSION,
        build,
        watch,
        bundles,
        outcome: outcome.clone(),
    };
    let Ok(text) = serde_json::to_vec(&memo_value) else {
        return;
    };
    let Some(dir) = memo.parent() else { return };
    let Ok(mut tmp) = tempfile::Builder::new()
        .prefix(".memo-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .tempfile_in(dir)
    else {
        return;
    };
    if tmp.write_all(&text).is_ok() {
        let _ = tmp.persist(memo);
    }
}
