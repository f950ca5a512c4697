//! Proxy URLs as the environment writes them: `[scheme://][user[:password]@]
//! host[:port][/]`. Shared by the plan (which upstream the bridge uses) and
//! the TLS probe inside the sandbox (which proxy the child's own clients
//! would use), so both read a proxy variable the same way.

use crate::spec::SocksLogin;

/// Port of an `http://` proxy whose URL names none: the scheme's 80, which
/// Python (urllib, requests, httpx), Go, Node and npm use for the same
/// variable (curl alone assumes 1080).
pub const HTTP_DEFAULT_PORT: u16 = 80;

/// Port of a SOCKS5 proxy whose URL names none (SOCKS's 1080).
pub const SOCKS_DEFAULT_PORT: u16 = 1080;

/// What a client speaks to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyScheme {
    /// HTTP proxy: CONNECT for https, absolute-form requests for http.
    Http,
    /// SOCKS5, names resolved by the client.
    Socks5,
    /// SOCKS5, names resolved by the proxy.
    Socks5h,
}

/// A parsed proxy URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// Protocol.
    pub scheme: ProxyScheme,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when the URL names none).
    pub port: u16,
    /// Whether the URL names the port.
    pub port_given: bool,
    /// `Proxy-Authorization` value (`Basic …`) from an HTTP URL's credentials.
    pub authorization: Option<String>,
    /// SOCKS5 username/password (RFC 1929) from a SOCKS URL's credentials.
    pub socks_login: Option<SocksLogin>,
}

/// Why a value is not a usable proxy URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyUrlError {
    /// Not a proxy URL at all; says what is wrong.
    Malformed(&'static str),
    /// A well-formed scheme that is not http, socks5 or socks5h (as written).
    Scheme(String),
}

/// Parse `text` (already trimmed, not empty): scheme `http` (the default),
/// `socks5` or `socks5h`; credentials %-decoded.
pub fn parse(text: &str) -> Result<ProxyUrl, ProxyUrlError> {
    use ProxyUrlError::Malformed;
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), text),
    };
    let scheme = match scheme.as_str() {
        "http" => ProxyScheme::Http,
        "socks5" => ProxyScheme::Socks5,
        "socks5h" => ProxyScheme::Socks5h,
        _ if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
            return Err(Malformed("malformed scheme"))
        }
        _ => return Err(ProxyUrlError::Scheme(scheme)),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, authority) = match authority.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, authority),
    };
    let (authorization, socks_login) = match (userinfo, scheme) {
        (None, _) => (None, None),
        (Some(u), ProxyScheme::Http) => (Some(basic_authorization(u).map_err(Malformed)?), None),
        (Some(u), ProxyScheme::Socks5 | ProxyScheme::Socks5h) => {
            (None, Some(socks_login(u).map_err(Malformed)?))
        }
    };
    let (host, port) = split_host_port(authority).map_err(Malformed)?;
    let default = match scheme {
        ProxyScheme::Http => HTTP_DEFAULT_PORT,
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => SOCKS_DEFAULT_PORT,
    };
    Ok(ProxyUrl {
        scheme,
        host,
        port: port.unwrap_or(default),
        port_given: port.is_some(),
        authorization,
        socks_login,
    })
}

/// SOCKS5 username/password from a URL's percent-encoded userinfo: the
/// user name 1 to 255 bytes, the password up to 255 (RFC 1929 carries each
/// length in one byte).
fn socks_login(userinfo: &str) -> Result<SocksLogin, &'static str> {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (username, password) = (percent_decode(user)?, percent_decode(password)?);
    if username.is_empty() {
        return Err("SOCKS5 credentials without a user name");
    }
    if username.len() > 255 || password.len() > 255 {
        return Err("SOCKS5 user name or password longer than 255 bytes");
    }
    Ok(SocksLogin { username, password })
}

/// `Basic base64(user:password)` from a URL's percent-encoded userinfo.
fn basic_authorization(userinfo: &str) -> Result<String, &'static str> {
    use base64::Engine;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decoded = format!("{}:{}", percent_decode(user)?, percent_decode(password)?);
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(decoded)
    ))
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or("bad %-escape in credentials")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad %-escape in credentials")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape in credentials")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials are not UTF-8")
}

/// `host[:port]` or `[v6][:port]`: the host (without brackets) and the port
/// if one is written.
pub fn split_host_port(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed `[`")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("bad IPv6 address");
        }
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or("junk after `]`")?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host");
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err("bad character in host");
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("bad port"),
            Ok(n) => Some(n),
        },
    };
    Ok((host.to_string(), port))
}
