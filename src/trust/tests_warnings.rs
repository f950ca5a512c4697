//! Warnings that say what an input is, or what it will not do: a
//! descriptor that is no file, `--no-system-roots` with nothing to trust,
//! and certificates that cannot vouch for a server.

use super::tests::{var, Fx};
use super::*;
use std::os::fd::AsRawFd;

/// `SSL_CERT_FILE=/dev/stdin` on a pipe: `/proc/self/fd/0` links to
/// `pipe:[INODE]`, which is not a path; say what it is.
#[test]
fn a_pipe_or_socket_descriptor_is_named_not_called_a_dangling_link() {
    let fx = Fx::new();
    let (pipe, _writer) = std::io::pipe().unwrap();
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = |raw: i32| PathBuf::from(format!("/proc/self/fd/{raw}"));
    let (pipe_path, socket_path) = (fd(pipe.as_raw_fd()), fd(socket.as_raw_fd()));
    let out = prepare(&fx.req(vec![
        var("SSL_CERT_FILE", &pipe_path, Expect::File),
        var("CURL_CA_BUNDLE", &socket_path, Expect::File),
    ]))
    .unwrap();
    assert_eq!(
        out.warnings,
        [
            format!(
                "SSL_CERT_FILE: {} is a pipe, not a file; ignored",
                pipe_path.display()
            ),
            format!(
                "CURL_CA_BUNDLE: {} is a socket, not a file; ignored",
                socket_path.display()
            ),
        ]
    );
}

const NO_ROOTS: &str = "--no-system-roots (merge_system_roots = false): no CA input to trust \
                        beside the system roots, so no bundle; the child's programs use their \
                        own default stores";

/// Without the system roots and without an extra CA there is nothing to
/// bundle: the trust variables stay unset and every program falls back to
/// its own store, which is the opposite of what the flag suggests. Say so.
#[test]
fn no_system_roots_with_nothing_else_to_trust_is_a_warning() {
    let fx = Fx::new();
    let mut req = fx.req(vec![]);
    req.merge_system_roots = false;
    let out = prepare(&req).unwrap();
    assert_eq!(
        (out.bundle, out.warnings),
        (None, vec![NO_ROOTS.to_owned()])
    );

    // The inputs hold only system roots: still nothing of the user's.
    let system = fx.tmp.path().join("root/etc/ssl/certs/ca-certificates.crt");
    req.inputs = vec![var("SSL_CERT_FILE", &system, Expect::File)];
    let out = prepare(&req).unwrap();
    assert_eq!(
        (out.bundle, out.warnings),
        (None, vec![NO_ROOTS.to_owned()])
    );

    // An extra CA: bundled alone, no warning.
    let (extra, _) = super::tests::ca("proxy ca");
    req.inputs = vec![var(
        "SSL_CERT_FILE",
        &fx.write("p.pem", extra.pem()),
        Expect::File,
    )];
    let out = prepare(&req).unwrap();
    assert!(out.bundle.is_some());
    assert_eq!(out.warnings, Vec::<String>::new());
}
