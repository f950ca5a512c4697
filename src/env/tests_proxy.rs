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

#[test]
fn no_proxy_loses_loopback_and_star_and_is_coherent_across_spellings() {
    let p = parent(&[(
        "no_proxy",
        "localhost,127.0.0.1,::1,[::1]:8080,.localhost,*,intranet.corp,10.0.0.0/8",
    )]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    let want = OsStr::new("intranet.corp,10.0.0.0/8");
    for name in [
        "NO_PROXY",
        "no_proxy",
        "NPM_CONFIG_NOPROXY",
        "YARN_NO_PROXY",
    ] {
        assert_eq!(plan.get(name), Some(want), "{name}");
    }
    let only_loopback = parent(&[("NO_PROXY", "localhost,127.0.0.1")]);
    let plan = build(
        &only_loopback,
        &EnvRules::default(),
        &proxy_ctx(OsStr::new(INSIDE)),
    );
    assert!(plan.get("NO_PROXY").is_none());
    assert!(plan.get("no_proxy").is_none());
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
fn no_proxy_keeps_the_entries_of_every_spelling_the_parent_had() {
    // Each tool reads its own spelling (curl and Python lower-case first, Go
    // upper-case, npm its own): an entry the parent had in any of them was
    // a direct route for some tool, and must stay one inside.
    let p = parent(&[
        ("NO_PROXY", ""),
        ("no_proxy", "a.corp,localhost"),
        ("NPM_CONFIG_NOPROXY", "b.corp,A.corp"),
        ("YARN_NO_PROXY", "a.corp,c.corp"),
    ]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    let want = OsStr::new("a.corp,b.corp,c.corp");
    for name in [
        "NO_PROXY",
        "no_proxy",
        "NPM_CONFIG_NOPROXY",
        "npm_config_noproxy",
        "YARN_NO_PROXY",
        "BUNDLE_NO_PROXY",
    ] {
        assert_eq!(plan.get(name), Some(want), "{name}");
    }
}

#[test]
fn no_proxy_loses_loopback_written_as_a_cidr() {
    let p = parent(&[("NO_PROXY", "::1/128,127.0.0.0/8,[::1]/128,10.0.0.0/8")]);
    let plan = build(&p, &EnvRules::default(), &proxy_ctx(OsStr::new(INSIDE)));
    assert_eq!(plan.get("NO_PROXY"), Some(OsStr::new("10.0.0.0/8")));
}

/// Node (`NODE_USE_ENV_PROXY`) reads HTTP_PROXY and HTTPS_PROXY only, not
/// ALL_PROXY or the WebSocket variables: exporting it for those would
/// claim a proxy Node does not use.
#[test]
fn node_use_env_proxy_only_with_an_http_or_https_proxy() {
    let full = EnvContext {
        network: NetworkMode::Full,
        proxy_url: None,
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
