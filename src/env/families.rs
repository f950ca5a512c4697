//! The variable families sandspawn knows, as data. Semantics per variable
//! (who reads it, whether it replaces or adds to a trust store) are recorded
//! here once; the env plan and the docs are derived from these tables.

/// How a trust variable is used by the programs that read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustRole {
    /// The value becomes the whole trust store: point it at the combined
    /// bundle (system roots + extras) so public roots keep working.
    Replace,
    /// The value is added to the program's own roots: point it at the
    /// extras-only bundle (NODE_EXTRA_CA_CERTS at the whole system bundle
    /// costs every Node start ~38 ms).
    Add,
    /// A directory of hashed certificates. Its certificates are folded into
    /// the bundles and the variable is not exported (see README: "Trust").
    Dir,
}

/// One trust variable: its name, role, and what its value may name.
#[derive(Debug, Clone, Copy)]
pub struct TrustVar {
    /// The variable.
    pub name: &'static str,
    /// Replace, add, or directory.
    pub role: TrustRole,
    /// Who reads it (for docs and explain).
    pub readers: &'static str,
}

const fn tv(name: &'static str, role: TrustRole, readers: &'static str) -> TrustVar {
    TrustVar {
        name,
        role,
        readers,
    }
}

/// The trust family, exported whole whenever a bundle exists.
pub const TRUST_VARS: &[TrustVar] = &[
    tv(
        "SSL_CERT_FILE",
        TrustRole::Replace,
        "OpenSSL users (Python ssl, curl, Ruby), httpx, uv, Go, rustls-native-certs",
    ),
    tv(
        "SSL_CERT_DIR",
        TrustRole::Dir,
        "OpenSSL users, Go, uv (folded into the bundle)",
    ),
    tv(
        "NODE_EXTRA_CA_CERTS",
        TrustRole::Add,
        "Node.js, Deno >= 2.8, Bun",
    ),
    tv(
        "REQUESTS_CA_BUNDLE",
        TrustRole::Replace,
        "Python requests, pip, botocore",
    ),
    tv(
        "CURL_CA_BUNDLE",
        TrustRole::Replace,
        "curl tool, requests (fallback)",
    ),
    tv(
        "GIT_SSL_CAINFO",
        TrustRole::Replace,
        "git (GnuTLS builds ignore SSL_CERT_FILE)",
    ),
    tv(
        "GIT_SSL_CAPATH",
        TrustRole::Dir,
        "git (folded into GIT_SSL_CAINFO)",
    ),
    tv("PIP_CERT", TrustRole::Replace, "pip"),
    tv("AWS_CA_BUNDLE", TrustRole::Replace, "AWS CLI and SDKs"),
    tv("CARGO_HTTP_CAINFO", TrustRole::Replace, "cargo"),
    tv("DENO_CERT", TrustRole::Add, "Deno"),
    tv("BUNDLE_SSL_CA_CERT", TrustRole::Replace, "Bundler"),
    tv("NPM_CONFIG_CAFILE", TrustRole::Replace, "npm"),
    tv("npm_config_cafile", TrustRole::Replace, "npm"),
    tv("YARN_CA_FILE_PATH", TrustRole::Replace, "Yarn >= 2"),
    tv(
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
        TrustRole::Replace,
        "gcloud",
    ),
    tv(
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        TrustRole::Replace,
        "gRPC core, grpc-js",
    ),
    tv("HEX_CACERTS_PATH", TrustRole::Replace, "Hex / Mix"),
    tv("NIX_SSL_CERT_FILE", TrustRole::Replace, "Nix"),
    tv("HTTPLIB2_CA_CERTS", TrustRole::Replace, "httplib2"),
    tv("CODEX_CA_CERTIFICATE", TrustRole::Add, "Codex CLI"),
];

/// The trust variable called `name`, if it is one.
pub fn trust_var(name: &[u8]) -> Option<&'static TrustVar> {
    TRUST_VARS.iter().find(|v| v.name.as_bytes() == name)
}

/// Proxy variables whose value is a proxy URL, with the other spelling
/// that tools read (curl reads only lower-case `http_proxy`; Go prefers
/// upper-case). Both spellings are exported when either is set.
pub const PROXY_URL_PAIRS: &[(&str, &str)] = &[
    ("HTTP_PROXY", "http_proxy"),
    ("HTTPS_PROXY", "https_proxy"),
    ("ALL_PROXY", "all_proxy"),
    ("FTP_PROXY", "ftp_proxy"),
    ("WS_PROXY", "ws_proxy"),
    ("WSS_PROXY", "wss_proxy"),
    ("NPM_CONFIG_HTTP_PROXY", "npm_config_http_proxy"),
    ("NPM_CONFIG_HTTPS_PROXY", "npm_config_https_proxy"),
    ("NPM_CONFIG_PROXY", "npm_config_proxy"),
];

/// The npm pair no npm reads: npm's keys are `proxy` and `https-proxy`, and
/// npm 11 warns `Unknown env config "http-proxy"` on every command while
/// it is set. Network `proxy` sets it only when the parent or `set` had it.
pub const NPM_HTTP_PROXY: (&str, &str) = ("NPM_CONFIG_HTTP_PROXY", "npm_config_http_proxy");

/// Proxy URL variables that have one spelling only.
pub const PROXY_URL_SINGLES: &[&str] = &[
    "YARN_HTTP_PROXY",
    "YARN_HTTPS_PROXY",
    "BUNDLE_HTTP_PROXY",
    "BUNDLE_HTTPS_PROXY",
    "PIP_PROXY",
    "DOCKER_HTTP_PROXY",
    "DOCKER_HTTPS_PROXY",
];

/// No-proxy lists, as pairs of spellings.
pub const NO_PROXY_PAIRS: &[(&str, &str)] = &[
    ("NO_PROXY", "no_proxy"),
    ("NPM_CONFIG_NOPROXY", "npm_config_noproxy"),
];

/// No-proxy lists with one spelling.
pub const NO_PROXY_SINGLES: &[&str] = &["YARN_NO_PROXY", "BUNDLE_NO_PROXY"];

/// Node >= 24 honours HTTP(S)_PROXY only with this set to 1.
pub const NODE_USE_ENV_PROXY: &str = "NODE_USE_ENV_PROXY";

/// The proxy URL variables Node reads with NODE_USE_ENV_PROXY (lower-case
/// wins): not ALL_PROXY, not WS(S)_PROXY.
pub const NODE_READS_PROXY: &[&[u8]] =
    &[b"HTTP_PROXY", b"http_proxy", b"HTTPS_PROXY", b"https_proxy"];

/// Whether `name` is any proxy-family variable.
pub fn is_proxy_var(name: &[u8]) -> bool {
    let eq = |s: &&str| s.as_bytes() == name;
    PROXY_URL_PAIRS.iter().any(|(a, b)| eq(a) || eq(b))
        || PROXY_URL_SINGLES.iter().any(eq)
        || NO_PROXY_PAIRS.iter().any(|(a, b)| eq(a) || eq(b))
        || NO_PROXY_SINGLES.iter().any(eq)
        || name == NODE_USE_ENV_PROXY.as_bytes()
}

/// Whether `name` is a proxy-URL variable (not a no-proxy list).
pub fn is_proxy_url_var(name: &[u8]) -> bool {
    let eq = |s: &&str| s.as_bytes() == name;
    PROXY_URL_PAIRS.iter().any(|(a, b)| eq(a) || eq(b)) || PROXY_URL_SINGLES.iter().any(eq)
}

/// Whether Node >= 24 with NODE_USE_ENV_PROXY=1 accepts `value` as a proxy
/// URL; anything else makes it exit at start.
pub fn node_takes_proxy_url(value: &[u8]) -> bool {
    // Node's URL parser strips surrounding spaces and control characters.
    let lower = value.trim_ascii().to_ascii_lowercase();
    lower.starts_with(b"http://") || lower.starts_with(b"https://")
}

/// Whether `name` is a no-proxy list variable (any spelling).
pub fn is_no_proxy_var(name: &[u8]) -> bool {
    let eq = |s: &&str| s.as_bytes() == name;
    NO_PROXY_PAIRS.iter().any(|(a, b)| eq(a) || eq(b)) || NO_PROXY_SINGLES.iter().any(eq)
}

/// The other spelling of a paired proxy variable.
pub fn other_spelling(name: &[u8]) -> Option<&'static str> {
    PROXY_URL_PAIRS
        .iter()
        .chain(NO_PROXY_PAIRS)
        .find_map(|(a, b)| {
            if a.as_bytes() == name {
                Some(*b)
            } else if b.as_bytes() == name {
                Some(*a)
            } else {
                None
            }
        })
}

/// The union of the parent's no-proxy lists (every spelling: each tool
/// reads its own, so an entry in any of them was a direct route for some
/// tool), split in two, each entry once (host names compare
/// case-insensitively): the loopback entries (`localhost`, `.localhost`,
/// `127.*`, `::1`, `0.0.0.0`, with or without a port or a CIDR suffix),
/// which stay direct routes inside, and the others, `*` among them.
///
/// In network `proxy` the sandbox's own loopback is the one place a child
/// reaches directly: a server the child started there is reached only
/// without the proxy (Go never proxies loopback whatever the list says; the
/// others follow the list), so the loopback entries keep every client
/// agreeing on it. Any other direct route has nowhere to go but fails, so
/// those entries go through the proxy instead, which may reach them.
pub fn split_no_proxy<'a>(lists: impl IntoIterator<Item = &'a str>) -> NoProxySplit<'a> {
    let host_of = |entry: &str| {
        let e = entry.trim_start_matches("*.").trim_start_matches('.');
        // `::1/128`, `127.0.0.0/8`: the address part decides.
        let e = match e.rsplit_once('/') {
            Some((addr, bits)) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
                addr
            }
            _ => e,
        };
        let host = if let Some(v6) = e.strip_prefix('[') {
            v6.split(']').next().unwrap_or_default()
        } else if e.matches(':').count() == 1 {
            e.split(':').next().unwrap_or_default()
        } else {
            e
        };
        host.to_ascii_lowercase()
    };
    let loopback = |host: &str| {
        // `localhost.` is the same name written fully qualified, and
        // `::ffff:127.0.0.1` the IPv4 loopback written as IPv6.
        let host = host.strip_suffix('.').unwrap_or(host);
        let host = host.strip_prefix("::ffff:").unwrap_or(host);
        host == "localhost"
            || host.ends_with(".localhost")
            || host.starts_with("127.")
            || host == "::1"
            || host == "0:0:0:0:0:0:0:1"
            || host == "0.0.0.0"
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut split = NoProxySplit::default();
    for entry in lists.into_iter().flat_map(|l| l.split(',')).map(str::trim) {
        if entry.is_empty() || !seen.insert(entry.to_ascii_lowercase()) {
            continue;
        }
        if entry != "*" && loopback(&host_of(entry)) {
            split.loopback.push(entry);
        } else {
            split.other.push(entry);
        }
    }
    split
}

/// The entries of the no-proxy lists, as [`split_no_proxy`] sorts them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NoProxySplit<'a> {
    /// Loopback entries, in order.
    pub loopback: Vec<&'a str>,
    /// Every other entry (`*` too), in order.
    pub other: Vec<&'a str>,
}

/// The default allow-list: what any program expects to find.
pub const BASE_VARS: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "LANG",
    "LC_ALL",
    "TERM",
    "TZ",
    "COLORTERM",
    "NO_COLOR",
];

/// Flags that choose a program's trust store, passed as the parent set
/// them (and recovered from an MCP host with the trust family). With
/// NODE_USE_SYSTEM_CA=1 Node adds the system store, which inside is
/// SSL_CERT_FILE (the combined bundle) and the bound /etc/ssl/certs: a
/// parent relying on it for a CA installed into the system store (an
/// agent firewall's, a corporate one) needs it in the child too.
pub const TRUST_FLAGS: &[&str] = &["NODE_USE_SYSTEM_CA"];

/// Whether `name` is one of [`TRUST_FLAGS`].
pub fn is_trust_flag(name: &[u8]) -> bool {
    TRUST_FLAGS.iter().any(|f| f.as_bytes() == name)
}

/// Base variables matched by prefix (`LC_CTYPE`, `LC_MESSAGES`…).
pub const BASE_PREFIXES: &[&str] = &["LC_"];

/// Variables that switch TLS verification off. Dropped unless passed by
/// exact name (a `PREFIX_*` pattern is not enough), with a warning.
pub const VERIFICATION_KILLERS: &[&str] = &[
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "PYTHONHTTPSVERIFY",
    "GIT_SSL_NO_VERIFY",
    "NPM_CONFIG_STRICT_SSL",
    "npm_config_strict_ssl",
    "YARN_ENABLE_STRICT_SSL",
    "YARN_STRICT_SSL",
    "PIP_TRUSTED_HOST",
    "UV_INSECURE_HOST",
    "BUNDLE_SSL_VERIFY_MODE",
    "HEX_UNSAFE_HTTPS",
    "GOINSECURE",
];

/// Whether `name` is a verification killer.
pub fn is_verification_killer(name: &[u8]) -> bool {
    VERIFICATION_KILLERS.iter().any(|k| k.as_bytes() == name)
}

/// Name fragments that mark a value as secret for display (never for
/// filtering: what reaches the child is decided by the rules, not by this).
pub const SECRET_NAME_HINTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE",
    "API_KEY",
    "ACCESS_KEY",
    "AUTH",
];
