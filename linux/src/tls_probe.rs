//! `explain --verify --probe URL`: one TLS handshake from inside the
//! sandbox, made the way the command's own clients would make it: through
//! the proxy its environment names (HTTP CONNECT or SOCKS5, `NO_PROXY`
//! honoured), trusting exactly the bundle its `SSL_CERT_FILE` names. The
//! report line says who issued the certificate that came back, so "not
//! trusted" names the CA to add, and "trusted" shows whether the connection
//! was intercepted.
//!
//! Every step is bounded in time: the connect, the proxy's answer, the
//! handshake. Nothing is sent after the handshake.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
};

use crate::front_parse::Host;
use crate::proxy_url::{self, ProxyScheme, ProxyUrl, ProxyUrlError};
use crate::verify::Outcome;

/// Each connect attempt, and each step's whole exchange (the proxy's
/// answer, the handshake), however slowly the bytes trickle in.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A proxy's answer to CONNECT larger than this is not an answer.
const MAX_HEAD: usize = 16 * 1024;

/// Where the probe goes: an `https://` URL's host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (443 unless the URL names one).
    pub port: u16,
}

/// `https://host[:port][/…]`; anything else is refused with the reason.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let rest = url
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
        .ok_or_else(|| format!("`{url}` is not an https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!("`{url}`: credentials in the URL are not probed"));
    }
    let (host, port) =
        proxy_url::split_host_port(authority).map_err(|problem| format!("`{url}`: {problem}"))?;
    Ok(Target {
        host,
        port: port.unwrap_or(443),
    })
}

/// How the child's clients would reach the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to the target (no proxy variable, or `NO_PROXY` matched).
    Direct,
    /// Through the proxy that the variable `from` names.
    Proxy {
        /// The variable.
        from: String,
        /// The proxy.
        url: ProxyUrl,
    },
}

/// The proxy variables an https client reads, in the order curl does:
/// lower case first.
const PROXY_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];

fn lookup<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    env.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_os_str())
}

/// The route for `target` given the child's environment.
pub fn route(target: &Target, env: &[(OsString, OsString)]) -> Result<Route, String> {
    let bypass = ["no_proxy", "NO_PROXY"]
        .iter()
        .find_map(|n| lookup(env, n))
        .is_some_and(|list| no_proxy_matches(&list.to_string_lossy(), target));
    if bypass {
        return Ok(Route::Direct);
    }
    let Some((from, value)) = PROXY_VARS
        .iter()
        .find_map(|n| lookup(env, n).map(|v| (*n, v)))
    else {
        return Ok(Route::Direct);
    };
    let text = value
        .to_str()
        .ok_or_else(|| format!("{from} is not UTF-8"))?
        .trim();
    let url = proxy_url::parse(text).map_err(|e| match e {
        ProxyUrlError::Malformed(problem) => format!("{from} is not a proxy URL: {problem}"),
        ProxyUrlError::Scheme(s) => {
            format!("{from}: the probe speaks to http:// and socks5(h):// proxies, not {s}://")
        }
    })?;
    Ok(Route::Proxy {
        from: from.to_string(),
        url,
    })
}

/// Whether a `NO_PROXY` list sends `target` direct: `*`, the host itself,
/// or a domain it lies in (`corp.example` and `.corp.example` both match
/// `a.corp.example`); an entry with a port matches that port only.
/// Address ranges (CIDR) are not interpreted: such an entry matches only
/// the same literal.
pub fn no_proxy_matches(list: &str, target: &Target) -> bool {
    let host = target.host.trim_end_matches('.').to_ascii_lowercase();
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, port) = match proxy_url::split_host_port(entry) {
                Ok((name, port)) => (name, port),
                Err(_) => (entry.to_string(), None),
            };
            if port.is_some_and(|p| p != target.port) {
                return false;
            }
            let name = name.trim_start_matches('.').to_ascii_lowercase();
            host == name || host.ends_with(&format!(".{name}"))
        })
}

/// Run the probe and describe what happened in one line.
pub fn probe(url: &str, bundle: &Path, env: &[(OsString, OsString)]) -> Outcome {
    match run(url, bundle, env) {
        Ok(seen) => Outcome { ok: true, seen },
        Err(seen) => Outcome { ok: false, seen },
    }
}

fn run(url: &str, bundle: &Path, env: &[(OsString, OsString)]) -> Result<String, String> {
    let target = parse_target(url)?;
    let route = route(&target, env)?;
    let config = client_config(bundle)?;
    let via = match &route {
        Route::Direct => "direct".to_string(),
        Route::Proxy { from, url } => format!("via {from} {}:{}", url.host, url.port),
    };
    let sock = open(&target, &route).map_err(|e| format!("{via}: {}", errno(&e)))?;
    handshake(sock, &target, config).map(|seen| format!("{seen}, {via}"))
}

/// The roots: every certificate of `bundle`, nothing else.
fn client_config(bundle: &Path) -> Result<(Arc<ClientConfig>, Arc<Recorder>), String> {
    if bundle.as_os_str().is_empty() {
        return Err("the child has no CA bundle variable (SSL_CERT_FILE) to trust".into());
    }
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(bundle)
        .map_err(|e| format!("reading {}: {e}", bundle.display()))?;
    // Up to the first section that does not parse (the bundles sandspawn
    // writes have none); an iterator error is not retried.
    for cert in certs.map_while(Result::ok) {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("no usable CA certificate in {}", bundle.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("the bundle {}: {e}", bundle.display()))?;
    let recorder = Arc::new(Recorder {
        inner,
        presented: Mutex::new(None),
    });
    // The "dangerous" builder only lets the recorder see the chain: every
    // decision is the standard verifier's.
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    Ok((Arc::new(config), recorder))
}

/// The standard verifier, noting the certificate the server presented so
/// the report can name its issuer whatever the verdict.
#[derive(Debug)]
struct Recorder {
    inner: Arc<WebPkiServerVerifier>,
    presented: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut slot) = self.presented.lock() {
            *slot = Some(end_entity.to_vec());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl Recorder {
    /// "issued by CN=…, O=…" for the certificate the server presented.
    fn issuer(&self) -> String {
        let der = self.presented.lock().ok().and_then(|slot| slot.clone());
        match der.as_deref().map(x509_parser::parse_x509_certificate) {
            Some(Ok((_, cert))) => format!("issued by {}", cert.issuer()),
            Some(Err(_)) => "an unparsable certificate".into(),
            None => "no certificate".into(),
        }
    }
}

fn handshake(
    mut sock: TcpStream,
    target: &Target,
    (config, recorder): (Arc<ClientConfig>, Arc<Recorder>),
) -> Result<String, String> {
    let name = ServerName::try_from(target.host.clone())
        .map_err(|_| format!("`{}` is not a valid TLS server name", target.host))?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + STEP_TIMEOUT;
    while conn.is_handshaking() {
        if let Err(e) = bound(&sock, deadline).and_then(|()| conn.complete_io(&mut sock)) {
            let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            return Err(match tls {
                Some(rustls::Error::InvalidCertificate(why)) => {
                    rejected(why, &target.host, &recorder.issuer())
                }
                Some(other) => format!("TLS handshake with {}: {other}", target.host),
                None => format!("TLS handshake with {}: {}", target.host, errno(&e)),
            });
        }
    }
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    Ok(format!(
        "{version} to {}:{}, certificate {} trusted",
        target.host,
        target.port,
        recorder.issuer()
    ))
}

/// The line for a certificate the bundle does not accept, with the next step.
fn rejected(why: &CertificateError, host: &str, issuer: &str) -> String {
    match why {
        CertificateError::UnknownIssuer => format!(
            "not trusted: {host} presented a certificate {issuer}, and no CA in the bundle signed it; \
             if that issuer is your proxy, pass its CA certificate (--ca FILE, or the variable that names it)"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("not valid for {host}: the certificate ({issuer}) names other hosts")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("expired: {host}'s certificate ({issuer})")
        }
        // webpki's own errors arrive wrapped in `Other`, whose Display is
        // the variant's name (webpki is not a dependency of ours to match
        // on). A CA as the server's certificate is the usual dev-server
        // mistake: `openssl req -x509` makes one by default.
        CertificateError::Other(e) if e.to_string() == "CaUsedAsEndEntity" => format!(
            "rejected: {host} presented a CA certificate (basicConstraints cA=true) as its own, \
             {issuer}; clients accept a CA only as the signer of the server's certificate \
             (`openssl req -x509` makes a CA by default): have the server present a certificate \
             that CA signs"
        ),
        CertificateError::Other(e) => format!("rejected: {host}'s certificate ({issuer}): {e}"),
        other => format!("rejected: {host}'s certificate ({issuer}): {other}"),
    }
}

/// A connected socket to the target: direct, or a tunnel through the proxy.
fn open(target: &Target, route: &Route) -> io::Result<TcpStream> {
    let url = match route {
        Route::Direct => return connect(&target.host, target.port),
        Route::Proxy { url, .. } => url,
    };
    let mut sock = connect(&url.host, url.port)?;
    match url.scheme {
        ProxyScheme::Http => http_connect(&mut sock, target, url.authorization.as_deref())?,
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => {
            socks_connect(&mut sock, target, url)?;
        }
    }
    Ok(sock)
}

fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        // Network `none`: the resolver's own socket was refused, and it
        // says only "temporary failure"; say why.
        Err(e) if inet_refused() => {
            return Err(io::Error::new(
                e.kind(),
                format!("resolving {host}: the sandbox refuses inet sockets (network none)"),
            ))
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("resolving {host}: {e}"))),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, STEP_TIMEOUT) {
            Ok(sock) => {
                sock.set_read_timeout(Some(STEP_TIMEOUT))?;
                sock.set_write_timeout(Some(STEP_TIMEOUT))?;
                return Ok(sock);
            }
            Err(e) => {
                last = io::Error::new(e.kind(), format!("connecting to {addr}: {}", errno(&e)))
            }
        }
    }
    Err(last)
}

/// Whether this process may not even create an inet socket.
fn inet_refused() -> bool {
    std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .is_err_and(|e| e.raw_os_error() == Some(libc::EPERM))
}

/// Let the next read or write on `sock` wait only until `deadline`.
fn bound(sock: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    sock.set_read_timeout(Some(left))?;
    sock.set_write_timeout(Some(left))
}

fn authority(target: &Target) -> String {
    if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    }
}

fn http_connect(sock: &mut TcpStream, target: &Target, auth: Option<&str>) -> io::Result<()> {
    let at = authority(target);
    let mut head = format!("CONNECT {at} HTTP/1.1\r\nHost: {at}\r\n");
    if let Some(auth) = auth {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes())?;
    // Byte by byte up to the blank line: what follows is the server's TLS.
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        bound(sock, deadline)?;
        if answer.len() >= MAX_HEAD || sock.read(&mut byte)? == 0 {
            return Err(io::Error::other(
                "the proxy closed the connection before answering CONNECT",
            ));
        }
        answer.push(byte[0]);
    }
    let status = String::from_utf8_lossy(answer.split(|b| *b == b'\r').next().unwrap_or_default())
        .into_owned();
    let code = status.split_whitespace().nth(1);
    if code != Some("200") {
        return Err(io::Error::other(format!(
            "the proxy answered CONNECT {at} with `{status}`"
        )));
    }
    Ok(())
}

/// A tunnel through a SOCKS5 proxy, with the bridge's own client
/// ([`crate::socks_connect`]): `socks5h://` passes the name, `socks5://`
/// resolves it here first (as clients do with that scheme).
fn socks_connect(sock: &mut TcpStream, target: &Target, url: &ProxyUrl) -> io::Result<()> {
    let ip = match (url.scheme, target.host.parse::<IpAddr>()) {
        (_, Ok(ip)) => Some(ip),
        (ProxyScheme::Socks5, Err(_)) => Some(
            (target.host.as_str(), target.port)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::other(format!("{} has no address", target.host)))?
                .ip(),
        ),
        _ => None,
    };
    let host = match ip {
        Some(IpAddr::V4(a)) => Host::V4(a),
        Some(IpAddr::V6(a)) => Host::V6(a),
        None => Host::Name(target.host.clone()),
    };
    let login = url.socks_login.as_ref();
    crate::socks_connect::socks_connect(sock, login, &host, target.port, STEP_TIMEOUT, STEP_TIMEOUT)
        .map_err(|e| {
            let kind = if e.timed_out() {
                io::ErrorKind::TimedOut
            } else {
                io::ErrorKind::Other
            };
            let at = authority(target);
            io::Error::new(kind, format!("the SOCKS5 proxy, asked for {at}: {e}"))
        })
}

/// The report's words for an I/O error: a refused socket says why, a socket
/// timeout (EAGAIN mid-read) reads as the timeout it is, and the rest as
/// every verify line names errnos.
fn errno(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM (the sandbox's network mode refuses it)".into(),
        _ if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            "timed out".into()
        }
        _ => crate::verify::errno(e),
    }
}

#[cfg(test)]
#[path = "tls_probe_tests.rs"]
mod tests;
