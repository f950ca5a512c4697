//! The host side of tests/proxy_local_targets.rs: a listener on the host's
//! loopback standing in for its services, and small HTTP and SOCKS5
//! proxies there as the bridge's upstreams. The HTTP one serves every
//! request on a connection, `Connection: close` or not, as a careless
//! proxy would.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A listener on the host's loopback, as a database or a Docker API would
/// be: each connection is told `NAME\n` and closed. Counts connections.
pub fn service(name: &'static str) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(format!("{name}\n").as_bytes());
        }
    });
    (port, count)
}

/// Where the test upstreams connect a target: `origin.test` is the
/// `origin` listener (a name the proxy resolves, as a real one would),
/// anything else as written.
pub fn dial(host: &str, port: u16, origin: u16) -> io::Result<TcpStream> {
    match host {
        "origin.test" => TcpStream::connect(("127.0.0.1", origin)),
        h => TcpStream::connect((h.trim_start_matches('[').trim_end_matches(']'), port)),
    }
}

pub fn pipe(a: TcpStream, b: TcpStream) {
    let (mut a2, mut b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = io::copy(&mut a2, &mut b2);
        let _ = b2.shutdown(Shutdown::Write);
    });
    let (mut a, mut b) = (a, b);
    let _ = io::copy(&mut b, &mut a);
    let _ = a.shutdown(Shutdown::Write);
}

pub fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// `host:port` (or `[v6]:port`) split.
pub fn host_port(authority: &str, default: u16) -> (String, u16) {
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h.to_string(), p.parse().unwrap()),
        _ => (authority.to_string(), default),
    }
}

/// An HTTP proxy: `CONNECT` tunnels; absolute-form requests answered with
/// what the target said, every one on the connection (keep-alive, even
/// after `Connection: close`, and after a tunnel it could not open).
pub fn http_upstream(origin: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || {
                while let Some(head) = read_head(&mut s) {
                    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                    if head.starts_with("CONNECT ") {
                        let (h, p) = host_port(&target, 443);
                        let Ok(t) = dial(&h, p, origin) else {
                            let failed = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
                            if s.write_all(failed).is_err() {
                                return;
                            }
                            continue;
                        };
                        let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                        return pipe(s, t);
                    }
                    // The body, as its head frames it (this test's two ways).
                    let lower = head.to_ascii_lowercase();
                    if lower.contains("transfer-encoding: chunked") {
                        let mut body = Vec::new();
                        let mut byte = [0u8; 1];
                        while !body.ends_with(b"0\r\n\r\n") {
                            if s.read(&mut byte).unwrap_or(0) == 0 {
                                return;
                            }
                            body.push(byte[0]);
                        }
                    }
                    let rest = target.trim_start_matches("http://");
                    let auth = rest.split('/').next().unwrap_or_default();
                    let (h, p) = host_port(auth, 80);
                    let mut said = Vec::new();
                    if let Ok(mut t) = dial(&h, p, origin) {
                        let _ = t.read_to_end(&mut said);
                    }
                    let answer =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", said.len());
                    if s.write_all(answer.as_bytes()).is_err() || s.write_all(&said).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A SOCKS5 proxy without authentication: CONNECT tunnels. After a
/// tunnel it could not open it takes a new greeting on the connection.
pub fn socks_upstream(origin: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            std::thread::spawn(move || loop {
                let mut greeting = [0u8; 2];
                if s.read_exact(&mut greeting).is_err() {
                    return; // sandspawn's start-up check, or the end
                }
                let mut methods = vec![0u8; usize::from(greeting[1])];
                s.read_exact(&mut methods).unwrap();
                s.write_all(&[5, 0]).unwrap();
                let mut req = [0u8; 4];
                s.read_exact(&mut req).unwrap();
                let host = match req[3] {
                    1 => {
                        let mut a = [0u8; 4];
                        s.read_exact(&mut a).unwrap();
                        std::net::Ipv4Addr::from(a).to_string()
                    }
                    4 => {
                        let mut a = [0u8; 16];
                        s.read_exact(&mut a).unwrap();
                        std::net::Ipv6Addr::from(a).to_string()
                    }
                    _ => {
                        let mut n = [0u8; 1];
                        s.read_exact(&mut n).unwrap();
                        let mut name = vec![0u8; usize::from(n[0])];
                        s.read_exact(&mut name).unwrap();
                        String::from_utf8(name).unwrap()
                    }
                };
                let mut p = [0u8; 2];
                s.read_exact(&mut p).unwrap();
                let Ok(t) = dial(&host, u16::from_be_bytes(p), origin) else {
                    if s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).is_err() {
                        return;
                    }
                    continue;
                };
                s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).unwrap();
                return pipe(s, t);
            });
        }
    });
    port
}
