use super::*;
use crate::policy::NamePattern;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

fn parent(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn ctx<'a>(
    network: NetworkMode,
    bundle: Option<&'a Path>,
    extras: Option<&'a Path>,
) -> EnvContext<'a> {
    EnvContext {
        network,
        bundle,
        extras_bundle: extras,
        tmpdir: OsStr::new("/tmp"),
        home: None,
        xdg_runtime_usable: false,
        proxy_url: None,
        proxy_socks_url: None,
    }
}

fn names(plan: &EnvPlan) -> Vec<String> {
    plan.vars
        .iter()
        .map(|v| v.name.to_string_lossy().into_owned())
        .collect()
}

fn reason(plan: &EnvPlan, name: &str) -> Option<DropReason> {
    plan.dropped
        .iter()
        .find(|d| d.name == name)
        .map(|d| d.reason.clone())
}

fn source(plan: &EnvPlan, name: &str) -> Option<Source> {
    plan.vars
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.source.clone())
}

const BUNDLE: &str = "/cache/sandspawn/trust/aa.pem";
const EXTRAS: &str = "/cache/sandspawn/trust/bb.pem";

#[test]
fn base_family_passes_and_everything_else_is_denied_by_default() {
    let p = parent(&[
        ("HOME", "/home/u"),
        ("PATH", "/usr/bin"),
        ("USER", "u"),
        ("LOGNAME", "u"),
        ("SHELL", "/bin/sh"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C"),
        ("LC_CTYPE", "C"),
        ("TERM", "xterm"),
        ("TZ", "UTC"),
        ("COLORTERM", "truecolor"),
        ("NO_COLOR", "1"),
        ("SECRET_CANARY", "x"),
        ("AWS_SECRET_ACCESS_KEY", "k"),
        ("LC_", "bare prefix is not a locale"),
        ("XDG_RUNTIME_DIR", "/run/user/0"),
    ]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::None, None, None),
    );
    assert_eq!(
        names(&plan),
        [
            "COLORTERM",
            "HOME",
            "LANG",
            "LC_ALL",
            "LC_CTYPE",
            "LOGNAME",
            "NO_COLOR",
            "PATH",
            "SHELL",
            "TERM",
            "TMPDIR",
            "TZ",
            "USER"
        ]
    );
    assert_eq!(source(&plan, "HOME"), Some(Source::Base));
    assert_eq!(source(&plan, "TMPDIR"), Some(Source::Sandbox));
    assert_eq!(reason(&plan, "SECRET_CANARY"), Some(DropReason::NotAllowed));
    assert_eq!(reason(&plan, "LC_"), Some(DropReason::NotAllowed));
    assert_eq!(
        reason(&plan, "XDG_RUNTIME_DIR"),
        Some(DropReason::NotUsableInSandbox)
    );
}

#[test]
fn xdg_runtime_dir_passes_only_when_usable() {
    let p = parent(&[("XDG_RUNTIME_DIR", "/run/user/0")]);
    let mut c = ctx(NetworkMode::None, None, None);
    c.xdg_runtime_usable = true;
    let plan = build(&p, &EnvRules::default(), &c);
    assert_eq!(plan.get("XDG_RUNTIME_DIR"), Some(OsStr::new("/run/user/0")));
}

#[test]
fn whole_trust_family_points_at_managed_bundles_by_role() {
    // The parent has only SSL_CERT_FILE, as an intercepting proxy injects.
    let p = parent(&[
        ("SSL_CERT_FILE", "/boundary/ca-cert.pem"),
        ("SSL_CERT_DIR", "/boundary"),
    ]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(
            NetworkMode::Full,
            Some(Path::new(BUNDLE)),
            Some(Path::new(EXTRAS)),
        ),
    );
    for var in TRUST_VARS {
        let got = plan.get(var.name);
        match var.role {
            TrustRole::Replace => assert_eq!(got, Some(OsStr::new(BUNDLE)), "{}", var.name),
            TrustRole::Add => assert_eq!(got, Some(OsStr::new(EXTRAS)), "{}", var.name),
            TrustRole::Dir => assert_eq!(got, None, "{}", var.name),
        }
    }
    for must in [
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "PIP_CERT",
        "CARGO_HTTP_CAINFO",
        "AWS_CA_BUNDLE",
        "npm_config_cafile",
    ] {
        assert_eq!(plan.get(must), Some(OsStr::new(BUNDLE)), "{must}");
    }
    assert_eq!(
        source(&plan, "SSL_CERT_FILE"),
        Some(Source::Trust {
            role: TrustRole::Replace
        })
    );
    assert_eq!(
        reason(&plan, "SSL_CERT_DIR"),
        Some(DropReason::FoldedIntoBundle)
    );
    // The raw parent path never appears in any value.
    assert!(plan
        .vars
        .iter()
        .all(|v| !v.value.to_string_lossy().contains("/boundary")));
}

#[test]
fn additive_variables_are_unset_when_there_are_no_extras() {
    let p = parent(&[("NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/ca-certificates.crt")]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::Full, Some(Path::new(BUNDLE)), None),
    );
    assert_eq!(plan.get("NODE_EXTRA_CA_CERTS"), None);
    assert_eq!(plan.get("SSL_CERT_FILE"), Some(OsStr::new(BUNDLE)));
}

#[test]
fn no_bundle_means_no_trust_variables() {
    let p = parent(&[("SSL_CERT_FILE", "/missing.pem")]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::Full, None, None),
    );
    assert!(TRUST_VARS.iter().all(|v| plan.get(v.name).is_none()));
    assert_eq!(
        reason(&plan, "SSL_CERT_FILE"),
        Some(DropReason::ManagedTrust)
    );
}

#[test]
fn proxy_family_gets_both_spellings_and_node_env_proxy_in_full_mode() {
    let p = parent(&[
        ("HTTPS_PROXY", "http://u:pw@proxy:3128"),
        ("no_proxy", "internal.corp"),
        ("PIP_PROXY", "http://proxy:3128"),
    ]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::Full, None, None),
    );
    assert_eq!(
        plan.get("HTTPS_PROXY"),
        Some(OsStr::new("http://u:pw@proxy:3128"))
    );
    assert_eq!(
        plan.get("https_proxy"),
        Some(OsStr::new("http://u:pw@proxy:3128"))
    );
    assert_eq!(
        source(&plan, "https_proxy"),
        Some(Source::ProxySpelling {
            from: "HTTPS_PROXY".into()
        })
    );
    assert_eq!(plan.get("NO_PROXY"), Some(OsStr::new("internal.corp")));
    assert_eq!(plan.get("PIP_PROXY"), Some(OsStr::new("http://proxy:3128")));
    assert_eq!(plan.get("NODE_USE_ENV_PROXY"), Some(OsStr::new("1")));
    assert_eq!(
        source(&plan, "NODE_USE_ENV_PROXY"),
        Some(Source::ProxyDerived)
    );
    assert_eq!(
        plan.get("HTTP_PROXY"),
        None,
        "no spelling invented for an unset variable"
    );
}

#[test]
fn differing_spellings_are_both_kept_as_given() {
    let p = parent(&[("HTTP_PROXY", "http://a:1"), ("http_proxy", "http://b:2")]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::Full, None, None),
    );
    assert_eq!(plan.get("HTTP_PROXY"), Some(OsStr::new("http://a:1")));
    assert_eq!(plan.get("http_proxy"), Some(OsStr::new("http://b:2")));
}

#[test]
fn proxy_family_is_dropped_without_network() {
    let p = parent(&[
        ("HTTPS_PROXY", "http://proxy:3128"),
        ("NODE_USE_ENV_PROXY", "1"),
    ]);
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::None, None, None),
    );
    assert_eq!(plan.get("HTTPS_PROXY"), None);
    assert_eq!(plan.get("https_proxy"), None);
    assert_eq!(reason(&plan, "HTTPS_PROXY"), Some(DropReason::NoNetwork));
    assert_eq!(
        reason(&plan, "NODE_USE_ENV_PROXY"),
        Some(DropReason::NoNetwork)
    );
}

#[test]
fn verification_killers_need_an_exact_pass_and_warn() {
    let p = parent(&[
        ("NODE_TLS_REJECT_UNAUTHORIZED", "0"),
        ("GIT_SSL_NO_VERIFY", "1"),
    ]);
    let rules = EnvRules {
        pass: vec![
            NamePattern::Prefix("NODE_".into()),
            NamePattern::Exact("GIT_SSL_NO_VERIFY".into()),
        ],
        ..EnvRules::default()
    };
    let plan = build(&p, &rules, &ctx(NetworkMode::Full, None, None));
    assert_eq!(plan.get("NODE_TLS_REJECT_UNAUTHORIZED"), None);
    assert_eq!(
        reason(&plan, "NODE_TLS_REJECT_UNAUTHORIZED"),
        Some(DropReason::VerificationKiller)
    );
    assert_eq!(plan.get("GIT_SSL_NO_VERIFY"), Some(OsStr::new("1")));
    assert_eq!(plan.warnings.len(), 2);
    assert!(
        plan.warnings[0].contains("NODE_TLS_REJECT_UNAUTHORIZED=0")
            && plan.warnings[0].contains("--pass NODE_TLS_REJECT_UNAUTHORIZED")
    );
}

#[test]
fn pass_deny_and_set_precedence() {
    let p = parent(&[
        ("AWS_REGION", "eu"),
        ("AWS_SECRET_ACCESS_KEY", "k"),
        ("TERM", "xterm"),
        ("FOO", "parent"),
    ]);
    let rules = EnvRules {
        pass: vec![
            NamePattern::Prefix("AWS_".into()),
            NamePattern::Exact("FOO".into()),
        ],
        deny: vec![
            NamePattern::Exact("AWS_SECRET_ACCESS_KEY".into()),
            NamePattern::Exact("TERM".into()),
            NamePattern::Exact("FOO".into()),
        ],
        set: vec![("FOO".into(), "explicit".into()), ("NEW".into(), "".into())],
    };
    let plan = build(&p, &rules, &ctx(NetworkMode::None, None, None));
    assert_eq!(plan.get("AWS_REGION"), Some(OsStr::new("eu")));
    assert_eq!(
        source(&plan, "AWS_REGION"),
        Some(Source::Pass {
            rule: "AWS_*".into()
        })
    );
    assert_eq!(
        reason(&plan, "AWS_SECRET_ACCESS_KEY"),
        Some(DropReason::DeniedByPolicy {
            rule: "AWS_SECRET_ACCESS_KEY".into()
        })
    );
    assert_eq!(plan.get("TERM"), None);
    assert_eq!(plan.get("FOO"), Some(OsStr::new("explicit")));
    assert_eq!(source(&plan, "FOO"), Some(Source::Set));
    assert_eq!(
        plan.get("NEW"),
        Some(OsStr::new("")),
        "empty values are values"
    );
}

#[test]
fn deny_env_can_switch_off_trust_and_tmpdir_variables() {
    let rules = EnvRules {
        deny: vec![
            NamePattern::Exact("NODE_EXTRA_CA_CERTS".into()),
            NamePattern::Exact("TMPDIR".into()),
        ],
        ..EnvRules::default()
    };
    let plan = build(
        &[],
        &rules,
        &ctx(
            NetworkMode::Full,
            Some(Path::new(BUNDLE)),
            Some(Path::new(EXTRAS)),
        ),
    );
    assert_eq!(plan.get("NODE_EXTRA_CA_CERTS"), None);
    assert_eq!(plan.get("TMPDIR"), None);
    assert_eq!(plan.get("SSL_CERT_FILE"), Some(OsStr::new(BUNDLE)));
}

#[test]
fn set_of_a_trust_variable_never_exports_the_raw_path() {
    let rules = EnvRules {
        set: vec![("SSL_CERT_FILE".into(), "/raw/ca.pem".into())],
        ..EnvRules::default()
    };
    let plan = build(
        &[],
        &rules,
        &ctx(NetworkMode::Full, Some(Path::new(BUNDLE)), None),
    );
    assert_eq!(plan.get("SSL_CERT_FILE"), Some(OsStr::new(BUNDLE)));
}

#[test]
fn non_utf8_values_and_names_are_preserved_and_first_occurrence_wins() {
    let name = OsString::from("LC_X");
    let value = OsStr::from_bytes(b"\xff\xfe").to_os_string();
    let odd_name = OsStr::from_bytes(b"K\xff").to_os_string();
    let p = vec![
        (name.clone(), value.clone()),
        (name.clone(), OsString::from("second")),
        (
            "PATH".into(),
            OsStr::from_bytes(b"/opt/\xffbin").to_os_string(),
        ),
        (odd_name.clone(), "v".into()),
        ("".into(), "x".into()),
        ("A=B".into(), "x".into()),
    ];
    let plan = build(
        &p,
        &EnvRules::default(),
        &ctx(NetworkMode::None, None, None),
    );
    assert_eq!(plan.get("LC_X"), Some(value.as_os_str()));
    assert_eq!(plan.get("PATH").unwrap().as_bytes(), b"/opt/\xffbin");
    assert!(plan
        .dropped
        .iter()
        .any(|d| d.name == odd_name && d.reason == DropReason::NotAllowed));
    assert!(plan
        .dropped
        .iter()
        .any(|d| d.name == "A=B" && d.reason == DropReason::InvalidName));
}

#[test]
fn parent_tmpdir_kept_when_the_plan_keeps_it() {
    let p = parent(&[("TMPDIR", "/work/tmp")]);
    let mut c = ctx(NetworkMode::None, None, None);
    c.tmpdir = OsStr::new("/work/tmp");
    let plan = build(&p, &EnvRules::default(), &c);
    assert_eq!(plan.get("TMPDIR"), Some(OsStr::new("/work/tmp")));
    assert_eq!(source(&plan, "TMPDIR"), Some(Source::Base));
    let _ = PathBuf::new();
}
