//! Network `proxy`: which upstream proxy, parsed, and the address the
//! child uses instead. Pure: the parent's variables arrive as data.

use std::ffi::{OsStr, OsString};

use sandspawn_linux::SocksLogin;

use super::assemble::lookup;
use crate::env::mask_proxy_url;

/// The port the bridge listens on at 127.0.0.1 inside the sandbox. The
/// sandbox has its own network namespace, so any port is free there.
pub const INSIDE_PORT: u16 = 3128;

/// Port of an `http://` upstream whose URL names none: the scheme's 80,
/// which Python (urllib, requests, httpx), Go, Node and npm use for the
/// same variable, so `--net proxy` reaches the proxy the child's own
/// clients would reach under `--net full` (curl alone assumes 1080).
pub const HTTP_DEFAULT_PORT: u16 = 80;

/// Port of a SOCKS5 upstream whose URL names none (SOCKS's 1080).
pub const SOCKS_DEFAULT_PORT: u16 = 1080;

/// The parent's variables consulted for the upstream, in order, when
/// neither `--proxy` nor the policy's `proxy` names one.
pub const UPSTREAM_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What the child speaks to the upstream (the bridge passes bytes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// HTTP proxy: CONNECT for https, absolute-form requests for http.
    Http,
    /// SOCKS5, names resolved by the client.
    Socks5,
    /// SOCKS5, names resolved by the proxy.
    Socks5h,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Socks5 => "socks5",
            Scheme::Socks5h => "socks5h",
        }
    }
}

/// The upstream proxy, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Protocol the child speaks.
    pub scheme: Scheme,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Where it came from: `--proxy` or the variable's name.
    pub origin: String,
    /// The URL as given, credentials masked.
    pub display: String,
    /// `Proxy-Authorization` value (`Basic …`) from the URL's credentials.
    /// It stays on the host side: the host bridge adds it to the child's
    /// proxy requests; the child never sees it.
    pub authorization: Option<String>,
    /// SOCKS5 username/password (RFC 1929) from the URL's credentials; the
    /// host bridge logs in with them, the child never sees them.
    pub socks_login: Option<SocksLogin>,
}

impl Upstream {
    /// The URL every proxy variable of the child gets: the inside
    /// listener, no credentials, the upstream's protocol. SOCKS5 is always
    /// `socks5h` inside: the sandbox has no DNS, so a client that resolved
    /// names itself (`socks5://`) could reach only IP literals; the bridge
    /// passes the request through and the upstream resolves the name.
    pub fn inside_url(&self, port: u16) -> OsString {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Socks5 | Scheme::Socks5h => Scheme::Socks5h.as_str(),
        };
        format!("{scheme}://127.0.0.1:{port}").into()
    }
}

/// Why no usable upstream was found. One line each, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// `proxy` mode but nothing names an upstream.
    #[error("network `proxy` needs an upstream proxy: pass `--proxy URL`, set `proxy` in the policy, or set HTTPS_PROXY (or HTTP_PROXY, ALL_PROXY) in the environment")]
    NoUpstream,
    /// The value is not a proxy URL.
    #[error("{origin}: `{display}` is not a proxy URL: {problem}")]
    Parse {
        /// The variable or flag.
        origin: String,
        /// The value, credentials masked.
        display: String,
        /// What is wrong.
        problem: String,
    },
    /// A scheme the bridge cannot serve.
    #[error("{origin}: proxy scheme `{scheme}://` is not supported by network `proxy` (use http://, socks5:// or socks5h://)")]
    Scheme {
        /// The variable or flag.
        origin: String,
        /// The scheme as written.
        scheme: String,
    },
}

/// The upstream for `proxy` mode: `configured` (`--proxy` / policy) first,
/// then the first non-empty [`UPSTREAM_VARS`] the user set (`--set`, the
/// policy's `[set]`, an MCP config's `env`; the last `set` of a name
/// wins), else the parent's. A set value is the user's choice for this
/// command, so it beats what was inherited; its origin reads
/// `HTTPS_PROXY (set)`.
pub fn choose(
    configured: Option<&OsStr>,
    set: &[(OsString, OsString)],
    parent_env: &[(OsString, OsString)],
) -> Result<Upstream, ProxyError> {
    if let Some(value) = configured {
        return parse(value, "--proxy");
    }
    for name in UPSTREAM_VARS {
        let value = set.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v);
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            return parse(value, &format!("{name} (set)"));
        }
    }
    for name in UPSTREAM_VARS {
        if let Some(value) = lookup(parent_env, name).filter(|v| !v.is_empty()) {
            return parse(value, name);
        }
    }
    Err(ProxyError::NoUpstream)
}

/// Parse a proxy URL: `[scheme://]host[:port][/]`; scheme `http` (the
/// default), `socks5` or `socks5h`; port default [`HTTP_DEFAULT_PORT`] or
/// [`SOCKS_DEFAULT_PORT`], said in the display (`http://proxy (port 80)`)
/// so that a message about the upstream names the port it tried.
pub fn parse(value: &OsStr, origin: &str) -> Result<Upstream, ProxyError> {
    let display = match mask_proxy_url(value.as_encoded_bytes()) {
        Some(masked) => String::from_utf8_lossy(&masked).into_owned(),
        None => value.to_string_lossy().into_owned(),
    };
    let bad = |problem: &str| ProxyError::Parse {
        origin: origin.to_string(),
        display: display.clone(),
        problem: problem.to_string(),
    };
    let text = value.to_str().ok_or_else(|| bad("not UTF-8"))?.trim();
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), text),
    };
    let scheme = match scheme.as_str() {
        "http" => Scheme::Http,
        "socks5" => Scheme::Socks5,
        "socks5h" => Scheme::Socks5h,
        _ if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric()) => {
            return Err(bad("malformed scheme"))
        }
        _ => {
            return Err(ProxyError::Scheme {
                origin: origin.to_string(),
                scheme,
            })
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, authority) = match authority.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, authority),
    };
    let (authorization, socks_login) = match (userinfo, scheme) {
        (None, _) => (None, None),
        (Some(u), Scheme::Http) => (Some(basic_authorization(u).map_err(bad)?), None),
        (Some(u), Scheme::Socks5 | Scheme::Socks5h) => (None, Some(socks_login(u).map_err(bad)?)),
    };
    let (host, port) = split_host_port(authority).map_err(bad)?;
    let (port, display) = match port {
        Some(port) => (port, display),
        None => {
            let port = match scheme {
                Scheme::Http => HTTP_DEFAULT_PORT,
                Scheme::Socks5 | Scheme::Socks5h => SOCKS_DEFAULT_PORT,
            };
            (port, format!("{display} (port {port})"))
        }
    };
    Ok(Upstream {
        scheme,
        host,
        port,
        origin: origin.to_string(),
        display,
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

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), &'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Upstream, ProxyError> {
        parse(OsStr::new(s), "HTTPS_PROXY")
    }

    #[test]
    fn parses_the_usual_shapes() {
        let u = p("http://proxy.corp:3128").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Http, "proxy.corp", 3128)
        );
        let u = p("127.0.0.1:8080/").unwrap();
        assert_eq!((u.scheme, u.port), (Scheme::Http, 8080));
        let u = p("SOCKS5H://[::1]:1081").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Socks5h, "::1", 1081)
        );
        // No port: the scheme's, as the child's clients would use it, and
        // said where the upstream is named.
        let u = p("http://proxy/").unwrap();
        assert_eq!(
            (u.port, u.display.as_str()),
            (80, "http://proxy/ (port 80)")
        );
        let u = p("proxy.corp").unwrap();
        assert_eq!((u.port, u.display.as_str()), (80, "proxy.corp (port 80)"));
        let u = p("socks5h://u:pw@proxy").unwrap();
        assert_eq!(
            (u.port, u.display.as_str()),
            (1080, "socks5h://***@proxy (port 1080)")
        );
        assert_eq!(
            p("socks5://h:1").unwrap().inside_url(INSIDE_PORT),
            OsString::from("socks5h://127.0.0.1:3128")
        );
    }

    #[test]
    fn http_credentials_become_a_host_side_authorization() {
        let u = p("http://alice:s%40cret@proxy.corp:3128").unwrap();
        // base64("alice:s@cret")
        assert_eq!(u.authorization.as_deref(), Some("Basic YWxpY2U6c0BjcmV0"));
        assert_eq!(u.display, "http://***@proxy.corp:3128");
        assert_eq!((u.host.as_str(), u.port), ("proxy.corp", 3128));
        assert!(!u.inside_url(3128).to_string_lossy().contains("alice"));
        assert!(p("http://a:%zz@h:1").is_err());
    }

    #[test]
    fn socks_credentials_become_a_host_side_login() {
        let u = p("socks5h://alice:s%40cret@proxy.corp:1080").unwrap();
        let login = u.socks_login.as_ref().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("alice", "s@cret")
        );
        assert_eq!(u.authorization, None);
        assert_eq!(u.display, "socks5h://***@proxy.corp:1080");
        assert!(!format!("{u:?}").contains("s@cret"));
        assert_eq!(
            u.inside_url(3128),
            OsString::from("socks5h://127.0.0.1:3128")
        );
        let long = format!("socks5://a:{}@h:1", "x".repeat(256));
        assert!(p(&long)
            .unwrap_err()
            .to_string()
            .contains("longer than 255"));
        assert_eq!(p("socks5://h:1").unwrap().socks_login, None);
    }

    #[test]
    fn bad_input_is_one_line_naming_the_variable() {
        for (input, want) in [
            ("ftp://proxy:21", "proxy scheme `ftp://` is not supported"),
            (
                "https://proxy:443",
                "proxy scheme `https://` is not supported",
            ),
            ("http://", "no host"),
            ("http://proxy:99999", "bad port"),
            ("http://pro xy:1", "bad character"),
            ("http://[::1:3128", "unclosed"),
            ("", "empty"),
            ("socks5h://:secret@proxy:1080", "without a user name"),
        ] {
            let e = p(input).unwrap_err().to_string();
            assert!(e.starts_with("HTTPS_PROXY: "), "{input}: {e}");
            assert!(e.contains(want), "{input}: {e}");
            assert!(!e.contains("secret"), "{e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn choice_order_flag_then_https_then_http_then_all() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs.iter().map(|(a, b)| (a.into(), b.into())).collect()
        };
        let e = env(&[("ALL_PROXY", "socks5h://a:1"), ("HTTP_PROXY", "http://b:2")]);
        assert_eq!(choose(None, &[], &e).unwrap().origin, "HTTP_PROXY");
        let e = env(&[("https_proxy", "http://c:3"), ("HTTP_PROXY", "http://b:2")]);
        assert_eq!(choose(None, &[], &e).unwrap().host, "c");
        let flag = choose(Some(OsStr::new("http://f:4")), &[], &e).unwrap();
        assert_eq!((flag.origin.as_str(), flag.port), ("--proxy", 4));
        assert_eq!(choose(None, &[], &[]), Err(ProxyError::NoUpstream));
        let empty = env(&[("HTTPS_PROXY", ""), ("ALL_PROXY", "http://z:9")]);
        assert_eq!(choose(None, &[], &empty).unwrap().origin, "ALL_PROXY");
    }

    #[test]
    fn a_set_proxy_variable_is_the_upstream_before_the_parents() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs.iter().map(|(a, b)| (a.into(), b.into())).collect()
        };
        // Nothing inherited: the set value is an upstream, not "no upstream".
        let set = env(&[
            ("https_proxy", "http://u:pw@s:1"),
            ("https_proxy", "http://t:2"),
        ]);
        let got = choose(None, &set, &[]).unwrap();
        assert_eq!(
            (got.origin.as_str(), got.host.as_str()),
            ("https_proxy (set)", "t")
        );
        // A set value beats every inherited one; --proxy beats both.
        let parent = env(&[("HTTPS_PROXY", "http://p:3")]);
        let set = env(&[("ALL_PROXY", "socks5h://u:pw@s:1080")]);
        let got = choose(None, &set, &parent).unwrap();
        assert_eq!(got.origin, "ALL_PROXY (set)");
        assert!(got.socks_login.is_some());
        let flag = choose(Some(OsStr::new("http://f:4")), &set, &parent).unwrap();
        assert_eq!(flag.origin, "--proxy");
        // An empty set value names nothing.
        let got = choose(None, &env(&[("HTTPS_PROXY", "")]), &parent).unwrap();
        assert_eq!(got.origin, "HTTPS_PROXY");
    }
}
