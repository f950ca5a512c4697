//! Reading the small text files a user names (policy, client config, env
//! file, user config) without hanging or exhausting memory.
//!
//! A FIFO nobody writes to blocks `open(2)` forever, and `/dev/zero` (or a
//! FIFO fed forever) never ends: the file is opened non-blocking, then read
//! blocking (a pipe still delivers what its writer sends; one without a
//! writer reads as empty), and at most `max` bytes are accepted.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// The largest client config or user config read (16 MiB): real ones are
/// kilobytes, even with hundreds of servers.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Open `path` for reading without blocking on a FIFO that has no writer;
/// reads from the result block as usual.
pub fn open(path: &Path) -> io::Result<std::fs::File> {
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // Back to blocking reads: a pipe's writer may still be on its way.
    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).map_err(io::Error::from)?;
    Ok(file)
}

/// The contents of `path`, at most `max` bytes; a longer one is an error
/// ("larger than N bytes").
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_bounded_string(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, max)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
