//! Network `proxy`: which upstream proxy, parsed, and the address the
//! child uses instead. Pure: the parent's variables arrive as data.

use std::ffi::{OsStr, OsString};

use sandspawn_linux::proxy_url::{self, ProxyScheme, ProxyUrlError};
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
pub const HTTP_DEFAULT_PORT: u16 = proxy_url::HTTP_DEFAULT_PORT;

/// Port of a SOCKS5 upstream whose URL names none (SOCKS's 1080).
pub const SOCKS_DEFAULT_PORT: u16 = proxy_url::SOCKS_DEFAULT_PORT;

/// The parent's variables consulted for the upstream, in order, when
/// neither `--proxy` nor the policy's `proxy` names one. Lower case first
/// in each pair, as curl, Python and Node read them: when the two
/// spellings differ, the bridge goes where the child's clients would.
pub const UPSTREAM_VARS: &[&str] = &[
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
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
    /// The URL the child's proxy variables get: the inside listener, no
    /// credentials, `http://` whatever the upstream speaks. With a SOCKS5
    /// upstream the listener also speaks HTTP (the bridge's HTTP front does
    /// the SOCKS5 handshake), because many clients speak only HTTP to a
    /// proxy, and some (Node's built-in support, httpx without socksio)
    /// fail at start on a `socks5h://` value.
    pub fn inside_url(&self, port: u16) -> OsString {
        format!("http://127.0.0.1:{port}").into()
    }

    /// With a SOCKS5 upstream, the SOCKS5 URL of the same listener, for the
    /// variables whose protocols the HTTP front does not carry (FTP_PROXY:
    /// curl sends `ftp://` through an HTTP proxy as a `GET ftp://…`, which
    /// only a proxy speaking FTP could serve). Always `socks5h`: the sandbox
    /// has no DNS, so a client that resolved names itself (`socks5://`)
    /// could reach only IP literals; the upstream resolves them.
    pub fn inside_socks_url(&self, port: u16) -> Option<OsString> {
        match self.scheme {
            Scheme::Http => None,
            Scheme::Socks5 | Scheme::Socks5h => {
                Some(format!("{}://127.0.0.1:{port}", Scheme::Socks5h.as_str()).into())
            }
        }
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

/// The upstream for `proxy` mode: `configured` (`--proxy` / policy, with
/// the origin messages name) first,
/// then the first non-empty [`UPSTREAM_VARS`] the user set (`--set`, the
/// policy's `[set]`, an MCP config's `env`; the last `set` of a name
/// wins), else the parent's. A set value is the user's choice for this
/// command, so it beats what was inherited; its origin reads
/// `HTTPS_PROXY (set)`.
pub fn choose(
    configured: Option<(&OsStr, &str)>,
    set: &[(OsString, OsString)],
    parent_env: &[(OsString, OsString)],
) -> Result<Upstream, ProxyError> {
    if let Some((value, origin)) = configured {
        return parse(value, origin);
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
    let parsed = proxy_url::parse(text).map_err(|e| match e {
        ProxyUrlError::Malformed(problem) => bad(problem),
        ProxyUrlError::Scheme(scheme) => ProxyError::Scheme {
            origin: origin.to_string(),
            scheme,
        },
    })?;
    let display = if parsed.port_given {
        display
    } else {
        format!("{display} (port {})", parsed.port)
    };
    Ok(Upstream {
        scheme: match parsed.scheme {
            ProxyScheme::Http => Scheme::Http,
            ProxyScheme::Socks5 => Scheme::Socks5,
            ProxyScheme::Socks5h => Scheme::Socks5h,
        },
        host: parsed.host,
        port: parsed.port,
        origin: origin.to_string(),
        display,
        authorization: parsed.authorization,
        socks_login: parsed.socks_login,
    })
}

/// `--proxy` (or a policy's `proxy`) outside network `proxy`, which was
/// silently ignored. Under `full` the child's clients go out directly, so
/// the URL is handed to them as `sandspawn mcp --proxy` hands it to a
/// server: HTTPS_PROXY and HTTP_PROXY (the env plan adds the lowercase
/// spellings and NODE_USE_ENV_PROXY). The URL was given for this command,
/// so it replaces the parent's variables of those names, either spelling
/// (curl, Python and Node prefer the lowercase one: left in place, it won
/// over the flag); one warning names the replaced ones, and the parent's
/// NO_PROXY and ALL_PROXY it leaves (`NO_PROXY=*` would send everything
/// around it); the parent environment with them replaced is returned. Under `none` it can do
/// nothing: one warning says so and what to pass instead.
pub(crate) fn outside_proxy_mode(
    policy: &crate::policy::Policy,
    parent_env: &[(OsString, OsString)],
    warnings: &mut Vec<String>,
) -> Option<Vec<(OsString, OsString)>> {
    use crate::policy::NetworkMode;
    let proxy = policy.proxy.as_deref()?;
    match policy.network {
        NetworkMode::Proxy => None,
        NetworkMode::None => {
            warnings.push(format!(
                "{} has no effect with --net none (the sandbox has no network): pass \
                 --net proxy to go out through it, or --net full to hand it to the \
                 command as HTTPS_PROXY and HTTP_PROXY",
                policy.proxy_origin
            ));
            None
        }
        NetworkMode::Full => {
            let (env, replaced) = hand_proxy(proxy, parent_env);
            let origin = &policy.proxy_origin;
            let kept = left_beside(parent_env);
            let (verb, them) = if kept.len() == 1 {
                ("reaches", "it")
            } else {
                ("reach", "them")
            };
            let kept = (!kept.is_empty())
                .then(|| format!("the parent's {} still {verb} the command", kept.join(", ")));
            let warning = match (replaced.is_empty(), kept) {
                (true, None) => None,
                (true, Some(kept)) => Some(format!(
                    "{kept} (network full): {origin} does not replace {them}"
                )),
                (false, kept) => Some(format!(
                    "{origin} replaces the parent's {} for the command (network full); the \
                     parent's value is not passed{}",
                    replaced.join(", "),
                    kept.map_or(String::new(), |k| format!(
                        "; {k}: {origin} does not replace {them}"
                    ))
                )),
            };
            warnings.extend(warning);
            Some(env)
        }
    }
}

/// The parent's variables beside [`HANDED`] that still steer the
/// command's clients: NO_PROXY sends the hosts it names around the flag's
/// proxy (`*`: all of them), ALL_PROXY serves what the others do not.
/// Names only, set ones, in this order.
fn left_beside(parent_env: &[(OsString, OsString)]) -> Vec<&'static str> {
    ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .filter(|name| lookup(parent_env, name).is_some_and(|v| !v.is_empty()))
        .collect()
}

/// The variables `--proxy` sets under network `full`, each spelling.
const HANDED: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];

/// `parent_env` with [`HANDED`] replaced: HTTPS_PROXY and HTTP_PROXY get
/// `proxy`, the lowercase ones go (the plan copies them from the
/// uppercase). Also the names of the parent's variables that held another
/// value (one that held `proxy` itself was not overridden), in
/// [`HANDED`]'s order: names only, a value can carry credentials.
fn hand_proxy(
    proxy: &OsStr,
    parent_env: &[(OsString, OsString)],
) -> (Vec<(OsString, OsString)>, Vec<&'static str>) {
    let replaced = HANDED
        .into_iter()
        .filter(|name| {
            // The first occurrence is the one the plan reads.
            lookup(parent_env, name).is_some_and(|v| !v.is_empty() && v != proxy)
        })
        .collect();
    let env = (parent_env.iter())
        .filter(|(n, _)| !HANDED.iter().any(|h| n == h))
        .cloned()
        .chain(["HTTPS_PROXY", "HTTP_PROXY"].map(|n| (OsString::from(n), proxy.to_os_string())))
        .collect();
    (env, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_replaces_each_spelling_and_names_only_what_differed() {
        let env: Vec<(OsString, OsString)> = [
            ("https_proxy", "http://u:pw@parent:1"),
            ("HTTP_PROXY", "http://flag:2"),
            ("http_proxy", ""),
            ("https_proxy", "http://second:3"),
            ("ALL_PROXY", "socks5h://parent:4"),
            ("PATH", "/bin"),
        ]
        .map(|(n, v)| (n.into(), v.into()))
        .into();
        let (got, replaced) = hand_proxy(OsStr::new("http://flag:2"), &env);
        assert_eq!(replaced, ["https_proxy"]);
        let got: Vec<(&str, &str)> = (got.iter())
            .map(|(n, v)| (n.to_str().unwrap(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("ALL_PROXY", "socks5h://parent:4"),
                ("PATH", "/bin"),
                ("HTTPS_PROXY", "http://flag:2"),
                ("HTTP_PROXY", "http://flag:2"),
            ]
        );
    }

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
        let socks = p("socks5://h:1").unwrap();
        assert_eq!(
            (
                socks.inside_url(INSIDE_PORT),
                socks.inside_socks_url(INSIDE_PORT)
            ),
            (
                OsString::from("http://127.0.0.1:3128"),
                Some(OsString::from("socks5h://127.0.0.1:3128"))
            )
        );
        assert_eq!(p("http://h:1").unwrap().inside_socks_url(INSIDE_PORT), None);
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
            u.inside_socks_url(3128),
            Some(OsString::from("socks5h://127.0.0.1:3128"))
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
        let flag = choose(Some((OsStr::new("http://f:4"), "--proxy")), &[], &e).unwrap();
        assert_eq!((flag.origin.as_str(), flag.port), ("--proxy", 4));
        assert_eq!(choose(None, &[], &[]), Err(ProxyError::NoUpstream));
        // Both spellings, differing: the lower case one, as clients read it.
        let both = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ]);
        assert_eq!(choose(None, &[], &both).unwrap().host, "lower");
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
        let flag = choose(Some((OsStr::new("http://f:4"), "--proxy")), &set, &parent).unwrap();
        assert_eq!(flag.origin, "--proxy");
        // An empty set value names nothing.
        let got = choose(None, &env(&[("HTTPS_PROXY", "")]), &parent).unwrap();
        assert_eq!(got.origin, "HTTPS_PROXY");
    }
}
