//! Writing a rewritten client config: refuse one that cannot or should
//! not be written (before any diff), then a backup beside it and the new
//! text through a temporary file and a rename that keep its mode, owner
//! and group.

use std::path::{Path, PathBuf};

use super::install::InstallError;

/// Refuse a config that cannot, or should not, be written: a rename
/// would replace a file its owner cannot write, so ask first and refuse a
/// file the user protected rather than swap it. Symlinks are followed.
pub fn check_writable(path: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io = |step: &'static str| {
        move |source| InstallError::Io {
            step,
            path: path.to_path_buf(),
            source,
        }
    };
    let meta = std::fs::metadata(path).map_err(io("reading"))?;
    let mode = meta.permissions().mode();
    if mode & 0o222 == 0 {
        return Err(InstallError::ReadOnly {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    // Opening for writing (no truncation) changes nothing and catches a
    // read-only file system or another owner.
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|source| {
            let ours = meta.uid() == nix::unistd::geteuid().as_raw();
            match source.kind() {
                std::io::ErrorKind::PermissionDenied if !ours => InstallError::NotOwner {
                    path: path.to_path_buf(),
                    uid: meta.uid(),
                    source,
                },
                _ => io("writing")(source),
            }
        })?;
    // The backup and the temporary file go beside the file a link points
    // to: a directory that refuses them fails here, before any diff.
    let real = std::fs::canonicalize(path).map_err(io("reading"))?;
    let dir = real.parent().unwrap_or(Path::new("/"));
    let not_writable = |source: std::io::Error| InstallError::DirNotWritable {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    };
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).map_err(|e| not_writable(e.into()))?;
    // The rename gives the config the owner of a file new here: unless
    // that is its owner already (also on sshfs or a squashing NFS export,
    // whatever the caller's uid), it must be given back, which needs root.
    let probe = tempfile::NamedTempFile::new_in(dir).map_err(not_writable)?;
    keep_owner(probe.as_file(), path, (meta.uid(), meta.gid()))
}

/// Write `text` to `path` atomically (temporary file beside it, fsync,
/// rename), after copying the current file to `path.sandspawn-backup`.
/// Keeps the original's permissions, owner and group (root editing a
/// user's config must not hand it to root). A symlinked config (dotfiles) is
/// written through: the file it points to is replaced, the link stays.
pub fn write_atomically(path: &Path, text: &str) -> Result<Option<PathBuf>, InstallError> {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|source| InstallError::Io {
                step: "resolving the link",
                path: path.to_path_buf(),
                source,
            })?
        }
        _ => path.to_path_buf(),
    };
    let path = target.as_path();
    let io = |step: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| InstallError::Io {
            step,
            path: p,
            source,
        }
    };
    let mut backup_name = path.as_os_str().to_os_string();
    backup_name.push(".sandspawn-backup");
    let backup = PathBuf::from(backup_name);
    let existed = path.exists();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Both files are written through a new temporary file renamed over
    // their name, and its mode and owner set through its descriptor: a
    // link or another file the directory's owner put at the backup's name
    // (or swapped in for the temporary one) is replaced, never written
    // through. Root running install on a user's config otherwise copied
    // the user's text over the file the link named and gave it to them.
    let kept = if existed {
        check_writable(path)?;
        // `path` is no link (resolved above): one put there since is not
        // followed, and the owner and mode given to the backup are those
        // of the file whose bytes it gets.
        let mut current = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(io("reading", path))?
        };
        let meta = current.metadata().map_err(io("reading", path))?;
        let owner = (meta.uid(), meta.gid());
        let mut old = tempfile::NamedTempFile::new_in(dir).map_err(io("backing up to", &backup))?;
        std::io::copy(&mut current, old.as_file_mut()).map_err(io("backing up to", &backup))?;
        old.as_file()
            .set_permissions(meta.permissions())
            .map_err(io("backing up to", &backup))?;
        keep_owner(old.as_file(), &backup, owner)?;
        old.persist(&backup).map_err(|e| InstallError::Io {
            step: "backing up to",
            path: backup.clone(),
            source: e.error,
        })?;
        Some((owner, meta.permissions()))
    } else {
        None
    };
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io("writing", path))?;
    tmp.write_all(text.as_bytes())
        .map_err(io("writing", path))?;
    tmp.as_file().sync_all().map_err(io("writing", path))?;
    if let Some((owner, perms)) = kept {
        tmp.as_file()
            .set_permissions(perms)
            .map_err(io("writing", path))?;
        keep_owner(tmp.as_file(), path, owner)?;
    }
    tmp.persist(path).map_err(|e| InstallError::Io {
        step: "writing",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(existed.then_some(backup))
}

/// Give `file` (the backup, or the text about to replace `path`) the
/// original's owner and group, when they are not the caller's already.
fn keep_owner(
    file: &std::fs::File,
    path: &Path,
    (uid, gid): (u32, u32),
) -> Result<(), InstallError> {
    use std::os::unix::fs::MetadataExt;
    let now = file.metadata().map_err(|source| InstallError::Io {
        step: "writing",
        path: path.to_path_buf(),
        source,
    })?;
    if (now.uid(), now.gid()) == (uid, gid) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(|source| InstallError::Owner {
        path: path.to_path_buf(),
        uid,
        gid,
        source,
    })
}
