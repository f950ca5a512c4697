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
