//! The upstream of the request-head tests (tests/net_redteam_*.rs): a
//! proxy that wants credentials would echo a head back into the sandbox
//! (a `TRACE`, a `400` quoting the line it could not parse); this one
//! echoes every head, so a test sees what reached the upstream.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// An upstream that answers the start-up `CONNECT` probe `200` and every
/// later request with its own head as the body (`message/http`). Each
/// head it receives is sent on the channel.
pub fn echoing_upstream() -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(s.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let answer = if head.starts_with(b"CONNECT ") {
                b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec()
            } else {
                let mut a = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                )
                .into_bytes();
                a.extend_from_slice(&head);
                a
            };
            let _ = s.write_all(&answer);
        }
    });
    (port, rx)
}
