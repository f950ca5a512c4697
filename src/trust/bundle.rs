//! Materialising bundles: content-addressed, read-only files in a private
//! cache directory.
//!
//! The name is the sha256 of the content, so a bundle is written once and
//! every later spawn with the same inputs finds it (the warm path: one open,
//! one read, one compare). A file is never overwritten in place: a child
//! that already has the path open must keep seeing the same bytes, and a
//! concurrent sandspawn writing the same name must not race us.

use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::input::open_nofollow;
use super::TrustError;

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
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, not by the current user (uid {me})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "is group- or world-writable (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    fs::canonicalize(dir).map_err(io_err("resolving cache directory"))
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
            found(again)?.ok_or_else(|| TrustError::CacheMismatch { path })
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
