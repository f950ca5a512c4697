//! Reading CA inputs: the careful I/O, and nothing else (parsing is `pem`'s).
//!
//! The paths come from environment variables a TLS-intercepting proxy or a
//! user set, so they may name anything: a FIFO (would block a naive read
//! forever), a device, a 2 GiB file, a symlink loop, a directory full of
//! junk, or a file being swapped while we read it. Each of those becomes
//! either a [`Problem`] (the caller decides whether it is a warning or an
//! error, by origin) or a hard [`TrustError`] for size-limit breaches.

use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::memo::Ident;
use super::{Expect, Limits, TrustError};

/// The same bound the Linux kernel uses for one path walk (MAXSYMLINKS).
pub(crate) const MAX_HOPS: usize = 40;

/// Why an input could not be used. Displayed after the path:
/// "SSL_CERT_FILE: /x/ca.pem does not exist; ignored".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Missing,
    Dangling(PathBuf),
    Loop(PathBuf),
    IsDir,
    NotDir,
    Special(&'static str),
    /// A `/proc/PID/fd/N` link to a descriptor with no path (`/dev/stdin`
    /// on a pipe): the kernel shows its target as `pipe:[INODE]`, which
    /// would otherwise read as a dangling symlink.
    NoFile(&'static str),
    Changed,
    Unreadable(String),
    /// Set by the caller after sanitising: the summary of what was dropped.
    NoCertificates(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("does not exist"),
            Problem::Dangling(p) => {
                write!(f, "is a dangling symlink ({} does not exist)", p.display())
            }
            Problem::Loop(p) => write!(f, "symlink loop at {}", p.display()),
            Problem::IsDir => f.write_str("is a directory, not a file"),
            Problem::NotDir => f.write_str("is a file, not a directory"),
            Problem::Special(kind) => write!(f, "is a {kind}, not a regular file"),
            Problem::NoFile(kind) => write!(f, "is a {kind}, not a file"),
            Problem::Changed => f.write_str("changed while being read"),
            Problem::Unreadable(e) => write!(f, "cannot be read ({e})"),
            Problem::NoCertificates(why) => write!(f, "holds no certificate{why}"),
        }
    }
}

/// What one input yielded: raw bytes per file, kept in memory so the caller
/// can sanitise them more than once without touching the filesystem again.
#[derive(Debug, Default, Clone)]
pub(crate) struct Loaded {
    /// The canonical path actually read (file or directory).
    pub resolved: Option<PathBuf>,
    /// (path as the user would name it, bytes) per file read.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Directory entries that were not regular files, or unreadable.
    pub ignored_entries: usize,
    pub problem: Option<Problem>,
    /// Every path read, as named (links and all), with what it was when
    /// read: the memo's evidence that nothing changed.
    pub watch: Vec<(PathBuf, Ident)>,
}

/// Running total of bytes read across all inputs.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub used: u64,
}

enum Fail {
    Fatal(TrustError),
    Skip(Problem),
}

impl From<TrustError> for Fail {
    fn from(e: TrustError) -> Self {
        Fail::Fatal(e)
    }
}

impl From<Problem> for Fail {
    fn from(p: Problem) -> Self {
        Fail::Skip(p)
    }
}

/// Read one input. `Err` only for limit breaches; everything else is a
/// `Problem` in the result so the caller can apply per-origin strictness.
pub(crate) fn load(
    origin_desc: &str,
    path: &Path,
    expect: Expect,
    limits: &Limits,
    budget: &mut Budget,
) -> Result<Loaded, TrustError> {
    let mut loaded = Loaded::default();
    match load_inner(origin_desc, path, expect, limits, budget, &mut loaded) {
        Ok(()) => Ok(loaded),
        Err(Fail::Skip(p)) => {
            loaded.files.clear();
            loaded.problem = Some(p);
            Ok(loaded)
        }
        Err(Fail::Fatal(e)) => Err(e),
    }
}

fn load_inner(
    origin_desc: &str,
    path: &Path,
    expect: Expect,
    limits: &Limits,
    budget: &mut Budget,
    out: &mut Loaded,
) -> Result<(), Fail> {
    let (canonical, meta) = resolve(path)?;
    out.resolved = Some(canonical.clone());
    if meta.is_dir() {
        if expect == Expect::File {
            return Err(Problem::IsDir.into());
        }
        out.watch.push((path.to_path_buf(), Ident::of(&meta)));
        // The memo replays `resolved` only if it watched it (see `memo`).
        if canonical != path {
            out.watch.push((canonical.clone(), Ident::of(&meta)));
        }
        return load_dir(origin_desc, &canonical, path, limits, budget, out);
    }
    if !meta.is_file() {
        return Err(Problem::Special(kind(&meta)).into());
    }
    if expect == Expect::Dir {
        return Err(Problem::NotDir.into());
    }
    let (bytes, ident) = read_regular(origin_desc, &canonical, &meta, path, limits, budget)?;
    out.files.push((path.to_path_buf(), bytes));
    out.watch.push((path.to_path_buf(), ident));
    if canonical != path {
        out.watch.push((canonical, ident));
    }
    Ok(())
}

fn load_dir(
    origin_desc: &str,
    canonical: &Path,
    shown: &Path,
    limits: &Limits,
    budget: &mut Budget,
    out: &mut Loaded,
) -> Result<(), Fail> {
    let entries = fs::read_dir(canonical).map_err(|e| Problem::Unreadable(e.to_string()))?;
    let mut names = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => names.push(e.file_name()),
            Err(_) => out.ignored_entries += 1,
        }
        if names.len() + out.ignored_entries > limits.max_dir_entries {
            return Err(TrustError::TooManyEntries {
                origin_desc: origin_desc.to_owned(),
                path: shown.to_path_buf(),
                limit: limits.max_dir_entries,
            }
            .into());
        }
    }
    // read_dir order is arbitrary; sorting keeps the bundle (and so its
    // content-addressed name) stable from one run to the next.
    names.sort();
    for name in names {
        let entry_shown = shown.join(&name);
        // Hash dirs hold subdirectories and stale links: counted, not warned.
        let (entry, meta) = match resolve(&canonical.join(&name)) {
            Ok((c, meta)) if meta.is_file() => (c, meta),
            _ => {
                out.ignored_entries += 1;
                continue;
            }
        };
        match read_regular(origin_desc, &entry, &meta, &entry_shown, limits, budget) {
            Ok((bytes, ident)) => {
                out.watch.push((canonical.join(&name), ident));
                out.files.push((entry_shown, bytes));
            }
            Err(Fail::Skip(_)) => out.ignored_entries += 1,
            Err(fatal) => return Err(fatal),
        }
    }
    Ok(())
}

/// Follow symlinks hop by hop (so a loop is reported where it is), then
/// canonicalise. Returns the canonical path and a stat of it.
pub(crate) fn resolve(path: &Path) -> Result<(PathBuf, Metadata), Problem> {
    let mut cur = path.to_path_buf();
    let mut seen: Vec<PathBuf> = Vec::new();
    loop {
        let meta = fs::symlink_metadata(&cur).map_err(|e| io_problem(&e, path, &cur))?;
        if !meta.file_type().is_symlink() {
            break;
        }
        if seen.len() >= MAX_HOPS || seen.contains(&cur) {
            return Err(Problem::Loop(cur));
        }
        let target = fs::read_link(&cur).map_err(|e| io_problem(&e, path, &cur))?;
        if let Some(kind) = descriptor_kind(&cur, &target) {
            return Err(Problem::NoFile(kind));
        }
        // An absolute target replaces the whole path in join().
        let next = cur
            .parent()
            .map_or_else(|| target.clone(), |d| d.join(&target));
        seen.push(std::mem::replace(&mut cur, next));
    }
    let canonical = fs::canonicalize(&cur).map_err(|e| io_problem(&e, path, &cur))?;
    let meta = fs::metadata(&canonical).map_err(|e| io_problem(&e, path, &canonical))?;
    Ok((canonical, meta))
}

/// What a `/proc/…/fd/N` (or `/proc/…/fd` via `/dev/stdin`) link names
/// when it has no path: the kernel's `pipe:[…]`, `socket:[…]` and
/// `anon_inode:…` targets. Only under `/proc`, where those are magic
/// links; elsewhere such a target is an ordinary (dangling) name.
fn descriptor_kind(link: &Path, target: &Path) -> Option<&'static str> {
    if !link.starts_with("/proc") {
        return None;
    }
    let t = target.as_os_str().as_encoded_bytes();
    [
        (&b"pipe:["[..], "pipe"),
        (&b"socket:["[..], "socket"),
        (&b"anon_inode:"[..], "descriptor with no file (anon_inode)"),
    ]
    .into_iter()
    .find_map(|(prefix, kind)| t.starts_with(prefix).then_some(kind))
}

fn io_problem(e: &io::Error, original: &Path, at: &Path) -> Problem {
    if e.raw_os_error() == Some(libc::ELOOP) {
        Problem::Loop(at.to_path_buf())
    } else if e.kind() == io::ErrorKind::NotFound {
        if at == original {
            Problem::Missing
        } else {
            Problem::Dangling(at.to_path_buf())
        }
    } else {
        Problem::Unreadable(e.to_string())
    }
}

/// Open without following a final symlink and without blocking (a FIFO
/// swapped in after our stat must not hang us), then re-check on the fd.
fn read_regular(
    origin_desc: &str,
    canonical: &Path,
    before: &Metadata,
    shown: &Path,
    limits: &Limits,
    budget: &mut Budget,
) -> Result<(Vec<u8>, Ident), Fail> {
    let file = open_nofollow(canonical).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) || e.kind() == io::ErrorKind::NotFound {
            Problem::Changed // it was a regular file a moment ago
        } else {
            Problem::Unreadable(e.to_string())
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Problem::Unreadable(e.to_string()))?;
    if (meta.dev(), meta.ino()) != (before.dev(), before.ino()) || !meta.is_file() {
        return Err(Problem::Changed.into());
    }
    let too_large = |size: u64| TrustError::TooLarge {
        origin_desc: origin_desc.to_owned(),
        path: shown.to_path_buf(),
        size,
        limit: limits.max_file_bytes,
    };
    if meta.len() > limits.max_file_bytes {
        return Err(too_large(meta.len()).into());
    }
    // The file may grow after fstat: read one byte past the limit to notice.
    let cap = usize::try_from(meta.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(cap.saturating_add(1));
    file.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Problem::Unreadable(e.to_string()))?;
    let n = bytes.len() as u64;
    if n > limits.max_file_bytes {
        return Err(too_large(n).into());
    }
    budget.used += n;
    if budget.used > limits.max_total_bytes {
        return Err(TrustError::TotalTooLarge {
            origin_desc: origin_desc.to_owned(),
            path: shown.to_path_buf(),
            total: budget.used,
            limit: limits.max_total_bytes,
        }
        .into());
    }
    Ok((bytes, Ident::of(&meta)))
}

pub(crate) fn open_nofollow(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

fn kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// link0 -> link1 -> … -> link{n-1} -> target
    fn chain(dir: &Path, n: usize) -> PathBuf {
        fs::write(dir.join("target"), b"x").unwrap();
        for i in 0..n {
            let to = if i + 1 == n {
                "target".to_owned()
            } else {
                format!("link{}", i + 1)
            };
            symlink(to, dir.join(format!("link{i}"))).unwrap();
        }
        dir.join("link0")
    }

    #[test]
    fn forty_hops_resolve_and_forty_one_is_a_loop() {
        let ok = tempfile::tempdir().unwrap();
        let (canonical, meta) = resolve(&chain(ok.path(), MAX_HOPS)).unwrap();
        assert_eq!(
            canonical,
            fs::canonicalize(ok.path().join("target")).unwrap()
        );
        assert!(meta.is_file());
        let too_many = tempfile::tempdir().unwrap();
        let start = chain(too_many.path(), MAX_HOPS + 1);
        assert!(matches!(resolve(&start), Err(Problem::Loop(_))));
    }

    #[test]
    fn loops_missing_and_dangling_are_told_apart() {
        let d = tempfile::tempdir().unwrap();
        let me = d.path().join("me");
        symlink("me", &me).unwrap();
        assert_eq!(resolve(&me).unwrap_err(), Problem::Loop(me));
        let missing = d.path().join("missing");
        assert_eq!(resolve(&missing).unwrap_err(), Problem::Missing);
        symlink("missing", d.path().join("dangling")).unwrap();
        assert_eq!(
            resolve(&d.path().join("dangling")).unwrap_err(),
            Problem::Dangling(missing)
        );
        // A loop in a directory component is reported by the kernel (ELOOP).
        symlink("dirloop", d.path().join("dirloop")).unwrap();
        assert!(matches!(
            resolve(&d.path().join("dirloop/x.pem")),
            Err(Problem::Loop(_))
        ));
    }

    #[test]
    fn relative_links_resolve_against_their_own_directory() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/ca.pem"), b"x").unwrap();
        symlink("../ca.pem", d.path().join("a/b/link")).unwrap();
        symlink("a/b/link", d.path().join("top")).unwrap();
        let (canonical, _) = resolve(&d.path().join("top")).unwrap();
        assert_eq!(
            canonical,
            fs::canonicalize(d.path().join("a/ca.pem")).unwrap()
        );
    }

    #[test]
    fn reads_stop_one_byte_past_the_limit_and_count_the_total() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, vec![b'x'; 100]).unwrap();
        let limits = Limits {
            max_file_bytes: 100,
            max_total_bytes: 150,
            max_dir_entries: 8,
        };
        let mut budget = Budget::default();
        let l = load("V", &p, Expect::File, &limits, &mut budget).unwrap();
        assert_eq!((l.files[0].1.len(), budget.used), (100, 100));
        let err = load("V", &p, Expect::File, &limits, &mut budget).unwrap_err();
        assert!(
            matches!(err, TrustError::TotalTooLarge { total: 200, .. }),
            "{err}"
        );
        let small = Limits {
            max_file_bytes: 99,
            ..limits
        };
        let err = load("V", &p, Expect::File, &small, &mut Budget::default()).unwrap_err();
        assert!(err.to_string().starts_with("V: "), "{err}");
        assert!(
            err.to_string()
                .contains("is 100 bytes, over the 99-byte limit"),
            "{err}"
        );
    }
}
