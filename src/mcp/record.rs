//! `mcp install --record-env`: keep this shell's trust and proxy settings in
//! sandspawn's user config, for MCP clients that start servers without them.
//!
//! Only the families that matter for TLS are recorded: the files and
//! directories the trust variables name (as `ca`; the sanitiser reads them
//! at each spawn, so nothing raw is copied), the proxy URL and the no-proxy
//! list. A trust variable naming the system store records nothing: the
//! system roots are always merged. Except an additive one
//! (NODE_EXTRA_CA_CERTS…): its program's own roots are Mozilla's, so the
//! store's admin-installed CAs (an agent firewall's) reached Node only
//! through it, and a recorded `ca` gives them to Node again.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::hostenv::UserConfig;
use crate::env::{families, TrustRole};
use crate::plan::lookup;

/// What recording adds, for the user to see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The merged config.
    pub config: UserConfig,
    /// One line per addition ("ca /etc/corp/root.pem (from SSL_CERT_FILE)").
    pub added: Vec<String>,
}

/// Merge the shell's settings into `existing` (existing entries win and
/// are kept). `system_store` is the distro bundle, never recorded.
pub fn record(
    env: &[(OsString, OsString)],
    cwd: &Path,
    existing: &UserConfig,
    system_store: Option<&Path>,
) -> Recorded {
    let mut config = existing.clone();
    let mut added = Vec::new();
    for var in families::TRUST_VARS {
        let Some(value) = lookup(env, var.name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let parts: Vec<PathBuf> = if var.role == TrustRole::Dir {
            std::env::split_paths(value).collect()
        } else {
            vec![PathBuf::from(value)]
        };
        for part in parts {
            let path = crate::paths::normalize(&cwd.join(part));
            let is_system = system_store.is_some_and(|s| same_file(&path, s))
                || system_store
                    .and_then(Path::parent)
                    .is_some_and(|d| same_file(&path, d));
            if (is_system && var.role != TrustRole::Add) || config.ca.contains(&path) {
                continue;
            }
            added.push(format!("ca {} (from {})", path.display(), var.name));
            config.ca.push(path);
        }
    }
    if config.proxy.is_none() {
        let proxy = crate::plan::upstream::UPSTREAM_VARS
            .iter()
            .find_map(|n| lookup(env, n).filter(|v| !v.is_empty()).map(|v| (n, v)));
        if let Some((name, value)) = proxy {
            let value = value.to_string_lossy().into_owned();
            added.push(format!(
                "proxy {} (from {name})",
                String::from_utf8_lossy(
                    &crate::env::mask_proxy_url(value.as_bytes())
                        .unwrap_or_else(|| value.clone().into_bytes())
                )
            ));
            config.proxy = Some(value);
        }
    }
    if config.no_proxy.is_none() {
        if let Some(np) = ["NO_PROXY", "no_proxy"]
            .iter()
            .find_map(|n| lookup(env, n).filter(|v| !v.is_empty()))
        {
            added.push(format!("no_proxy {}", np.to_string_lossy()));
            config.no_proxy = Some(np.to_string_lossy().into_owned());
        }
    }
    Recorded { config, added }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The config as TOML.
pub fn to_toml(config: &UserConfig) -> String {
    toml::to_string(config).unwrap_or_default()
}

/// `existing`, the user config's text, with what recording added to it
/// (`config`): new `ca` entries at the end of its list, `proxy` and
/// `no_proxy` when it has none. The file is the user's: its comments,
/// order and layout stay.
pub fn to_toml_in(existing: &str, config: &UserConfig) -> String {
    let Ok(mut doc) = existing.parse::<toml_edit::DocumentMut>() else {
        return to_toml(config);
    };
    // Comments alone: they stay on top.
    if doc.as_table().is_empty() {
        let sep = if existing.is_empty() || existing.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        return format!("{existing}{sep}{}", to_toml(config));
    }
    let root = doc.as_table_mut();
    // Paths that are not UTF-8 cannot be written in TOML (nor were they
    // read from it).
    let cas: Vec<&str> = config.ca.iter().filter_map(|p| p.to_str()).collect();
    match root.get_mut("ca").and_then(|c| c.as_array_mut()) {
        Some(list) => {
            for ca in cas {
                if !list.iter().any(|v| v.as_str() == Some(ca)) {
                    list.push(ca);
                }
            }
        }
        None if !cas.is_empty() => {
            root.insert("ca", toml_edit::value(toml_edit::Array::from_iter(cas)));
        }
        None => {}
    }
    for (key, value) in [("proxy", &config.proxy), ("no_proxy", &config.no_proxy)] {
        if let Some(value) = value.as_deref().filter(|_| !root.contains_key(key)) {
            root.insert(key, toml_edit::value(value));
        }
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        v.iter().map(|(a, b)| (a.into(), b.into())).collect()
    }

    #[test]
    fn trust_paths_and_proxy_are_recorded_once_and_system_store_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("etc/ssl/certs/ca-certificates.crt");
        std::fs::create_dir_all(store.parent().unwrap()).unwrap();
        std::fs::write(&store, "x").unwrap();
        let e = env(&[
            ("SSL_CERT_FILE", "/boundary/ca-cert.pem"),
            ("NODE_EXTRA_CA_CERTS", "/boundary/ca-cert.pem"),
            ("REQUESTS_CA_BUNDLE", store.to_str().unwrap()),
            ("SSL_CERT_DIR", store.parent().unwrap().to_str().unwrap()),
            ("https_proxy", "http://u:pw@proxy.corp:3128"),
            ("NO_PROXY", ".corp"),
            ("AWS_SECRET_ACCESS_KEY", "never"),
        ]);
        let r = record(&e, Path::new("/w"), &UserConfig::default(), Some(&store));
        assert_eq!(r.config.ca, vec![PathBuf::from("/boundary/ca-cert.pem")]);
        assert_eq!(
            r.config.proxy.as_deref(),
            Some("http://u:pw@proxy.corp:3128")
        );
        assert_eq!(r.config.no_proxy.as_deref(), Some(".corp"));
        assert!(
            r.added
                .iter()
                .any(|a| a == "proxy http://***@proxy.corp:3128 (from https_proxy)"),
            "{:?}",
            r.added
        );
        assert!(!r.added.iter().any(|a| a.contains("pw")));
        let text = to_toml(&r.config);
        assert!(!text.contains("never"));
        // Idempotent: recording again adds nothing.
        let again = record(&e, Path::new("/w"), &r.config, Some(&store));
        assert!(again.added.is_empty(), "{:?}", again.added);
        assert_eq!(again.config, r.config);
    }

    #[test]
    fn an_additive_variable_naming_the_system_store_is_recorded() {
        // This host's shape: the firewall's CA is in the system store, and
        // NODE_EXTRA_CA_CERTS names the store so that Node trusts it.
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("etc/ssl/certs/ca-certificates.crt");
        std::fs::create_dir_all(store.parent().unwrap()).unwrap();
        std::fs::write(&store, "x").unwrap();
        let s = store.to_str().unwrap();
        let e = env(&[
            ("SSL_CERT_FILE", s),
            ("SSL_CERT_DIR", store.parent().unwrap().to_str().unwrap()),
            ("NODE_EXTRA_CA_CERTS", s),
        ]);
        let r = record(&e, Path::new("/w"), &UserConfig::default(), Some(&store));
        assert_eq!(r.config.ca, vec![store.clone()]);
        assert_eq!(r.added, vec![format!("ca {s} (from NODE_EXTRA_CA_CERTS)")]);
    }

    #[test]
    fn existing_settings_win() {
        let existing = UserConfig {
            proxy: Some("http://mine:1".into()),
            ..UserConfig::default()
        };
        let r = record(
            &env(&[("HTTPS_PROXY", "http://other:2")]),
            Path::new("/"),
            &existing,
            None,
        );
        assert_eq!(r.config.proxy.as_deref(), Some("http://mine:1"));
        assert!(r.added.is_empty());
    }

    /// The user config is the user's file: recording added to it and
    /// wrote it anew, so its comments and layout were lost.
    #[test]
    fn recording_edits_the_user_config_in_place() {
        let text =
            "# mine\npass = [\"GITHUB_TOKEN\"]   # for github\n\n[set]\nFOO = \"bar\"  # x\n";
        let existing: UserConfig = toml::from_str(text).unwrap();
        let e = env(&[
            ("SSL_CERT_FILE", "/corp/root.pem"),
            ("HTTPS_PROXY", "http://p:1"),
        ]);
        let r = record(&e, Path::new("/"), &existing, None);
        let out = to_toml_in(text, &r.config);
        assert_eq!(
            out,
            "# mine\npass = [\"GITHUB_TOKEN\"]   # for github\nca = [\"/corp/root.pem\"]\nproxy = \"http://p:1\"\n\n[set]\nFOO = \"bar\"  # x\n"
        );
        assert_eq!(toml::from_str::<UserConfig>(&out).unwrap(), r.config);
        // A `ca` list of the user's grows at its end; a file of comments
        // alone keeps them.
        let text = "ca = [\"/a.pem\"] # old\n";
        let existing: UserConfig = toml::from_str(text).unwrap();
        let r = record(&e, Path::new("/"), &existing, None);
        assert_eq!(
            to_toml_in(text, &r.config),
            "ca = [\"/a.pem\", \"/corp/root.pem\"] # old\nproxy = \"http://p:1\"\n"
        );
        assert_eq!(to_toml_in("", &r.config), to_toml(&r.config));
        assert_eq!(
            to_toml_in("# later\n", &r.config),
            format!("# later\n{}", to_toml(&r.config))
        );
    }
}
