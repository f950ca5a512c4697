//! Reading a small regular file where something else could have been put:
//! a FIFO nobody writes to blocks `open(2)` forever and `/dev/zero` never
//! ends, so the file is opened non-blocking, anything but a regular file
//! is refused unread, and at most a bounded number of bytes is read. Used
//! by the bridge for `/etc/hosts` and by planning for the files it finds
//! in a workspace.

use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why [`read_regular`] read nothing.
#[derive(Debug, thiserror::Error)]
pub enum RegularError {
    /// Opening or reading failed (ENOENT, EACCES; ELOOP for a link
    /// without `follow`).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Something else than a regular file is there (named: "a FIFO").
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
}

/// The first `max` bytes of the regular file `path`, and whether that is
/// all of it. Opened O_NONBLOCK (a FIFO's open does not wait for a
/// writer) and, unless `follow`, O_NOFOLLOW (a link is ELOOP); then the
/// opened file itself is checked: anything but a regular file is refused
/// unread, so nothing planted where a file was looked at can hang the
/// read or feed it.
pub fn read_regular(path: &Path, max: u64, follow: bool) -> Result<(Vec<u8>, bool), RegularError> {
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | nofollow)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(RegularError::NotRegular(if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "something else"
        }));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    let whole = bytes.len() as u64 <= max;
    bytes.truncate(max as usize);
    Ok((bytes, whole))
}
