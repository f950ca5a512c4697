use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::*;

/// A connected pair on loopback: (what the child holds, what the bridge accepted).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let child = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    child
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (child, accepted)
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn an_http_child_gets_502_with_the_reason_after_its_request_head() {
    let (mut child, accepted) = pair();
    child
        .write_all(b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
        .unwrap();
    refuse(
        accepted,
        Protocol::Http,
        "upstream proxy http://127.0.0.1:9 is not reachable",
    );
    let text = String::from_utf8(read_all(child)).unwrap();
    let body = "sandspawn proxy bridge: upstream proxy http://127.0.0.1:9 is not reachable\n";
    assert_eq!(
        text,
        format!(
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    );
}

#[test]
fn a_socks_child_gets_past_the_greeting_then_general_failure() {
    let (mut child, accepted) = pair();
    // Greeting (no auth offered) and a CONNECT to a domain name, sent
    // at once as eager clients do.
    let mut hello = vec![5, 1, 0, 5, 1, 0, 3, 11];
    hello.extend_from_slice(b"origin.test");
    hello.extend_from_slice(&443u16.to_be_bytes());
    child.write_all(&hello).unwrap();
    refuse(accepted, Protocol::Socks5, "unused for SOCKS");
    let mut want = vec![5, 0];
    want.extend_from_slice(&SOCKS_FAILURE);
    assert_eq!(read_all(child), want);
}

#[test]
fn a_socks_child_offering_only_a_login_hears_no_acceptable_method() {
    let (mut child, accepted) = pair();
    child.write_all(&[5, 1, 2]).unwrap();
    refuse(accepted, Protocol::Socks5, "unused");
    assert_eq!(read_all(child), vec![5, 0xff]);
}

#[test]
fn a_child_that_sends_nothing_is_closed_within_the_read_bound() {
    let (child, accepted) = pair();
    let started = Instant::now();
    refuse(accepted, Protocol::Http, "x");
    assert!(started.elapsed() < READ_WAIT + Duration::from_secs(6));
    // The refusal still went out before the close.
    assert!(String::from_utf8(read_all(child))
        .unwrap()
        .starts_with("HTTP/1.1 502 "));
}

/// A child trickling its head a byte at a time, each well inside the
/// read bound, is still answered within it.
#[test]
fn a_trickling_child_is_answered_within_the_read_bound() {
    let (mut child, accepted) = pair();
    let mut writer = child.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..60 {
            if writer.write_all(b"G").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        refuse(accepted, Protocol::Http, "x");
        let _ = done_tx.send(());
    });
    // The trickle lasts 12 s: the margin is for a loaded machine.
    done.recv_timeout(READ_WAIT + Duration::from_secs(6))
        .expect("the refusal still reads the trickle");
    let mut got = String::new();
    let _ = child.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 502 "), "{got}");
    trickle.join().unwrap();
}

#[test]
fn the_protocol_follows_the_scheme() {
    assert_eq!(Protocol::from_scheme("socks5h"), Protocol::Socks5);
    assert_eq!(Protocol::from_scheme("socks5"), Protocol::Socks5);
    assert_eq!(Protocol::from_scheme("http"), Protocol::Http);
}
