//! The bridge's byte pipe: one connection's two directions relayed on the
//! calling thread, socket → kernel pipe → socket with `splice(2)`.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::sys;

/// Kernel pipe capacity of a bulk direction (the pipe holds bytes in flight).
const PIPE_SIZE: usize = 256 * 1024;
/// A direction is grown to [`PIPE_SIZE`] once this much has crossed it.
const GROW_AFTER: usize = 256 * 1024;

/// A connected stream socket the pipe can relay.
pub trait Duplex: AsFd + Send + Sized + 'static {
    /// `shutdown(2)`.
    fn close(&self, how: Shutdown);
    /// Make I/O on it non-blocking.
    fn nonblocking(&self) -> io::Result<()>;
}

impl Duplex for TcpStream {
    fn close(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}

impl Duplex for UnixStream {
    fn close(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
    fn nonblocking(&self) -> io::Result<()> {
        self.set_nonblocking(true)
    }
}

/// Copy both directions until both end, on the calling thread. EOF on one
/// side half-closes the other (TLS close_notify and HTTP/1.0 bodies keep
/// working); an error on either side shuts both down, so the client sees
/// EOF or a reset and nothing waits forever.
///
/// Bytes move socket → pipe → socket with `splice(2)` (no copy through user
/// space); one `poll(2)` over both sockets waits for whichever direction
/// is blocked.
pub fn pipe<A: Duplex, B: Duplex>(a: A, b: B) {
    if relay(&a, &b).is_err() {
        a.close(Shutdown::Both);
        b.close(Shutdown::Both);
    }
}

/// One direction: bytes from `src` wait in a kernel pipe until `dst` takes
/// them.
pub(crate) struct Half {
    rd: OwnedFd,
    wr: OwnedFd,
    /// Bytes taken from `src` so far (saturating; only compared with
    /// [`GROW_AFTER`]).
    moved: usize,
    /// Bytes in the pipe.
    pub(crate) pending: usize,
    /// `src` reached end of file.
    pub(crate) eof: bool,
    /// `dst` has been half-closed: this direction is over.
    pub(crate) done: bool,
}

impl Half {
    pub(crate) fn new() -> io::Result<Self> {
        let (rd, wr) = sys::pipe_nonblocking()?;
        Ok(Self {
            rd,
            wr,
            moved: 0,
            pending: 0,
            eof: false,
            done: false,
        })
    }

    /// Move what can be moved now without blocking. Returns whether
    /// anything happened (bytes moved, or end of file seen).
    pub(crate) fn step(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<bool> {
        let mut progress = false;
        if !self.eof {
            match sys::splice(src, self.wr.as_fd(), PIPE_SIZE) {
                Ok(0) => {
                    self.eof = true;
                    progress = true;
                }
                Ok(n) => {
                    self.pending += n;
                    self.grow_if_bulk(n);
                    progress = true;
                }
                Err(e) if retry_later(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if self.pending > 0 {
            match sys::splice(self.rd.as_fd(), dst, self.pending) {
                Ok(n) => {
                    self.pending -= n;
                    progress |= n > 0;
                }
                Err(e) if retry_later(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(progress)
    }

    /// A bulk transfer gets a bigger pipe (more per call). Only then: pipe
    /// capacity counts against a per-user quota (`pipe-user-pages-soft`,
    /// for every process of the user), so hundreds of mostly idle tunnels
    /// keep the default 64 KiB. If refused, the default works, only with
    /// more calls.
    fn grow_if_bulk(&mut self, n: usize) {
        let before = self.moved;
        self.moved = self.moved.saturating_add(n);
        if before < GROW_AFTER && self.moved >= GROW_AFTER {
            let _ = sys::set_pipe_size(self.wr.as_fd(), PIPE_SIZE);
        }
    }

    /// What to wait for: `dst` writable while the pipe holds bytes (not
    /// `src` readable then: the pipe may be full), else `src` readable.
    fn interest(&self) -> (i16, i16) {
        if self.done {
            (0, 0)
        } else if self.pending > 0 {
            (0, libc::POLLOUT)
        } else {
            (libc::POLLIN, 0)
        }
    }
}

fn retry_later(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn relay<A: Duplex, B: Duplex>(a: &A, b: &B) -> io::Result<()> {
    a.nonblocking()?;
    b.nonblocking()?;
    // [a → b, b → a]
    let mut halves = [Half::new()?, Half::new()?];
    loop {
        let mut events = [0i16; 2];
        for (i, half) in halves.iter_mut().enumerate() {
            if half.done {
                continue;
            }
            let (src, dst) = if i == 0 {
                (a.as_fd(), b.as_fd())
            } else {
                (b.as_fd(), a.as_fd())
            };
            half.step(src, dst)?;
            if half.eof && half.pending == 0 {
                if i == 0 {
                    b.close(Shutdown::Write);
                } else {
                    a.close(Shutdown::Write);
                }
                half.done = true;
            }
            let (on_src, on_dst) = half.interest();
            events[i] |= on_src;
            events[1 - i] |= on_dst;
        }
        if halves.iter().all(|h| h.done) {
            return Ok(());
        }
        // Only descriptors with something to wait for are watched: a hung-up
        // socket nobody waits on must not wake the loop forever.
        sys::poll_two([
            ((events[0] != 0).then(|| a.as_fd()), events[0]),
            ((events[1] != 0).then(|| b.as_fd()), events[1]),
        ])?;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Both ends of a relayed connection write `data` at once and shut their
    /// write side; returns (what `server` read, what `client` read).
    pub(crate) fn exchange<C, S>(mut client: C, mut server: S, data: &[u8]) -> (Vec<u8>, Vec<u8>)
    where
        C: Duplex + Read + Write + From<OwnedFd>,
        S: Duplex + Read + Write + From<OwnedFd>,
    {
        let writer = write_all_then_shut(&client, data.to_vec());
        let echo = write_all_then_shut(&server, data.to_vec());
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        echo.join().unwrap();
        (got, back)
    }

    /// On another thread, through a clone of `stream`: write `data`, then
    /// shut the write side (for every clone: it is one socket).
    fn write_all_then_shut<T: Duplex + Write + From<OwnedFd>>(
        stream: &T,
        data: Vec<u8>,
    ) -> std::thread::JoinHandle<()> {
        let mut w = T::from(stream.as_fd().try_clone_to_owned().unwrap());
        std::thread::spawn(move || {
            w.write_all(&data).unwrap();
            w.close(Shutdown::Write);
        })
    }

    #[test]
    fn pipe_copies_both_ways_and_propagates_eof() {
        let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = TcpListener::bind("127.0.0.1:0").unwrap();
        let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (inner, _) = l1.accept().unwrap();
            let outer = TcpStream::connect(a2).unwrap();
            pipe(inner, outer);
        });
        let mut client = TcpStream::connect(a1).unwrap();
        let (mut server, _) = l2.accept().unwrap();
        client.write_all(b"ping").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ping");
        server.write_all(b"pong").unwrap();
        drop(server);
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"pong");
        t.join().unwrap();
    }

    #[test]
    fn pipe_moves_megabytes_both_ways_at_once_tcp_to_unix() {
        let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let a1 = l1.local_addr().unwrap();
        let (outer, server) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let (inner, _) = l1.accept().unwrap();
            pipe(inner, outer);
        });
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let client = TcpStream::connect(a1).unwrap();
        let (got, back) = exchange(client, server, &data);
        t.join().unwrap();
        assert!(got == data, "client to server: {} bytes", got.len());
        assert!(back == data, "server to client: {} bytes", back.len());
    }
}
