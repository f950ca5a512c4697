//! The upstream proxy's addresses: looked up, cached for a while, and
//! connected with a bound.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bridge::CONNECT_TIMEOUT;

/// Resolve `host:port` and connect to the first address that answers.
pub(crate) fn connect_upstream(host: &str, port: u16) -> io::Result<TcpStream> {
    connect_any(&resolve(host, port)?)
}

pub(crate) fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// Connect to the first of `addrs` that answers.
fn connect_any(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for &addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// How long the bridge reuses the upstream's resolved addresses. A proxy
/// named by host name would otherwise cost a DNS lookup per tunnel; a
/// failed connect to every cached address forgets them at once.
const RESOLVE_TTL: Duration = Duration::from_secs(30);

/// The upstream's addresses, resolved at most once per [`RESOLVE_TTL`].
pub(crate) struct Addresses {
    resolve: fn(&str, u16) -> io::Result<Vec<SocketAddr>>,
    cached: Mutex<Option<(Instant, Vec<SocketAddr>)>>,
}

impl Addresses {
    pub(crate) fn new(resolve: fn(&str, u16) -> io::Result<Vec<SocketAddr>>) -> Self {
        Addresses {
            resolve,
            cached: Mutex::new(None),
        }
    }

    pub(crate) fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let cached = {
            let guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .filter(|(at, _)| at.elapsed() < RESOLVE_TTL)
                .map(|(_, addrs)| addrs.clone())
        };
        let addrs = match cached {
            Some(addrs) => addrs,
            None => {
                let addrs = (self.resolve)(host, port)?;
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), addrs.clone()));
                addrs
            }
        };
        connect_any(&addrs).inspect_err(|_| {
            // The proxy may have moved: look it up again next time.
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        })
    }
}
