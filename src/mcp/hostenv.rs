//! A working TLS environment for servers whose MCP client stripped it.
//!
//! Codex and the MCP TypeScript SDK start stdio servers with a handful of
//! variables, so `sandspawn mcp` used as their `command` sees no trust or
//! proxy variables. Three sources bring them back, in increasing priority:
//! the MCP host process's own environment (its parent, same user, read from
//! /proc; only the trust and proxy families), sandspawn's user config file,
//! and `--ca`/`--proxy` arguments (ordinary policy flags).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env::families;
use crate::policy::{Layer, PolicyError};

/// Variables recovered from the host process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The process they came from.
    pub pid: Option<u32>,
    /// Name and value, in the host's order.
    pub vars: Vec<(OsString, OsString)>,
    /// Why nothing was recovered, when that is worth saying.
    pub note: Option<String>,
}

/// Whether `name` belongs to a family recovered from the host.
pub fn recoverable(name: &[u8]) -> bool {
    families::trust_var(name).is_some()
        || families::is_trust_flag(name)
        || families::is_proxy_var(name)
}

/// The trust and proxy variables of `host_environ` (NUL-separated
/// `NAME=VALUE`, as in /proc/PID/environ) that `own` does not set. A proxy
/// variable whose other spelling `own` sets is left out too: the client
/// gave this server its proxy, and a recovered `https_proxy` beside its
/// `HTTPS_PROXY` would win in curl, Python and Node. A relative trust path
/// meant the host's working directory, `host_cwd`, and is joined to it.
pub fn select(
    host_environ: &[u8],
    own: &[(OsString, OsString)],
    host_cwd: Option<&Path>,
) -> Vec<(OsString, OsString)> {
    let mut out: Vec<(OsString, OsString)> = Vec::new();
    for entry in host_environ.split(|b| *b == 0) {
        let Some(eq) = entry.iter().position(|b| *b == b'=') else {
            continue;
        };
        let (name, value) = (&entry[..eq], &entry[eq + 1..]);
        if name.is_empty() || !recoverable(name) {
            continue;
        }
        let other = families::other_spelling(name).map(OsStr::new);
        let name = OsStr::from_bytes(name);
        let own_sets = |n: &OsStr| own.iter().any(|(k, _)| k == n);
        if own_sets(name) || other.is_some_and(own_sets) || out.iter().any(|(n, _)| n == name) {
            continue;
        }
        let value = match (host_cwd, families::trust_var(name.as_bytes())) {
            (Some(cwd), Some(var)) => absolute_in(cwd, value, var.role),
            _ => OsStr::from_bytes(value).to_os_string(),
        };
        out.push((name.to_os_string(), value));
    }
    out
}

/// A trust variable's value with its relative paths joined to `cwd`; a
/// directory variable is a colon-separated list (as OpenSSL reads
/// SSL_CERT_DIR), each entry joined on its own.
fn absolute_in(cwd: &Path, value: &[u8], role: families::TrustRole) -> OsString {
    let join = |part: &[u8]| -> Vec<u8> {
        let p = Path::new(OsStr::from_bytes(part));
        if part.is_empty() || p.is_absolute() {
            part.to_vec()
        } else {
            cwd.join(p).into_os_string().into_vec()
        }
    };
    let joined = match role {
        families::TrustRole::Dir => value
            .split(|b| *b == b':')
            .map(join)
            .collect::<Vec<_>>()
            .join(&b':'),
        _ => join(value),
    };
    OsString::from_vec(joined)
}

/// Read the parent process's environment (only when it runs as our user)
/// and select what [`select`] keeps.
pub fn recover_from_parent(own: &[(OsString, OsString)]) -> Recovered {
    let pid = std::os::unix::process::parent_id();
    let mut out = Recovered {
        pid: Some(pid),
        ..Recovered::default()
    };
    if pid <= 1 {
        out.note = Some("no host process (parent is init)".into());
        return out;
    }
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let uid = nix::unistd::geteuid().as_raw();
    match std::fs::metadata(&dir) {
        Ok(m) if m.uid() == uid => {}
        Ok(_) => {
            out.note = Some(format!("host process {pid} runs as another user; not read"));
            return out;
        }
        Err(e) => {
            out.note = Some(format!("host process {pid}: {e}"));
            return out;
        }
    }
    match std::fs::read(dir.join("environ")) {
        Ok(bytes) => {
            // Unreadable (the host exited): relative paths then stay as
            // they are and are reported missing if they are.
            let cwd = std::fs::read_link(dir.join("cwd")).ok();
            out.vars = select(&bytes, own, cwd.as_deref());
        }
        Err(e) => out.note = Some(format!("reading /proc/{pid}/environ: {e}")),
    }
    out
}

/// `$XDG_CONFIG_HOME/sandspawn/config.toml` (strict TOML):
///
/// ```toml
/// ca = ["/etc/corp/root.pem"]       # extra CAs for every server
/// proxy = "http://proxy.corp:3128"  # HTTPS_PROXY/HTTP_PROXY when none is set
/// no_proxy = "localhost,.corp"
/// pass = ["GITHUB_TOKEN"]           # variables every server gets
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Extra CA files or directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca: Vec<PathBuf>,
    /// A proxy URL exported when no proxy variable is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// A no-proxy list exported with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_proxy: Option<String>,
    /// Variables passed to every server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass: Vec<String>,
    /// Variables set for every server (lowest priority).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
}

/// Where the user config lives for this environment.
pub fn user_config_path(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    let get = |n: &str| {
        env.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| PathBuf::from(v))
            .filter(|p| p.is_absolute())
    };
    get("XDG_CONFIG_HOME")
        .or_else(|| get("HOME").map(|h| h.join(".config")))
        .map(|c| c.join("sandspawn").join("config.toml"))
}

/// Read the user config; a missing file is an empty config.
pub fn read_user_config(path: &Path) -> Result<UserConfig, PolicyError> {
    match crate::readfile::read_bounded_string(path, crate::readfile::MAX_CONFIG_BYTES) {
        Ok(text) => toml::from_str(&text).map_err(|e| PolicyError::Parse {
            path: path.to_path_buf(),
            message: super::config::toml_message(&e, &text),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
        Err(source) => Err(PolicyError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl UserConfig {
    /// The policy part (CAs, pass, set).
    pub fn layer(&self, origin: &Path) -> Layer {
        Layer {
            origin: origin.display().to_string(),
            source: Some(origin.to_path_buf()),
            ca: self.ca.clone(),
            pass: self.pass.iter().map(OsString::from).collect(),
            set: self
                .set
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
            ..Layer::default()
        }
    }
}

/// Proxy variables to add to the parent environment for `proxy` (both
/// spellings), unless some proxy URL variable is already set.
pub fn proxy_vars(
    proxy: Option<&OsStr>,
    no_proxy: Option<&OsStr>,
    env: &[(OsString, OsString)],
) -> Vec<(OsString, OsString)> {
    let has_proxy = env
        .iter()
        .any(|(n, v)| !v.is_empty() && families::is_proxy_url_var(n.as_bytes()));
    let mut out = Vec::new();
    if let (Some(proxy), false) = (proxy, has_proxy) {
        for name in ["HTTPS_PROXY", "HTTP_PROXY"] {
            out.push((OsString::from(name), proxy.to_os_string()));
        }
        if let Some(np) = no_proxy {
            out.push((OsString::from("NO_PROXY"), np.to_os_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        v.iter().map(|(a, b)| (a.into(), b.into())).collect()
    }

    #[test]
    fn only_trust_and_proxy_families_are_recovered_and_own_values_win() {
        let host = b"PATH=/x\0SSL_CERT_FILE=/h/ca.pem\0AWS_SECRET_ACCESS_KEY=s\0https_proxy=http://u:p@p:1\0NODE_EXTRA_CA_CERTS=/own\0garbage\0=x\0";
        let own = pairs(&[("NODE_EXTRA_CA_CERTS", "/mine")]);
        let got = select(host, &own, None);
        assert_eq!(
            got,
            pairs(&[
                ("SSL_CERT_FILE", "/h/ca.pem"),
                ("https_proxy", "http://u:p@p:1")
            ])
        );
    }

    #[test]
    fn a_relative_trust_path_is_the_hosts_and_the_clients_proxy_spelling_wins() {
        let host = b"SSL_CERT_DIR=/etc/ssl/certs:corp/certs\0SSL_CERT_FILE=certs/ca.pem\0NODE_EXTRA_CA_CERTS=/abs.pem\0https_proxy=http://stale:1\0no_proxy=old\0HTTP_PROXY=http://h:2\0NODE_USE_SYSTEM_CA=1\0";
        let own = pairs(&[("HTTPS_PROXY", "http://given:3"), ("NO_PROXY", ".corp")]);
        let got = select(host, &own, Some(Path::new("/work/host")));
        assert_eq!(
            got,
            pairs(&[
                ("SSL_CERT_DIR", "/etc/ssl/certs:/work/host/corp/certs"),
                ("SSL_CERT_FILE", "/work/host/certs/ca.pem"),
                ("NODE_EXTRA_CA_CERTS", "/abs.pem"),
                ("HTTP_PROXY", "http://h:2"),
                ("NODE_USE_SYSTEM_CA", "1"),
            ])
        );
    }

    #[test]
    fn proxy_from_config_only_when_none_is_set() {
        let got = proxy_vars(Some(OsStr::new("http://p:1")), None, &[]);
        assert_eq!(got.len(), 2);
        let env = pairs(&[("http_proxy", "http://other:2")]);
        assert!(proxy_vars(Some(OsStr::new("http://p:1")), None, &env).is_empty());
    }

    #[test]
    fn user_config_is_strict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "ca = []\nproxi = \"x\"\n").unwrap();
        let err = read_user_config(&path).unwrap_err().to_string();
        assert!(err.contains("line 2, column 1"), "{err}");
        assert_eq!(
            read_user_config(&dir.path().join("none")).unwrap(),
            UserConfig::default()
        );
    }
}
