//! Reading the small text files a user names (policy, client config, env
//! file, user config), and the files planning reads where a sandbox could
//! have written (a `.git` pointer, git config files), without hanging or
//! exhausting memory.
//!
//! A FIFO nobody writes to blocks `open(2)` forever, one whose writer
//! never finishes blocks `read(2)` forever, and `/dev/zero` never ends:
//! every file is opened non-blocking and at most `max` bytes are accepted.
//! What a user names may be a pipe (`--policy <(gen-policy)`, or a FIFO
//! whose writer opens it later): it is read until a writer has come and
//! closed it, for at most [`PIPE_WAIT`]. What planning
//! finds in a workspace must be a regular file ([`read_regular`]): a FIFO
//! there is refused unread.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest client config or user config read (16 MiB): real ones are
/// kilobytes, even with hundreds of servers.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// How long a pipe's writer may take to send all of a named file.
pub const PIPE_WAIT: Duration = Duration::from_secs(10);

/// Open `path` for reading without blocking on a FIFO that has no writer
/// (its reads do not block either: see [`read_upto`]).
fn open(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// At most `max + 1` bytes of `path` (one past the limit tells "too big"
/// from "exactly at the limit"). A regular file is read as usual; anything
/// else (a pipe, a device) until its end, for at most [`PIPE_WAIT`]: a
/// writer that neither finishes nor closes is an error, not a hang.
pub fn read_upto(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_within(path, max, PIPE_WAIT)
}

/// [`read_upto`], a pipe's writer given `wait`.
///
/// A read of a FIFO no writer has opened yet returns 0 at once, as at its
/// end: taken as the end, a policy whose generator had not started yet
/// would be read as empty. So 0 is the end only once a writer was seen:
/// a read that would block (a writer holds it), data, or poll reporting
/// it readable or hung up (Linux reports nothing on a FIFO that never had
/// a writer, and POLLHUP once one came and went; an anonymous pipe, as
/// `<(...)` names, always had one).
fn read_within(path: &Path, max: u64, wait: Duration) -> io::Result<Vec<u8>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let file = open(path)?;
    let mut bytes = Vec::new();
    if file.metadata()?.is_file() {
        file.take(max + 1).read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let deadline = Instant::now() + wait;
    let mut chunk = [0u8; 8192];
    let mut file = file;
    let mut writer_seen = false;
    while bytes.len() as u64 <= max {
        match file.read(&mut chunk) {
            Ok(0) if writer_seen => break,
            Ok(0) => {}
            Ok(n) => {
                writer_seen = true;
                bytes.extend_from_slice(&chunk[..n]);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => writer_seen = true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let what = if writer_seen {
                "its writer sent no end"
            } else {
                "no writer opened it"
            };
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "not a regular file, and {what} within {} s",
                    wait.as_secs_f32()
                ),
            ));
        }
        // Rounded up: a timeout of 0 ms would spin through the last one.
        let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) => {
                let got = fds[0].revents().unwrap_or(PollFlags::empty());
                writer_seen |=
                    got.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    bytes.truncate(max as usize + 1);
    Ok(bytes)
}

/// The contents of `path`, at most `max` bytes; a longer one is an error
/// ("larger than N bytes").
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let bytes = read_upto(path, max)?;
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

/// What planning finds in a workspace: the first `max` bytes of a regular
/// file, anything else refused unread. The reader is the linux crate's
/// (that crate cannot depend on this one), shared with the bridge's read
/// of `/etc/hosts`.
pub use sandspawn_linux::regular_file::{read_regular, RegularError};

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo() -> (tempfile::TempDir, std::path::PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRWXU).unwrap();
        (t, p)
    }

    #[test]
    fn a_regular_file_is_read_up_to_the_limit() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f");
        std::fs::write(&p, "abcdef").unwrap();
        let (bytes, whole) = read_regular(&p, 4, true).unwrap();
        assert_eq!((bytes.as_slice(), whole), (&b"abcd"[..], false));
        let (bytes, whole) = read_regular(&p, 6, false).unwrap();
        assert_eq!((bytes.as_slice(), whole), (&b"abcdef"[..], true));
        std::os::unix::fs::symlink(&p, t.path().join("l")).unwrap();
        let err = read_regular(&t.path().join("l"), 6, false).unwrap_err();
        assert!(
            matches!(&err, RegularError::Io(e) if e.raw_os_error() == Some(libc::ELOOP)),
            "{err}"
        );
        read_regular(&t.path().join("l"), 6, true).unwrap();
    }

    /// Refused unread, at once: with a writer holding it open as well.
    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let (_t, p) = fifo();
        let err = read_regular(&p, 10, false).unwrap_err();
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
        let _writer = open_writer(&p);
        let err = read_regular(&p, 10, true).unwrap_err();
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
        let err = read_regular(Path::new("/dev/null"), 10, true).unwrap_err();
        assert_eq!(err.to_string(), "is a character device, not a regular file");
    }

    /// A named pipe still delivers what its writer sends; one whose writer
    /// never finishes is an error after PIPE_WAIT, not a hang.
    #[test]
    fn a_named_pipe_is_read_until_its_writer_finishes_or_the_wait_ends() {
        let (_t, p) = fifo();
        let writer = open_writer(&p);
        let started = Instant::now();
        let err = read_within(&p, 10, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "not a regular file, and its writer sent no end within 0.3 s"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(writer);
        // Sent, then closed a moment later: read whole, to the end.
        let mut writer = open_writer(&p);
        std::io::Write::write_all(&mut writer, b"net = \"none\"\n").unwrap();
        let close = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(writer);
        });
        assert_eq!(read_bounded(&p, 100).unwrap(), b"net = \"none\"\n");
        close.join().unwrap();
    }

    /// A FIFO no writer has opened yet is not an empty file (a
    /// non-blocking read of it returns 0 at once): its writer is waited
    /// for, and one that never comes is an error, not an empty policy.
    #[test]
    fn a_named_pipe_waits_for_a_writer_that_comes_late() {
        let (_t, p) = fifo();
        let started = Instant::now();
        let err = read_within(&p, 10, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "not a regular file, and no writer opened it within 0.3 s"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        let late = |p: std::path::PathBuf, text: &'static [u8]| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(500));
                // Blocks until the reader has it open, as a shell's `>`.
                std::fs::write(p, text).unwrap();
            })
        };
        let writer = late(p.clone(), b"net = \"full\"\n");
        assert_eq!(read_bounded(&p, 100).unwrap(), b"net = \"full\"\n");
        writer.join().unwrap();
        // A writer that comes and goes without a byte: empty, at once.
        let writer = late(p.clone(), b"");
        let started = Instant::now();
        assert_eq!(read_bounded(&p, 100).unwrap(), b"");
        assert!(started.elapsed() < Duration::from_secs(5));
        writer.join().unwrap();
    }

    /// `--policy <(gen)`: an anonymous pipe named through /proc/self/fd,
    /// its writer done before the read starts, or a second late.
    #[test]
    fn process_substitution_is_read_from_fast_and_slow_writers() {
        for delay in [Duration::ZERO, Duration::from_secs(1)] {
            let (read, write) = nix::unistd::pipe().unwrap();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(delay);
                let mut write = std::fs::File::from(write);
                std::io::Write::write_all(&mut write, b"net = \"full\"\n").unwrap();
            });
            if delay.is_zero() {
                writer.join().unwrap();
            }
            let named = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&read));
            let started = Instant::now();
            let text = read_bounded(Path::new(&named), 100).unwrap();
            assert_eq!(text, b"net = \"full\"\n", "{delay:?}");
            assert!(
                started.elapsed() < delay + Duration::from_secs(3),
                "{delay:?}"
            );
            drop(read);
        }
    }

    /// A writer end that does not wait for a reader (O_RDWR on a FIFO
    /// opens at once on Linux).
    fn open_writer(p: &Path) -> std::fs::File {
        std::fs::File::options()
            .read(true)
            .write(true)
            .open(p)
            .unwrap()
    }
}
