//! The proxy family of the environment plan: completing the parent's and
//! the user's proxy variables (both spellings, NODE_USE_ENV_PROXY), and in
//! network `proxy` pointing every one of them at the bridge.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use super::{families, insert, mask_value, EnvVar, Source};

/// Export both spellings of every paired proxy variable the parent set, and
/// NODE_USE_ENV_PROXY=1 when an HTTP(S)_PROXY spelling is exported (Node >=
/// 24 ignores them without it; it never reads ALL_PROXY or WS(S)_PROXY, so
/// those alone do not make Node use a proxy).
pub(super) fn complete_proxy_family<'r>(
    vars: &mut BTreeMap<OsString, EnvVar>,
    denied_by: &impl Fn(&OsStr) -> Option<&'r crate::policy::NamePattern>,
) {
    let present: Vec<(OsString, OsString)> = vars
        .values()
        .filter(|v| v.source == Source::Proxy)
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    for (name, value) in &present {
        if let Some(other) = families::other_spelling(name.as_encoded_bytes()) {
            let other = OsString::from(other);
            if !vars.contains_key(&other) && denied_by(&other).is_none() {
                let from = name.to_string_lossy().into_owned();
                insert(vars, &other, value, Source::ProxySpelling { from });
            }
        }
    }
}

/// A proxy variable the user set (`--set`, the policy's `[set]`, an MCP
/// config's `env`) is completed like the parent's: its other spelling gets
/// the same value (replacing an inherited one, which lowercase-first clients
/// such as curl, Python and Node would otherwise prefer) unless that
/// spelling is set too, and NODE_USE_ENV_PROXY=1 is added for an
/// HTTP(S)_PROXY spelling.
pub(super) fn complete_set_proxy_family<'r>(
    vars: &mut BTreeMap<OsString, EnvVar>,
    set: &[(OsString, OsString)],
    denied_by: &impl Fn(&OsStr) -> Option<&'r crate::policy::NamePattern>,
) {
    let is_set = |n: &OsStr| set.iter().any(|(k, _)| k == n);
    for (name, _) in set {
        let bytes = name.as_encoded_bytes();
        if !families::is_proxy_var(bytes) {
            continue;
        }
        // The value the child got: the last `set` of this name.
        let Some(value) = vars.get(name).map(|v| v.value.clone()) else {
            continue;
        };
        if let Some(other) = families::other_spelling(bytes) {
            let other = OsString::from(other);
            if !is_set(&other) && denied_by(&other).is_none() {
                let from = name.to_string_lossy().into_owned();
                insert(vars, &other, &value, Source::ProxySpelling { from });
            }
        }
    }
}

/// NODE_USE_ENV_PROXY=1 when an HTTP(S)_PROXY spelling is exported (Node
/// 24 and later ignore them without it; Node never reads ALL_PROXY or
/// WS(S)_PROXY, so those alone do not make it use a proxy), unless one is not
/// an `http://` or `https://` URL: with the flag, Node >= 24 exits at start
/// on `proxy:3128` ("Invalid URL") or `socks5h://…` ("Invalid URL
/// protocol"), every Node program, networked or not, while without it Node
/// ran. Such a value gets a warning instead, naming it.
pub(super) fn add_node_env_proxy<'r>(
    vars: &mut BTreeMap<OsString, EnvVar>,
    denied_by: &impl Fn(&OsStr) -> Option<&'r crate::policy::NamePattern>,
) -> Option<String> {
    let node = OsString::from(families::NODE_USE_ENV_PROXY);
    if vars.contains_key(&node) || denied_by(&node).is_some() {
        return None;
    }
    let read: Vec<&EnvVar> = vars
        .values()
        .filter(|v| {
            families::NODE_READS_PROXY.contains(&v.name.as_encoded_bytes()) && !v.value.is_empty()
        })
        .collect();
    if read.is_empty() {
        return None;
    }
    if let Some(bad) = read
        .iter()
        .find(|v| !families::node_takes_proxy_url(v.value.as_encoded_bytes()))
    {
        return Some(format!(
            "NODE_USE_ENV_PROXY=1 not added: {}={} is not an http:// or https:// URL, and Node >= 24 \
             exits at start on it with the flag set; Node programs do not use the proxy (write it as \
             http://HOST:PORT so that they do)",
            bad.name.to_string_lossy(),
            mask_value(&bad.name, &bad.value).to_string_lossy()
        ));
    }
    insert(vars, &node, OsStr::new("1"), Source::ProxyDerived);
    None
}

/// Network `proxy`: every proxy URL variable (both spellings, the npm,
/// yarn, bundler, pip and docker forms, WS/WSS) points at the bridge, set
/// whether or not the parent had it (but NPM_CONFIG_HTTP_PROXY, which no
/// npm reads, only when the parent or `set` had it) (`urls`: http://, and with a SOCKS5
/// upstream the socks5h:// that FTP_PROXY gets: curl sends `ftp://` through
/// an HTTP proxy as a `GET ftp://…` the bridge's HTTP front does not serve,
/// and through SOCKS5 as a tunnel); NODE_USE_ENV_PROXY=1; the no-proxy
/// lists, every spelling alike, keep the loopback entries of all of them
/// (see [`families::split_no_proxy`]; a list the user set replaces the
/// parent's of that name). The other entries, which could only fail direct
/// where the bridge is the one way out, are named in the returned notices,
/// as are entries of a list that are not UTF-8.
pub(super) fn bridge_proxy_family<'r>(
    vars: &mut BTreeMap<OsString, EnvVar>,
    (http, socks): (&OsStr, Option<&OsStr>),
    parent: &[(OsString, OsString)],
    user_set: &[(OsString, OsString)],
    denied_by: &impl Fn(&OsStr) -> Option<&'r crate::policy::NamePattern>,
) -> Vec<String> {
    let set = |vars: &mut BTreeMap<OsString, EnvVar>, name: &str, value: &OsStr, source| {
        let name = OsString::from(name);
        if denied_by(&name).is_none() {
            insert(vars, &name, value, source);
        }
    };
    // npm reads its env config names case-insensitively.
    let npm_http_given = parent
        .iter()
        .chain(user_set)
        .filter_map(|(k, _)| k.to_str())
        .any(|k| k.eq_ignore_ascii_case(families::NPM_HTTP_PROXY.0));
    for name in families::PROXY_URL_PAIRS
        .iter()
        .flat_map(|(a, b)| [*a, *b])
        .chain(families::PROXY_URL_SINGLES.iter().copied())
    {
        if name.eq_ignore_ascii_case(families::NPM_HTTP_PROXY.0) && !npm_http_given {
            continue;
        }
        let url = match socks {
            Some(socks) if name.eq_ignore_ascii_case("FTP_PROXY") => socks,
            _ => http,
        };
        set(vars, name, url, Source::ProxyBridge);
    }
    // Node's built-in proxy support takes http:// only (it exits at start
    // on anything else); the bridge's URL is http:// for every upstream.
    if families::node_takes_proxy_url(http.as_encoded_bytes()) {
        set(
            vars,
            families::NODE_USE_ENV_PROXY,
            OsStr::new("1"),
            Source::ProxyDerived,
        );
    }
    let names = || {
        families::NO_PROXY_PAIRS
            .iter()
            .flat_map(|(a, b)| [*a, *b])
            .chain(families::NO_PROXY_SINGLES.iter().copied())
    };
    // A list that is not UTF-8 is taken entry by entry: its UTF-8 entries
    // (every loopback name or address is ASCII) are judged like any, byte
    // for byte, and the others, no loopback, are left out and counted.
    let mut not_utf8: Vec<(&str, usize)> = Vec::new();
    let lists: Vec<(&str, String)> = names()
        .filter_map(|n| {
            let last_set = user_set.iter().rev().find(|(k, _)| k == n);
            let (_, value) = last_set.or_else(|| parent.iter().find(|(k, _)| k == n))?;
            if let Some(value) = value.to_str() {
                return Some((n, value.to_owned()));
            }
            let (utf8, other): (Vec<_>, Vec<_>) = value
                .as_encoded_bytes()
                .split(|&b| b == b',')
                .map(std::str::from_utf8)
                .partition(Result::is_ok);
            not_utf8.push((n, other.len()));
            let utf8: Vec<&str> = utf8.into_iter().filter_map(Result::ok).collect();
            Some((n, utf8.join(",")))
        })
        .collect();
    let split = families::split_no_proxy(lists.iter().map(|(_, v)| v.as_str()));
    // Which lists held entries of each kind, for explain and the notice.
    let holding = |kind: fn(&families::NoProxySplit<'_>) -> bool| {
        lists
            .iter()
            .filter(|(_, v)| kind(&families::split_no_proxy([v.as_str()])))
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !split.loopback.is_empty() {
        let kept = split.loopback.join(",");
        let from = holding(|s| !s.loopback.is_empty());
        for name in names() {
            let source = Source::NoProxyLoopback { from: from.clone() };
            set(vars, name, OsStr::new(&kept), source);
        }
    }
    let mut notices = Vec::new();
    if !split.other.is_empty() {
        notices.push(format!(
            "{}: {} left out of the child's no-proxy lists: with network proxy the bridge is its only way out, \
             so requests to them go through the proxy instead of failing direct",
            holding(|s| !s.other.is_empty()),
            split.other.join(",")
        ));
    }
    for (name, count) in not_utf8 {
        let entries = if count == 1 { "entry" } else { "entries" };
        notices.push(format!(
            "{name}: {count} {entries} not UTF-8 left out of the child's no-proxy lists"
        ));
    }
    notices
}
