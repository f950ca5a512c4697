use super::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn parent() -> libc::pid_t {
    std::os::unix::process::parent_id() as libc::pid_t
}

/// A bridge socket in a fresh directory, and a connection to it whose
/// accepted end is returned beside the client end.
fn pair(name: &str) -> (PathBuf, UnixListener, UnixStream, UnixStream) {
    let dir = std::env::temp_dir().join(format!("sandspawn-gate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let bridge = UnixListener::bind(&path).unwrap();
    let client = UnixStream::connect(&path).unwrap();
    let (server, _) = bridge.accept().unwrap();
    (dir, bridge, client, server)
}

#[test]
fn the_parent_chain_leads_to_an_ancestor_and_not_to_a_sibling() {
    let me = std::process::id() as libc::pid_t;
    assert!(descends_from(me, parent()).unwrap());
    assert!(descends_from(me, 1).unwrap() || parent() == 1);
    // Not its own ancestor, and a child of ours is not one either.
    assert!(!descends_from(me, me).unwrap());
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let kid = child.id() as libc::pid_t;
    assert!(descends_from(kid, me).unwrap());
    assert!(!descends_from(me, kid).unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
    // Gone: cannot be checked, an error (refused by the gate).
    assert_eq!(
        descends_from(kid, me).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn a_peer_outside_the_sandbox_is_refused_before_anything_is_read() {
    let (dir, _bridge, _client, server) = pair("outsider");
    let me = std::process::id() as libc::pid_t;
    // "The sandbox" is a child of ours: we are not below it.
    let mut child = Command::new("sleep")
        .arg("30")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let gate = Gate {
        sandbox: child.id() as libc::pid_t,
        host: Some(u64::MAX),
    };
    let refusal = gate.peer(server.as_fd()).err().unwrap();
    assert_eq!(refusal, Refusal::Outsider(me));
    assert_eq!(
        refusal.to_string(),
        format!("network proxy: refused a listener handed over by pid {me}: not a process of this sandbox")
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_listener_in_the_bridges_own_network_namespace_is_refused() {
    let (dir, bridge, _client, server) = pair("hostns");
    let me = std::process::id() as libc::pid_t;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // With the cookie where the kernel has it, and by /proc/self/net.
    for gate in [
        Gate::new(parent(), bridge.as_fd()),
        Gate {
            sandbox: parent(),
            host: None,
        },
    ] {
        let peer = gate.peer(server.as_fd()).unwrap();
        assert_eq!(
            gate.listener(&peer, listener.as_fd()),
            Err(Refusal::HostNetns(me))
        );
    }
    // IPv6 too, where this host has it (listed in tcp6).
    if let Ok(l6) = TcpListener::bind("[::1]:0") {
        let gate = Gate {
            sandbox: parent(),
            host: None,
        };
        let peer = gate.peer(server.as_fd()).unwrap();
        assert_eq!(
            gate.listener(&peer, l6.as_fd()),
            Err(Refusal::HostNetns(me))
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_hand_over_fails_the_helper_at_once_with_one_line() {
    let (dir, bridge, _client, _server) = pair("helper");
    let path = dir.join("s.sock");
    let inside = TcpListener::bind("127.0.0.1:0").unwrap();
    let started = std::time::Instant::now();
    let giver = std::thread::spawn(move || crate::bridge::hand_over(&inside, &path));
    // The real gate: this process's listener is in the host's namespace.
    let gate = Gate::new(parent(), bridge.as_fd());
    let (conn, _) = bridge.accept().unwrap();
    let refusal = admit(&conn, &gate).err().unwrap();
    assert_eq!(
        refusal,
        Refusal::HostNetns(std::process::id() as libc::pid_t)
    );
    drop(conn);
    let e = giver.join().unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        "the host bridge refused the listener (see its reason above)"
    );
    assert!(started.elapsed() < HANDOVER_TIMEOUT / 2);
    let _ = std::fs::remove_dir_all(&dir);
}
