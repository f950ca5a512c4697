//! The bridge as a SOCKS5 client (RFC 1928): for the HTTP front, ask a
//! SOCKS5 upstream for a tunnel to `host:port`, logging in first (RFC
//! 1929) when the upstream URL had credentials. Names go to the upstream
//! as names (address type 3): the sandbox has no DNS, so only the proxy
//! can resolve them. Every answer is awaited a bounded time, and only the
//! bytes of each answer are read, so whatever the target sends first stays
//! in the socket for the relay.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::front_parse::Host;
use crate::spec::SocksLogin;
use crate::upstream_auth::{self, SocksAuthError};

/// Why the upstream gave no tunnel.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The greeting or the login failed (method refused, bad credentials,
    /// not SOCKS5, silence).
    #[error("{0}")]
    Login(#[from] SocksAuthError),
    /// The upstream answered the CONNECT request with a failure code.
    #[error("{} (SOCKS5 reply {code})", reply_text(*code))]
    Refused {
        /// The reply code (1–8, or another non-zero byte).
        code: u8,
    },
    /// Reading or writing the request or reply failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ConnectError {
    fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ConnectError::Io(e) | ConnectError::Login(SocksAuthError::Io(e)) => Some(e.kind()),
            _ => None,
        }
    }

    /// The upstream said nothing within the bound.
    pub fn timed_out(&self) -> bool {
        matches!(
            self.io_kind(),
            Some(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
        )
    }

    /// The upstream closed the connection before its answer was whole.
    pub fn closed(&self) -> bool {
        self.io_kind() == Some(io::ErrorKind::UnexpectedEof)
    }
}

/// RFC 1928's words for a reply code.
pub fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned failure code",
    }
}

/// Greet `up` (with `login`, username/password only; without, "no
/// authentication" only), ask for a tunnel to `host:port` and read the
/// whole reply. `greet_wait` bounds each greeting and login answer,
/// `reply_wait` the CONNECT reply (the upstream connects the target
/// first). The read timeout is cleared again on success.
pub fn socks_connect(
    up: &mut TcpStream,
    login: Option<&SocksLogin>,
    host: &Host,
    port: u16,
    greet_wait: Duration,
    reply_wait: Duration,
) -> Result<(), ConnectError> {
    match login {
        Some(login) => upstream_auth::socks_login(up, login, greet_wait)?,
        None => greet_without_login(up, greet_wait)?,
    }
    up.write_all(&connect_request(host, port)?)?;
    up.set_read_timeout(Some(reply_wait))?;
    let mut head = [0u8; 4];
    up.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(SocksAuthError::NotSocks([head[0], head[1]]).into());
    }
    if head[1] != 0 {
        return Err(ConnectError::Refused { code: head[1] });
    }
    // The bound address, which nothing here needs, and its port.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            up.read_exact(&mut len)?;
            usize::from(len[0]) + 2
        }
        _ => return Err(SocksAuthError::NotSocks([head[0], head[3]]).into()),
    };
    let mut bound = [0u8; 257];
    up.read_exact(&mut bound[..rest])?;
    up.set_read_timeout(None)?;
    Ok(())
}

pub(crate) fn greet_without_login(
    up: &mut TcpStream,
    wait: Duration,
) -> Result<(), SocksAuthError> {
    up.set_read_timeout(Some(wait))?;
    up.write_all(&[5, 1, 0])?;
    let mut reply = [0u8; 2];
    up.read_exact(&mut reply)?;
    if reply[0] != 5 {
        return Err(SocksAuthError::NotSocks(reply));
    }
    if reply[1] != 0 {
        return Err(SocksAuthError::MethodRejected { method: reply[1] });
    }
    Ok(())
}

/// `VER CMD RSV ATYP DST.ADDR DST.PORT` for CONNECT.
pub fn connect_request(host: &Host, port: u16) -> io::Result<Vec<u8>> {
    let mut out = vec![5, 1, 0];
    match host {
        Host::V4(a) => {
            out.push(1);
            out.extend_from_slice(&a.octets());
        }
        Host::V6(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        Host::Name(n) => {
            let len = u8::try_from(n.len()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "host name over 255 bytes")
            })?;
            out.push(3);
            out.push(len);
            out.extend_from_slice(n.as_bytes());
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}
