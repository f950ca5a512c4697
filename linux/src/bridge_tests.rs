use super::*;

#[test]
fn unreachable_upstream_is_one_line_naming_the_origin() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = check_upstream(&ProxyBridge {
        host: "127.0.0.1".into(),
        port,
        inside_port: 3128,
        origin: "HTTPS_PROXY".into(),
        display: format!("http://127.0.0.1:{port}"),
        authorization: None,
        socks_login: None,
        socks: false,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("from HTTPS_PROXY"), "{e}");
    assert!(e.contains("not reachable"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn the_listener_crosses_over_and_connections_reach_the_taker() {
    let dir = std::env::temp_dir().join(format!("sandspawn-handover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let bridge = UnixListener::bind(&path).unwrap();
    // Junk first (no descriptor, then a non-listening one): ignored.
    let mut junk = UnixStream::connect(&path).unwrap();
    junk.write_all(b"x").unwrap();
    drop(junk);
    let not_listening = UnixStream::connect(&path).unwrap();
    sys::send_fd(not_listening.as_fd(), not_listening.as_fd()).unwrap();
    let inside = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = inside.local_addr().unwrap();
    let giver = {
        let path = path.clone();
        std::thread::spawn(move || hand_over(&inside, &path))
    };
    let taken = take_listener(&bridge).unwrap();
    giver.join().unwrap().unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = taken.accept().unwrap();
    c.write_all(b"hi").unwrap();
    let mut got = [0u8; 2];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
    drop(not_listening);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_socks_login_names_the_variable_and_hides_the_password() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        // Accept method 2, refuse the login (status 1).
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(&[5, 2]).unwrap();
        let _ = s.read(&mut buf).unwrap();
        s.write_all(&[1, 1]).unwrap();
    });
    let e = check_upstream(&ProxyBridge {
        host: "127.0.0.1".into(),
        port,
        inside_port: 3128,
        origin: "ALL_PROXY".into(),
        display: format!("socks5h://***@127.0.0.1:{port}"),
        authorization: None,
        socks_login: Some(SocksLogin {
            username: "alice".into(),
            password: "hunter2".into(),
        }),
        socks: false,
    })
    .unwrap_err()
    .to_string();
    t.join().unwrap();
    assert!(e.contains("(from ALL_PROXY)"), "{e}");
    assert!(e.contains("refused the username/password"), "{e}");
    assert!(!e.contains("hunter2") && !e.contains('\n'), "{e}");
}

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);
static TARGET: Mutex<Option<SocketAddr>> = Mutex::new(None);

fn counting_resolver(_host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    Ok(TARGET.lock().unwrap().iter().copied().collect())
}

#[test]
fn the_upstream_is_looked_up_once_and_again_after_a_failed_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    *TARGET.lock().unwrap() = Some(listener.local_addr().unwrap());
    let addresses = Addresses::new(counting_resolver);
    for _ in 0..3 {
        addresses.connect("proxy.corp", 3128).unwrap();
    }
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
    // The proxy goes away: the failed connect forgets the addresses, and
    // the next one looks the name up again.
    drop(listener);
    assert!(addresses.connect("proxy.corp", 3128).is_err());
    let moved = TcpListener::bind("127.0.0.1:0").unwrap();
    *TARGET.lock().unwrap() = Some(moved.local_addr().unwrap());
    addresses.connect("proxy.corp", 3128).unwrap();
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 2);
}
