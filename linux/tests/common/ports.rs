//! Loopback ports for tests that need connects to be refused. A port
//! picked free and then released (a dropped listener) can be bound by a
//! concurrent test or process before the test connects: its listener then
//! answers instead. These ports stay held, by a socket that is bound but
//! never listens, for as long as the test keeps the returned value.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

/// A held loopback port nothing listens on.
pub struct DeadPort {
    _held: Socket,
    pub port: u16,
}

fn bound(port: u16, share: bool) -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
    // SO_REUSEPORT only between this module's own two sockets of a port;
    // nobody else's bind (SO_REUSEADDR or not) may share it.
    s.set_reuse_port(share).expect("SO_REUSEPORT");
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .expect("bind on 127.0.0.1");
    s
}

fn port_of(s: &Socket) -> u16 {
    s.local_addr()
        .expect("local address")
        .as_socket()
        .expect("an IP address")
        .port()
}

/// A port whose connects are refused while the value lives.
pub fn dead_port() -> DeadPort {
    let held = bound(0, false);
    DeadPort {
        port: port_of(&held),
        _held: held,
    }
}

/// A listener, and its port held: once the listener is dropped, connects
/// to the port are refused (not answered by whoever bound it next).
pub fn listener_then_dead() -> (TcpListener, DeadPort) {
    let held = bound(0, true);
    let port = port_of(&held);
    let listener = bound(port, true);
    listener.listen(128).expect("listen");
    (listener.into(), DeadPort { _held: held, port })
}
