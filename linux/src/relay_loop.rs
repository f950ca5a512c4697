//! The host bridge's relay: every tunnel on one thread, driven by one
//! edge-triggered `epoll` set. A tunnel is two connected TCP sockets (the
//! child's, the upstream's) and one kernel pipe per direction; any event on
//! either socket moves both directions as far as they go without blocking
//! ([`Half::step`], the same splice step as [`crate::relay::pipe`]).
//!
//! One thread instead of one per tunnel: with many tunnels busy at once,
//! one wake-up serves every socket that became ready, where a thread per
//! tunnel pays a context switch for each. Threads that set tunnels up
//! (connect the upstream, put the credentials on) register them here
//! directly; the loop thread never blocks on anything but `epoll_wait`.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::relay::Half;
use crate::sys;

/// Readable, writable, peer half-closed; edge-triggered.
const EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// The relay: an epoll set and the tunnels it serves.
pub struct Relay {
    epoll: OwnedFd,
    tunnels: Mutex<Slab>,
    live: AtomicUsize,
}

/// Tunnels by token (the slot index); freed slots are reused.
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Tunnel>>,
    free: Vec<usize>,
}

struct Tunnel {
    /// The child's connection.
    a: TcpStream,
    /// The upstream's.
    b: TcpStream,
    /// [a → b, b → a]
    halves: [Half; 2],
    /// What `a` sends is read and dropped instead of going to `b`.
    drop_a: bool,
}

impl Tunnel {
    /// Move both directions until neither can move without blocking.
    /// `Ok(true)`: both directions ended (the tunnel is over).
    fn advance(&mut self) -> io::Result<bool> {
        let Tunnel {
            a,
            b,
            halves,
            drop_a,
        } = self;
        loop {
            let mut moved = false;
            for (i, half) in halves.iter_mut().enumerate() {
                if half.done {
                    continue;
                }
                if i == 0 && *drop_a {
                    let (drained, eof) = drain(a)?;
                    moved |= drained;
                    if eof {
                        let _ = b.shutdown(Shutdown::Write);
                        half.done = true;
                    }
                    continue;
                }
                let (src, dst) = if i == 0 { (&*a, &*b) } else { (&*b, &*a) };
                moved |= half.step(src.as_fd(), dst.as_fd())?;
                if half.eof && half.pending == 0 {
                    // EOF on one side half-closes the other (TLS
                    // close_notify and HTTP/1.0 bodies keep working).
                    let _ = dst.shutdown(Shutdown::Write);
                    half.done = true;
                }
            }
            if halves.iter().all(|h| h.done) {
                return Ok(true);
            }
            if !moved {
                return Ok(false);
            }
        }
    }
}

/// Read and drop what `src` has, until it would block: (anything read,
/// EOF seen).
fn drain(mut src: &TcpStream) -> io::Result<(bool, bool)> {
    use std::io::Read;
    let mut chunk = [0u8; 4096];
    let mut read = false;
    loop {
        match src.read(&mut chunk) {
            Ok(0) => return Ok((true, true)),
            Ok(_) => read = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((read, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Relay {
    /// A new relay with its loop thread (stack `stack` bytes). The thread
    /// runs until the process exits.
    pub fn start(stack: usize) -> io::Result<Arc<Relay>> {
        let relay = Arc::new(Relay {
            epoll: sys::epoll_create()?,
            tunnels: Mutex::new(Slab::default()),
            live: AtomicUsize::new(0),
        });
        let looped = Arc::clone(&relay);
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || looped.run())?;
        Ok(relay)
    }

    /// Tunnels being relayed now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Relay `a` ↔ `b` from now on. On error both are closed.
    pub fn add(&self, a: TcpStream, b: TcpStream) -> io::Result<()> {
        self.add_tunnel(a, b, false)
    }

    /// Relay `b` → `a` only, from now on: what `a` sends is read and
    /// dropped (its EOF still half-closes `b`). For a forwarded HTTP
    /// request once its response head is out: nothing more of the child's
    /// may reach that origin.
    pub fn add_one_way(&self, a: TcpStream, b: TcpStream) -> io::Result<()> {
        self.add_tunnel(a, b, true)
    }

    fn add_tunnel(&self, a: TcpStream, b: TcpStream, drop_a: bool) -> io::Result<()> {
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        let tunnel = Tunnel {
            a,
            b,
            halves: [Half::new()?, Half::new()?],
            drop_a,
        };
        // Registered under the lock: the loop cannot see (and end) the
        // tunnel before both sockets are in the set.
        let mut slab = self.lock();
        let key = match slab.free.pop() {
            Some(k) => k,
            None => {
                slab.slots.push(None);
                slab.slots.len() - 1
            }
        };
        let token = key as u64;
        let registered = sys::epoll_add(self.epoll.as_fd(), tunnel.a.as_fd(), EVENTS, token)
            .and_then(|()| sys::epoll_add(self.epoll.as_fd(), tunnel.b.as_fd(), EVENTS, token));
        if let Err(e) = registered {
            // Closing the sockets (dropping the tunnel) takes them out of
            // the set.
            slab.free.push(key);
            return Err(e);
        }
        slab.slots[key] = Some(tunnel);
        self.live.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Slab> {
        // A panic elsewhere cannot leave a slab half-updated in a way that
        // matters here: take it anyway.
        self.tunnels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let mut ready = Vec::with_capacity(64);
        loop {
            if sys::epoll_wait(self.epoll.as_fd(), &mut ready).is_err() {
                // Only EBADF/EINVAL/EFAULT, none of which can happen with
                // our own set; do not spin if one ever does.
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            let mut slab = self.lock();
            for &(_, token) in &ready {
                let Ok(key) = usize::try_from(token) else {
                    continue;
                };
                // A stale event (its tunnel gone, the slot maybe reused)
                // only causes one extra non-blocking pass.
                let Some(tunnel) = slab.slots.get_mut(key).and_then(Option::as_mut) else {
                    continue;
                };
                let over = match tunnel.advance() {
                    Ok(over) => over,
                    Err(_) => {
                        // An error on either side shuts both down: the
                        // client sees EOF or a reset, nothing waits.
                        let _ = tunnel.a.shutdown(Shutdown::Both);
                        let _ = tunnel.b.shutdown(Shutdown::Both);
                        true
                    }
                };
                if over {
                    slab.slots[key] = None;
                    slab.free.push(key);
                    self.live.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// (our end, their end) of a loopback TCP connection.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let theirs = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (l.accept().unwrap().0, theirs)
    }

    #[test]
    fn many_tunnels_move_bytes_both_ways_and_end() {
        let relay = Relay::start(256 * 1024).unwrap();
        let data: Vec<u8> = (0..700_000u32).map(|i| (i * 13 + i / 7) as u8).collect();
        let mut ends = Vec::new();
        for _ in 0..20 {
            let (a, client) = pair();
            let (b, server) = pair();
            relay.add(a, b).unwrap();
            ends.push((client, server));
        }
        let workers: Vec<_> = ends
            .into_iter()
            .map(|(client, server)| {
                let data = data.clone();
                std::thread::spawn(move || crate::relay::tests::exchange(client, server, &data))
            })
            .collect();
        for w in workers {
            let (got, back) = w.join().unwrap();
            assert!(got == data, "client to server: {} bytes", got.len());
            assert!(back == data, "server to client: {} bytes", back.len());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while relay.live() != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{} left",
                relay.live()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_reset_ends_the_tunnel_and_the_other_side_sees_eof() {
        let relay = Relay::start(256 * 1024).unwrap();
        let (a, mut client) = pair();
        let (b, server) = pair();
        relay.add(a, b).unwrap();
        client.write_all(b"hello").unwrap();
        drop(server);
        let mut rest = Vec::new();
        // EOF or a reset, but never a hang.
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let r = client.read_to_end(&mut rest);
        assert!(
            r.is_ok()
                || r.as_ref()
                    .is_err_and(|e| e.kind() != io::ErrorKind::WouldBlock),
            "{r:?}"
        );
    }
}
