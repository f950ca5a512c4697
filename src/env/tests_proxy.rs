//! Network `proxy`: the env rewrite to the bridge's inside address.

use super::*;

fn parent(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn proxy_ctx(url: &OsStr) -> EnvContext<'_> {
    EnvContext {
        network: NetworkMode::Proxy,
        bundle: None,
        extras_bundle: None,
        tmpdir: OsStr::new("/tmp"),
        home: None,
        xdg_runtime_usable: false,
        proxy_url: Some(url),
        proxy_socks_url: None,
    }
}

const INSIDE: &str = "http://127.0.0.1:3128";

#[test]
fn every_proxy_url_variable_points_at_the_bridge_even_if_the_parent_had_one() {
    let p = parent(&[
        ("HTTPS_PROXY", "http://user:pw@corp:8080"),
        ("PATH", "/bin"),
    ]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    for (a, b) in families::PROXY_URL_PAIRS {
        if (*a, *b) == families::NPM_HTTP_PROXY {
            continue;
        }
        assert_eq!(plan.get(a), Some(OsStr::new(INSIDE)), "{a}");
        assert_eq!(plan.get(b), Some(OsStr::new(INSIDE)), "{b}");
    }
    for name in families::PROXY_URL_SINGLES {
        assert_eq!(plan.get(name), Some(OsStr::new(INSIDE)), "{name}");
    }
    assert_eq!(plan.get("NODE_USE_ENV_PROXY"), Some(OsStr::new("1")));
    assert!(plan.get("NO_PROXY").is_none());
    let https = plan.vars.iter().find(|v| v.name == "HTTPS_PROXY").unwrap();
    assert_eq!(https.source, Source::ProxyBridge);
    // The credentials stay on the host side: no value carries them.
    assert!(plan
        .vars
        .iter()
        .all(|v| !v.value.to_string_lossy().contains("pw")));
}

/// Every name and value of the child's no-proxy lists, and the warnings.
fn no_proxy_of(plan: &EnvPlan) -> (Vec<String>, Vec<String>) {
    let lists = plan
        .vars
        .iter()
        .filter(|v| families::is_no_proxy_var(v.name.as_encoded_bytes()))
        .map(|v| format!("{}={}", v.name.to_string_lossy(), v.value.to_string_lossy()))
        .collect();
    (lists, plan.warnings.clone())
}

/// `NAME=VALUE` for every spelling of the no-proxy lists.
fn every_list(value: &str) -> Vec<String> {
    [
        "BUNDLE_NO_PROXY",
        "NO_PROXY",
        "NPM_CONFIG_NOPROXY",
        "YARN_NO_PROXY",
        "no_proxy",
        "npm_config_noproxy",
    ]
    .iter()
    .map(|n| format!("{n}={value}"))
    .collect()
}

#[test]
fn no_proxy_keeps_loopback_only_and_is_coherent_across_spellings() {
    // The sandbox's loopback is the one direct route inside: a server the
    // child started there. Anything else (and `*`) could only fail direct.
    let p = parent(&[(
        "no_proxy",
        "localhost,127.0.0.1,::1,[::1]:8080,.localhost,*,intranet.corp,10.0.0.0/8,localhost.,::ffff:127.0.0.1,[::ffff:127.0.0.1]:80,corp.",
    )]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(
        no_proxy_of(&plan),
        (
            every_list(
                "localhost,127.0.0.1,::1,[::1]:8080,.localhost,localhost.,::ffff:127.0.0.1,[::ffff:127.0.0.1]:80"
            ),
            vec![
                "no_proxy: *,intranet.corp,10.0.0.0/8,corp. left out of the child's no-proxy lists: \
                 with network proxy the bridge is its only way out, so requests to them go through \
                 the proxy instead of failing direct"
                    .to_string()
            ]
        )
    );
    let source = plan.vars.iter().find(|v| v.name == "NO_PROXY").unwrap();
    assert_eq!(
        source.source,
        Source::NoProxyLoopback {
            from: "no_proxy".into()
        }
    );
    let only_loopback = parent(&[("NO_PROXY", "localhost,127.0.0.1")]);
    let plan = build(
        &only_loopback,
        &EnvRules::default(),
        &proxy_ctx(OsStr::new(INSIDE)),
    );
    assert_eq!(
        no_proxy_of(&plan),
        (every_list("localhost,127.0.0.1"), vec![])
    );
}

#[test]
fn no_proxy_without_loopback_entries_leaves_no_list_and_says_so() {
    let p = parent(&[
        ("NO_PROXY", ".corp.example.com,10.0.0.0/8"),
        ("no_proxy", "internal.host"),
    ]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(
        no_proxy_of(&plan),
        (
            vec![],
            vec![
                "NO_PROXY, no_proxy: .corp.example.com,10.0.0.0/8,internal.host left out of the \
                 child's no-proxy lists: with network proxy the bridge is its only way out, so \
                 requests to them go through the proxy instead of failing direct"
                    .to_string()
            ]
        )
    );
    // Network `full`: the lists pass as they are, nothing said.
    let full = EnvContext {
        network: NetworkMode::Full,
        proxy_url: None,
        ..proxy_ctx(OsStr::new(INSIDE))
    };
    let plan = build(&p, &EnvRules::default(), &full);
    assert_eq!(
        no_proxy_of(&plan),
        (
            vec![
                "NO_PROXY=.corp.example.com,10.0.0.0/8".to_string(),
                "no_proxy=internal.host".to_string()
            ],
            vec![]
        )
    );
}

#[test]
fn deny_env_still_wins_over_the_bridge_family() {
    let rules = EnvRules {
        deny: vec![
            crate::policy::NamePattern::parse(OsStr::new("WS_PROXY"), "deny_env").unwrap(),
            crate::policy::NamePattern::parse(OsStr::new("WSS_PROXY"), "deny_env").unwrap(),
        ],
        ..EnvRules::default()
    };
    let plan = build(&[], &rules, &proxy_ctx(OsStr::new(INSIDE)));
    assert!(plan.get("WS_PROXY").is_none());
    assert!(plan.get("WSS_PROXY").is_none());
    assert_eq!(plan.get("ws_proxy"), Some(OsStr::new(INSIDE)));
}

#[test]
fn no_proxy_keeps_the_loopback_entries_of_every_spelling_the_parent_had() {
    // Each tool reads its own spelling (curl and Python lower-case first, Go
    // upper-case, npm its own): a loopback entry the parent had in any of
    // them was a direct route for some tool, and stays one inside.
    let p = parent(&[
        ("NO_PROXY", ""),
        ("no_proxy", "a.corp,localhost"),
        ("NPM_CONFIG_NOPROXY", "127.0.0.1,A.corp"),
        ("YARN_NO_PROXY", "LOCALHOST,::1"),
    ]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(
        no_proxy_of(&plan),
        (
            every_list("localhost,127.0.0.1,::1"),
            vec![
                "no_proxy, NPM_CONFIG_NOPROXY: a.corp left out of the child's no-proxy lists: \
                 with network proxy the bridge is its only way out, so requests to them go \
                 through the proxy instead of failing direct"
                    .to_string()
            ]
        )
    );
    let source = plan.vars.iter().find(|v| v.name == "no_proxy").unwrap();
    assert_eq!(
        source.source,
        Source::NoProxyLoopback {
            from: "no_proxy, NPM_CONFIG_NOPROXY, YARN_NO_PROXY".into()
        }
    );
}

#[test]
fn no_proxy_keeps_loopback_written_as_a_cidr() {
    let p = parent(&[("NO_PROXY", "::1/128,127.0.0.0/8,[::1]/128,10.0.0.0/8")]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(
        plan.get("NO_PROXY"),
        Some(OsStr::new("::1/128,127.0.0.0/8,[::1]/128"))
    );
}

/// Node (`NODE_USE_ENV_PROXY`) reads HTTP_PROXY and HTTPS_PROXY only, not
/// ALL_PROXY or the WebSocket variables: exporting it for those would
/// claim a proxy Node does not use.
#[test]
fn node_use_env_proxy_only_with_an_http_or_https_proxy() {
    let full = EnvContext {
        network: NetworkMode::Full,
        proxy_url: None,
        proxy_socks_url: None,
        ..proxy_ctx(OsStr::new(INSIDE))
    };
    let exact = |pairs: &[(&str, &str)]| {
        let plan = build(&parent(pairs), &EnvRules::default(), &full);
        plan.vars
            .iter()
            .map(|v| format!("{}={}", v.name.to_string_lossy(), v.value.to_string_lossy()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        exact(&[("WSS_PROXY", "http://p:1"), ("ws_proxy", "http://p:2")]),
        [
            "TMPDIR=/tmp",
            "WSS_PROXY=http://p:1",
            "WS_PROXY=http://p:2",
            "ws_proxy=http://p:2",
            "wss_proxy=http://p:1",
        ]
    );
    assert_eq!(
        exact(&[("all_proxy", "socks5h://p:1")]),
        [
            "ALL_PROXY=socks5h://p:1",
            "TMPDIR=/tmp",
            "all_proxy=socks5h://p:1"
        ]
    );
    assert_eq!(
        exact(&[("http_proxy", "http://p:1")]),
        [
            "HTTP_PROXY=http://p:1",
            "NODE_USE_ENV_PROXY=1",
            "TMPDIR=/tmp",
            "http_proxy=http://p:1",
        ]
    );
    assert_eq!(
        exact(&[("HTTPS_PROXY", "http://p:1")]),
        [
            "HTTPS_PROXY=http://p:1",
            "NODE_USE_ENV_PROXY=1",
            "TMPDIR=/tmp",
            "https_proxy=http://p:1",
        ]
    );
}

fn set(pairs: &[(&str, &str)]) -> EnvRules {
    EnvRules {
        set: parent(pairs),
        ..EnvRules::default()
    }
}

#[test]
fn a_set_proxy_url_names_the_bridge_inside_and_its_credentials_stay_out() {
    // `--set`, a policy's [set] or an MCP config's `env` naming the proxy:
    // the plan takes it as the upstream; the child gets the bridge.
    let p = parent(&[("HTTPS_PROXY", "http://inherited:1")]);
    let rules = set(&[
        ("https_proxy", "http://user:s3cret@corp:3128"),
        ("NO_PROXY", "localhost,intranet.corp,*"),
    ]);
    let plan = build(&p, &rules, &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(plan.get("https_proxy"), Some(OsStr::new(INSIDE)));
    assert_eq!(plan.get("HTTPS_PROXY"), Some(OsStr::new(INSIDE)));
    assert_eq!(
        plan.vars
            .iter()
            .find(|v| v.name == "https_proxy")
            .map(|v| v.source.clone()),
        Some(Source::ProxyBridge)
    );
    assert!(plan
        .vars
        .iter()
        .all(|v| !v.value.to_string_lossy().contains("s3cret")));
    // A set no-proxy list is filtered like the parent's, in every spelling.
    assert_eq!(plan.get("NO_PROXY"), Some(OsStr::new("localhost")));
    assert_eq!(plan.get("no_proxy"), Some(OsStr::new("localhost")));
    assert_eq!(
        plan.warnings,
        [
            "NO_PROXY: intranet.corp,* left out of the child's no-proxy lists: with network proxy \
          the bridge is its only way out, so requests to them go through the proxy instead of \
          failing direct"
        ]
    );
}

fn full_ctx() -> EnvContext<'static> {
    EnvContext {
        network: NetworkMode::Full,
        bundle: None,
        extras_bundle: None,
        tmpdir: OsStr::new("/tmp"),
        home: None,
        xdg_runtime_usable: false,
        proxy_url: None,
        proxy_socks_url: None,
    }
}

#[test]
fn a_set_proxy_variable_gets_its_other_spelling_and_node_env_proxy() {
    // The parent's lowercase spelling would win in curl, Python and Node
    // over the uppercase one the user set: both carry the set value.
    let p = parent(&[("https_proxy", "http://stale:1"), ("no_proxy", "old")]);
    let rules = set(&[
        ("HTTPS_PROXY", "http://corp:3128"),
        ("HTTP_PROXY", "http://corp:3128"),
        ("NO_PROXY", ".corp"),
    ]);
    let plan = build(&p, &rules, &full_ctx());
    for (name, want) in [
        ("HTTPS_PROXY", "http://corp:3128"),
        ("https_proxy", "http://corp:3128"),
        ("HTTP_PROXY", "http://corp:3128"),
        ("http_proxy", "http://corp:3128"),
        ("NO_PROXY", ".corp"),
        ("no_proxy", ".corp"),
        ("NODE_USE_ENV_PROXY", "1"),
    ] {
        assert_eq!(plan.get(name), Some(OsStr::new(want)), "{name}");
    }
    let source = |n: &str| {
        plan.vars
            .iter()
            .find(|v| v.name == n)
            .unwrap()
            .source
            .clone()
    };
    assert_eq!(
        source("https_proxy"),
        Source::ProxySpelling {
            from: "HTTPS_PROXY".into()
        }
    );
    assert_eq!(source("HTTPS_PROXY"), Source::Set);

    // With no proxy in the parent at all, NODE_USE_ENV_PROXY still comes.
    let plan = build(
        &[],
        &set(&[("HTTPS_PROXY", "http://corp:3128")]),
        &full_ctx(),
    );
    assert_eq!(
        plan.get("https_proxy"),
        Some(OsStr::new("http://corp:3128"))
    );
    assert_eq!(plan.get("NODE_USE_ENV_PROXY"), Some(OsStr::new("1")));

    // Both spellings set explicitly: each keeps its own value.
    let both = set(&[("HTTP_PROXY", "http://a:1"), ("http_proxy", "http://b:2")]);
    let plan = build(&[], &both, &full_ctx());
    assert_eq!(plan.get("HTTP_PROXY"), Some(OsStr::new("http://a:1")));
    assert_eq!(plan.get("http_proxy"), Some(OsStr::new("http://b:2")));
}

#[test]
fn node_use_system_ca_is_passed_in_every_network_mode() {
    // Node's system store inside is the combined bundle: a parent that
    // trusted a system-installed CA through this flag keeps it.
    let p = parent(&[("NODE_USE_SYSTEM_CA", "1"), ("NODE_OPTIONS", "--x")]);
    for ctx in [full_ctx(), proxy_ctx(OsStr::new(INSIDE))] {
        let plan = build(&p, &EnvRules::default(), &ctx);
        assert_eq!(plan.get("NODE_USE_SYSTEM_CA"), Some(OsStr::new("1")));
        assert_eq!(plan.get("NODE_OPTIONS"), None);
    }
}

#[test]
fn node_use_env_proxy_only_with_urls_node_takes() {
    // Node >= 24 with NODE_USE_ENV_PROXY=1 exits at start on a proxy value
    // without http(s)://; without the flag it ran. A warning says why.
    for value in ["proxy.corp:3128", "socks5h://proxy:1080", "user:pw@proxy:1"] {
        let p = parent(&[("https_proxy", value)]);
        let plan = build(&p, &EnvRules::default(), &full_ctx());
        assert_eq!(plan.get("NODE_USE_ENV_PROXY"), None, "{value}");
        assert_eq!(plan.get("HTTPS_PROXY"), Some(OsStr::new(value)));
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        assert!(
            plan.warnings[0].starts_with("NODE_USE_ENV_PROXY=1 not added: HTTPS_PROXY="),
            "{:?}",
            plan.warnings
        );
        assert!(!plan.warnings[0].contains("pw"), "{:?}", plan.warnings);
    }
    let p = parent(&[
        ("HTTP_PROXY", "HTTP://proxy:1"),
        ("https_proxy", " https://p:2\n"),
    ]);
    let plan = build(&p, &EnvRules::default(), &full_ctx());
    assert_eq!(plan.get("NODE_USE_ENV_PROXY"), Some(OsStr::new("1")));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // The parent's own flag is the parent's choice.
    let p = parent(&[("https_proxy", "proxy:1"), ("NODE_USE_ENV_PROXY", "1")]);
    let plan = build(&p, &EnvRules::default(), &full_ctx());
    assert_eq!(plan.get("NODE_USE_ENV_PROXY"), Some(OsStr::new("1")));
}

/// Network `proxy` with a SOCKS5 upstream: the listener speaks HTTP too,
/// so every variable but FTP_PROXY says http:// (Node 24 gets its flag;
/// httpx, which reads ALL_PROXY, needs no socksio), and FTP_PROXY says
/// socks5h:// (curl's ftp:// goes through SOCKS5 as a tunnel).
#[test]
fn a_socks5_upstream_gives_http_urls_and_a_socks5h_ftp_proxy() {
    let socks = OsStr::new("socks5h://127.0.0.1:3128");
    let ctx = EnvContext {
        proxy_socks_url: Some(socks),
        ..proxy_ctx(OsStr::new(INSIDE))
    };
    let p = parent(&[("ALL_PROXY", "socks5h://u:pw@corp:1080")]);
    let plan = build(&p, &EnvRules::default(), &ctx);
    let proxies: Vec<String> = plan
        .vars
        .iter()
        .filter(|v| families::is_proxy_var(v.name.as_encoded_bytes()))
        .map(|v| format!("{}={}", v.name.to_string_lossy(), v.value.to_string_lossy()))
        .collect();
    let mut want: Vec<String> = families::PROXY_URL_PAIRS
        .iter()
        .filter(|pair| **pair != families::NPM_HTTP_PROXY)
        .flat_map(|(a, b)| [*a, *b])
        .chain(families::PROXY_URL_SINGLES.iter().copied())
        .map(|n| {
            let url = if n.eq_ignore_ascii_case("FTP_PROXY") {
                "socks5h://127.0.0.1:3128"
            } else {
                INSIDE
            };
            format!("{n}={url}")
        })
        .chain(["NODE_USE_ENV_PROXY=1".to_string()])
        .collect();
    want.sort();
    let mut got = proxies;
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn a_verification_killer_given_by_set_is_kept_and_warned_about() {
    let rules = set(&[("NODE_TLS_REJECT_UNAUTHORIZED", "0"), ("RUST_LOG", "info")]);
    let plan = build(&[], &rules, &full_ctx());
    assert_eq!(
        plan.get("NODE_TLS_REJECT_UNAUTHORIZED"),
        Some(OsStr::new("0"))
    );
    assert_eq!(
        plan.warnings,
        vec!["NODE_TLS_REJECT_UNAUTHORIZED=0 weakens TLS verification in the child; set because `set` (or the MCP config's `env`) gives it".to_string()]
    );
}

#[test]
fn a_spelling_copied_from_a_set_value_is_not_marked_as_the_hosts() {
    // The host had HTTPS_PROXY (recovered); the MCP config's env sets it.
    let p = parent(&[("HTTPS_PROXY", "http://host:1")]);
    let mut plan = build(&p, &set(&[("HTTPS_PROXY", "http://cfg:2")]), &full_ctx());
    plan.mark_from_host(7, &[OsString::from("HTTPS_PROXY")]);
    assert_eq!(plan.get("https_proxy"), Some(OsStr::new("http://cfg:2")));
    assert_eq!(plan.from_host("https_proxy"), None);
    assert_eq!(plan.from_host("HTTPS_PROXY"), None);
    // Inherited, the copy is the host's.
    let mut plan = build(&p, &EnvRules::default(), &full_ctx());
    plan.mark_from_host(7, &[OsString::from("HTTPS_PROXY")]);
    assert_eq!(plan.from_host("https_proxy"), Some(7));
}

/// npm has no `http-proxy` setting (its keys are `proxy` and `https-proxy`):
/// npm 11 warns `Unknown env config "http-proxy"` on every command when
/// NPM_CONFIG_HTTP_PROXY is set, so every npx-launched server's stderr
/// carried it. The bridge sets that pair only when the parent (or `set`)
/// had it, then pointing at the bridge like the rest.
#[test]
fn npm_http_proxy_is_bridged_only_when_the_parent_had_it() {
    let plan = build(
        &parent(&[("HTTPS_PROXY", "http://corp:8080")]),
        &EnvRules::default(),
        &proxy_ctx(OsStr::new(INSIDE)),
    );
    assert_eq!(plan.get("NPM_CONFIG_HTTP_PROXY"), None);
    assert_eq!(plan.get("npm_config_http_proxy"), None);
    assert_eq!(plan.get("NPM_CONFIG_PROXY"), Some(OsStr::new(INSIDE)));
    assert_eq!(plan.get("npm_config_https_proxy"), Some(OsStr::new(INSIDE)));
    let plan = build(
        &parent(&[
            ("HTTPS_PROXY", "http://corp:8080"),
            ("npm_config_http_proxy", "http://u:pw@corp:8080"),
        ]),
        &EnvRules::default(),
        &proxy_ctx(OsStr::new(INSIDE)),
    );
    assert_eq!(plan.get("NPM_CONFIG_HTTP_PROXY"), Some(OsStr::new(INSIDE)));
    assert_eq!(plan.get("npm_config_http_proxy"), Some(OsStr::new(INSIDE)));
    let plan = build(
        &parent(&[("HTTPS_PROXY", "http://corp:8080")]),
        &set(&[("NPM_CONFIG_HTTP_PROXY", "http://corp:8080")]),
        &proxy_ctx(OsStr::new(INSIDE)),
    );
    assert_eq!(plan.get("NPM_CONFIG_HTTP_PROXY"), Some(OsStr::new(INSIDE)));
    assert_eq!(plan.get("npm_config_http_proxy"), Some(OsStr::new(INSIDE)));
}

#[test]
fn a_no_proxy_list_not_utf8_keeps_its_loopback_entries_and_names_the_rest() {
    use std::os::unix::ffi::OsStrExt;
    let p = vec![(
        OsString::from("NO_PROXY"),
        OsStr::from_bytes(b"localhost,caf\xe9.corp,intranet.corp,127.0.0.1").to_owned(),
    )];
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(
        plan.get("NO_PROXY"),
        Some(OsStr::new("localhost,127.0.0.1"))
    );
    assert_eq!(
        plan.get("no_proxy"),
        Some(OsStr::new("localhost,127.0.0.1"))
    );
    assert_eq!(
        plan.warnings,
        [
            "NO_PROXY: intranet.corp left out of the child's no-proxy lists: with network proxy \
             the bridge is its only way out, so requests to them go through the proxy instead of \
             failing direct",
            "NO_PROXY: 1 entry not UTF-8 left out of the child's no-proxy lists",
        ]
    );
}
