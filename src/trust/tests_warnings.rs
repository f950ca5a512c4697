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

/// A certificate named `cn`, self-signed; `ca` decides basicConstraints,
/// `expired` dates it 2020-01-01 to 2025-01-01.
fn cert(cn: &str, ca: rcgen::IsCa, expired: bool) -> rcgen::Certificate {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = ca;
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2025, 1, 1);
    }
    params.self_signed(&key).unwrap()
}

fn ca_flag() -> rcgen::IsCa {
    rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained)
}

/// A trust input that cannot vouch for a server is kept (the user chose
/// it) but named: a leaf where the proxy's CA was meant, or an expired CA.
#[test]
fn certificates_that_cannot_vouch_are_kept_with_one_warning_per_input() {
    let fx = Fx::new();
    let leaf = fx.write(
        "leaf.pem",
        cert("proxy.local", rcgen::IsCa::ExplicitNoCa, false).pem(),
    );
    let bare = fx.write("bare.pem", cert("bare", rcgen::IsCa::NoCa, false).pem());
    let old = fx.write("old.pem", cert("old ca", ca_flag(), true).pem());
    let two = fx.write(
        "two.pem",
        format!(
            "{}{}{}",
            cert("good ca", ca_flag(), false).pem(),
            cert("leaf one", rcgen::IsCa::NoCa, false).pem(),
            cert("leaf two", rcgen::IsCa::NoCa, true).pem()
        ),
    );
    let good = fx.write("good.pem", cert("proxy ca", ca_flag(), false).pem());
    let out = prepare(&fx.req(vec![
        var("SSL_CERT_FILE", &leaf, Expect::File),
        var("NODE_EXTRA_CA_CERTS", &bare, Expect::File),
        var("REQUESTS_CA_BUNDLE", &old, Expect::File),
        TrustInput {
            origin: Origin::PolicyCa,
            path: two.clone(),
            expect: Expect::File,
        },
        var("CURL_CA_BUNDLE", &good, Expect::File),
    ]))
    .unwrap();
    let d = |p: &Path| p.display().to_string();
    assert_eq!(
        out.warnings,
        [
            format!(
                "SSL_CERT_FILE: {}: certificate 'CN=proxy.local' is not a CA (basicConstraints \
                 cA=false): it cannot sign the proxy's certificates; point the variable at the \
                 proxy's CA",
                d(&leaf)
            ),
            format!(
                "NODE_EXTRA_CA_CERTS: {}: certificate 'CN=bare' is not a CA (no basicConstraints): \
                 it cannot sign the proxy's certificates; point the variable at the proxy's CA",
                d(&bare)
            ),
            format!(
                "REQUESTS_CA_BUNDLE: {}: certificate 'CN=old ca' expired on 2025-01-01: clients \
                 reject the certificates it signs; point the variable at the proxy's current CA",
                d(&old)
            ),
            format!(
                "--ca / policy `ca`: {}: certificate 'CN=leaf one' is not a CA (no \
                 basicConstraints): it cannot sign the proxy's certificates; pass the proxy's CA \
                 instead (and 1 more certificate in it that cannot vouch for a server)",
                d(&two)
            ),
        ]
    );
    // Kept: the user's choice, every one of them in the bundles.
    assert_eq!(
        out.inputs
            .iter()
            .map(|i| i.certificates)
            .collect::<Vec<_>>(),
        [1, 1, 1, 3, 1]
    );
    assert!(out.inputs.iter().all(|i| i.skipped.is_none()));
}

/// The system store's certificates are the distro's business: an expired
/// root there (distros ship some) is never warned about, also when a
/// variable names the store.
#[test]
fn the_system_stores_certificates_are_not_judged() {
    let fx = Fx::new();
    let store = fx.tmp.path().join("root/etc/ssl/certs/ca-certificates.crt");
    let expired_root = cert("expired root", ca_flag(), true).pem();
    std::fs::write(&store, expired_root).unwrap();
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &store, Expect::File)])).unwrap();
    assert_eq!(out.warnings, Vec::<String>::new());
    assert!(out.bundle.is_some());
}

/// Debian's /etc/ssl/certs holds ssl-cert's snakeoil certificate (a leaf,
/// in no bundle) beside the store: SSL_CERT_DIR naming that directory is
/// the system's, not judged either.
#[test]
fn the_system_stores_directory_is_not_judged() {
    let fx = Fx::new();
    let dir = fx.tmp.path().join("root/etc/ssl/certs");
    std::fs::write(
        dir.join("ssl-cert-snakeoil.pem"),
        cert("localhost", rcgen::IsCa::NoCa, false).pem(),
    )
    .unwrap();
    let out = prepare(&fx.req(vec![var("SSL_CERT_DIR", &dir, Expect::Dir)])).unwrap();
    assert_eq!(out.warnings, Vec::<String>::new());
}

/// A subject with control characters (a crafted certificate) cannot write
/// lines or terminal sequences into sandspawn's stderr.
#[test]
fn a_subject_with_control_characters_is_printed_escaped() {
    let fx = Fx::new();
    let forged = "x\nsandspawn: all sandbox checks passed\u{1b}[2K";
    let p = fx.write("forged.pem", cert(forged, rcgen::IsCa::NoCa, false).pem());
    let out = prepare(&fx.req(vec![var("SSL_CERT_FILE", &p, Expect::File)])).unwrap();
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    let w = &out.warnings[0];
    assert!(!w.contains('\n') && !w.contains('\u{1b}'), "{w:?}");
    assert!(
        w.contains(r"CN=x\nsandspawn: all sandbox checks passed\u{1b}[2K"),
        "{w:?}"
    );
}
