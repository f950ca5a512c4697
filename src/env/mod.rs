//! The environment plan: a pure function from the parent's variables and the
//! policy to the child's variables, each carrying its provenance.
//!
//! Deny by default. A parent variable reaches the child only through a
//! family (base, proxy), a `pass` rule or an explicit `set`. Trust variables
//! never carry the parent's value: they point at sanitised bundles that the
//! plan makes readable, so the child sees exactly what its TLS stack needs
//! and no raw path of the parent.

pub mod families;
mod mask;
mod proxy;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use serde::Serialize;

pub use families::{TrustRole, TRUST_VARS};
pub use mask::{mask_proxy_url, mask_url_credentials, mask_value};

use crate::policy::{EnvRules, NetworkMode};

/// Where a child variable came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The default allow-list (HOME, PATH, LANG…).
    Base,
    /// Set by sandspawn for the sandbox (TMPDIR at the private /tmp).
    Sandbox,
    /// A trust variable pointing at a managed bundle.
    Trust {
        /// Replace (combined bundle) or add (extras bundle).
        role: TrustRole,
    },
    /// A proxy variable passed from the parent.
    Proxy,
    /// The other spelling of a proxy variable the parent set.
    ProxySpelling {
        /// The variable it was copied from.
        from: String,
    },
    /// Derived from the proxy family (NODE_USE_ENV_PROXY=1, a filtered NO_PROXY).
    ProxyDerived,
    /// Network `proxy`: the sandbox's bridge to the upstream proxy.
    ProxyBridge,
    /// Network `proxy`: the loopback entries of the no-proxy lists `from`
    /// (their other entries go through the bridge).
    NoProxyLoopback {
        /// The lists that held them, comma-separated.
        from: String,
    },
    /// An explicit `set` rule.
    Set,
    /// Set by the default MCP profile (the server's own launcher caches).
    McpProfile,
    /// A `pass` rule.
    Pass {
        /// The rule that matched.
        rule: String,
    },
}

/// Why a parent variable does not reach the child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DropReason {
    /// In no family and no `pass` rule: denied by default.
    NotAllowed,
    /// A `deny_env` rule.
    DeniedByPolicy {
        /// The rule.
        rule: String,
    },
    /// It switches TLS verification off; pass it by exact name to keep it.
    VerificationKiller,
    /// Network mode `none`: no proxy is reachable.
    NoNetwork,
    /// Network mode `proxy`: replaced by the bridge's inside address.
    ProxyRewritten,
    /// A trust variable: replaced by a managed bundle (its file was an input).
    ManagedTrust,
    /// A trust directory variable: its certificates were folded into the bundles.
    FoldedIntoBundle,
    /// XDG_RUNTIME_DIR names a directory the sandbox does not expose.
    NotUsableInSandbox,
    /// Not a valid variable name (empty or holds `=`).
    InvalidName,
}

/// One variable of the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Name.
    pub name: OsString,
    /// Value, exactly as the child gets it.
    pub value: OsString,
    /// Provenance.
    pub source: Source,
    /// The MCP host process (pid) whose environment this value, or the CA
    /// input its bundle was built from, was recovered from.
    pub from_host: Option<u32>,
}

/// A parent variable that was not passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Name.
    pub name: OsString,
    /// Why.
    pub reason: DropReason,
    /// The MCP host process (pid) it was recovered from.
    pub from_host: Option<u32>,
}

/// The child's environment with provenance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvPlan {
    /// The child's variables, sorted by name.
    pub vars: Vec<EnvVar>,
    /// Parent variables not passed, sorted by name.
    pub dropped: Vec<Dropped>,
    /// Things the user should know (a verification killer dropped…).
    pub warnings: Vec<String>,
}

impl EnvPlan {
    /// The value of `name` in the child, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_os_str())
    }

    /// Mark what came from the MCP host process `pid`: `names` were
    /// recovered from its environment (absent from ours). A trust or proxy
    /// variable of the same name, the other spelling of such a proxy
    /// variable, and such a dropped variable are marked; a `set` or `pass`
    /// value is the user's own and is not.
    pub fn mark_from_host(&mut self, pid: u32, names: &[OsString]) {
        let recovered = |n: &OsStr| names.iter().any(|r| r == n);
        // A spelling copied from a `set` value is the user's, even when the
        // host had a variable of that name too.
        let inherited: Vec<OsString> = self
            .vars
            .iter()
            .filter(|v| v.source == Source::Proxy)
            .map(|v| v.name.clone())
            .collect();
        for v in &mut self.vars {
            let hit = match &v.source {
                Source::Trust { .. } | Source::Proxy => recovered(&v.name),
                Source::ProxySpelling { from } => {
                    recovered(OsStr::new(from)) && inherited.iter().any(|n| n == from.as_str())
                }
                _ => false,
            };
            if hit {
                v.from_host = Some(pid);
            }
        }
        for d in &mut self.dropped {
            if recovered(&d.name) {
                d.from_host = Some(pid);
            }
        }
    }

    /// Mark `set` as the default MCP profile's: each variable that still
    /// carries the profile's value as a `set` one (a later `set` of the
    /// user's would have replaced it).
    pub fn mark_profile(&mut self, set: &[(OsString, OsString)]) {
        for v in &mut self.vars {
            if v.source == Source::Set && set.iter().any(|(n, val)| *n == v.name && *val == v.value)
            {
                v.source = Source::McpProfile;
            }
        }
    }

    /// The MCP host process variable `name` was recovered from, if it was
    /// (as passed, replaced by a bundle, or dropped).
    pub fn from_host(&self, name: &str) -> Option<u32> {
        let var = self.vars.iter().find(|v| v.name == name);
        let dropped = self.dropped.iter().find(|d| d.name == name);
        var.and_then(|v| v.from_host)
            .or_else(|| dropped.and_then(|d| d.from_host))
    }

    /// The variables as pairs, for the spawner.
    pub fn pairs(&self) -> Vec<(OsString, OsString)> {
        self.vars
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()
    }
}

/// What the env plan needs besides the parent's variables and the rules.
/// The plan decides these values so env and filesystem agree.
#[derive(Debug, Clone)]
pub struct EnvContext<'a> {
    /// Network mode.
    pub network: NetworkMode,
    /// Combined bundle (system roots + extras), if any.
    pub bundle: Option<&'a Path>,
    /// Extras-only bundle, if there are extras.
    pub extras_bundle: Option<&'a Path>,
    /// The value TMPDIR gets.
    pub tmpdir: &'a OsStr,
    /// A HOME the sandbox provides instead of the parent's (Landlock: the
    /// parent's HOME is hidden and cannot be replaced by a private mount).
    pub home: Option<&'a OsStr>,
    /// Whether the parent's XDG_RUNTIME_DIR is readable under the policy.
    pub xdg_runtime_usable: bool,
    /// Network `proxy`: the inside bridge URL every proxy variable gets
    /// (`http://127.0.0.1:PORT`, never with credentials).
    pub proxy_url: Option<&'a OsStr>,
    /// Network `proxy` with a SOCKS5 upstream: the bridge's `socks5h://`
    /// URL, which FTP_PROXY gets instead.
    pub proxy_socks_url: Option<&'a OsStr>,
}

/// Build the child's environment.
pub fn build(parent: &[(OsString, OsString)], rules: &EnvRules, ctx: &EnvContext<'_>) -> EnvPlan {
    let mut vars: BTreeMap<OsString, EnvVar> = BTreeMap::new();
    let mut dropped: BTreeMap<OsString, DropReason> = BTreeMap::new();
    let mut warnings = Vec::new();

    let denied_by = |name: &OsStr| rules.deny.iter().find(|r| r.matches(name));
    let mut seen = std::collections::HashSet::new();
    for (name, value) in parent {
        // The first occurrence wins, as with getenv(3).
        if !seen.insert(name.as_os_str()) {
            continue;
        }
        let bytes = name.as_encoded_bytes();
        if bytes.is_empty() || bytes.contains(&b'=') {
            dropped.insert(name.clone(), DropReason::InvalidName);
            continue;
        }
        if let Some(rule) = denied_by(name) {
            dropped.insert(
                name.clone(),
                DropReason::DeniedByPolicy {
                    rule: rule.to_string(),
                },
            );
            continue;
        }
        if let Some(var) = families::trust_var(bytes) {
            let reason = match var.role {
                TrustRole::Dir => DropReason::FoldedIntoBundle,
                _ => DropReason::ManagedTrust,
            };
            dropped.insert(name.clone(), reason);
            continue;
        }
        if families::is_proxy_var(bytes) {
            match ctx.network {
                NetworkMode::None => {
                    dropped.insert(name.clone(), DropReason::NoNetwork);
                }
                NetworkMode::Proxy if ctx.proxy_url.is_some() => {
                    dropped.insert(name.clone(), DropReason::ProxyRewritten);
                }
                NetworkMode::Proxy | NetworkMode::Full => {
                    insert(&mut vars, name, value, Source::Proxy);
                }
            }
            continue;
        }
        if families::is_verification_killer(bytes) {
            if rules.pass.iter().any(|r| r.is_exactly(name)) {
                warnings.push(format!(
                    "{}={} weakens TLS verification in the child; passed because `pass` names it",
                    name.to_string_lossy(),
                    value.to_string_lossy()
                ));
                insert(
                    &mut vars,
                    name,
                    value,
                    Source::Pass {
                        rule: name.to_string_lossy().into_owned(),
                    },
                );
            } else {
                warnings.push(format!(
                    "{}={} would weaken TLS verification; dropped (add `--pass {}` to keep it)",
                    name.to_string_lossy(),
                    value.to_string_lossy(),
                    name.to_string_lossy()
                ));
                dropped.insert(name.clone(), DropReason::VerificationKiller);
            }
            continue;
        }
        if let Some(rule) = rules.pass.iter().find(|r| r.matches(name)) {
            insert(
                &mut vars,
                name,
                value,
                Source::Pass {
                    rule: rule.to_string(),
                },
            );
            continue;
        }
        if is_base(bytes) || families::is_trust_flag(bytes) {
            insert(&mut vars, name, value, Source::Base);
            continue;
        }
        if bytes == b"XDG_RUNTIME_DIR" {
            if ctx.xdg_runtime_usable {
                insert(&mut vars, name, value, Source::Base);
            } else {
                dropped.insert(name.clone(), DropReason::NotUsableInSandbox);
            }
            continue;
        }
        if bytes != b"TMPDIR" {
            dropped.insert(name.clone(), DropReason::NotAllowed);
        }
    }

    // TMPDIR always points somewhere writable inside the sandbox.
    let tmp_name = OsString::from("TMPDIR");
    if denied_by(&tmp_name).is_none() {
        let from_parent = parent.iter().any(|(n, v)| n == "TMPDIR" && v == ctx.tmpdir);
        let source = if from_parent {
            Source::Base
        } else {
            Source::Sandbox
        };
        insert(&mut vars, &tmp_name, ctx.tmpdir, source);
    }

    if let Some(home) = ctx.home {
        let name = OsString::from("HOME");
        if denied_by(&name).is_none() {
            insert(&mut vars, &name, home, Source::Sandbox);
        }
    }

    let bridge = ctx.proxy_url.filter(|_| ctx.network == NetworkMode::Proxy);
    match bridge {
        Some(url) => {
            let urls = (url, ctx.proxy_socks_url);
            warnings.extend(proxy::bridge_proxy_family(
                &mut vars, urls, parent, &rules.set, &denied_by,
            ))
        }
        None => proxy::complete_proxy_family(&mut vars, &denied_by),
    }
    add_trust_family(&mut vars, ctx, &denied_by);

    // Explicit `set` wins over everything, including deny: it is the user's
    // own value, not an inherited one.
    for (name, value) in &rules.set {
        let bytes = name.as_encoded_bytes();
        if families::trust_var(bytes).is_some() {
            // A trust variable's value is a CA input (the plan read it); the
            // variable itself points at the managed bundle set above.
            continue;
        }
        if bridge.is_some()
            && (families::is_proxy_url_var(bytes) || families::is_no_proxy_var(bytes))
        {
            // Network `proxy`: a set proxy URL is an upstream candidate (the
            // plan chose the upstream from it) and a set no-proxy list was
            // filtered above; the child's value names the bridge, never the
            // upstream and its credentials, which it cannot reach anyway.
            continue;
        }
        if families::is_verification_killer(bytes) {
            // The user's value, so it stays; but said, as for `pass` (an
            // MCP config's `env` often carries NODE_TLS_REJECT_UNAUTHORIZED=0
            // from before the child trusted the proxy's CA).
            warnings.push(format!(
                "{}={} weakens TLS verification in the child; set because `set` (or the MCP config's `env`) gives it",
                name.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
        dropped.remove(name);
        insert(&mut vars, name, value, Source::Set);
    }
    if bridge.is_none() {
        proxy::complete_set_proxy_family(&mut vars, &rules.set, &denied_by);
        warnings.extend(proxy::add_node_env_proxy(&mut vars, &denied_by));
    }

    for name in vars.keys() {
        dropped.remove(name);
    }
    EnvPlan {
        vars: vars.into_values().collect(),
        dropped: dropped
            .into_iter()
            .map(|(name, reason)| Dropped {
                name,
                reason,
                from_host: None,
            })
            .collect(),
        warnings,
    }
}

fn insert(vars: &mut BTreeMap<OsString, EnvVar>, name: &OsStr, value: &OsStr, source: Source) {
    vars.insert(
        name.to_os_string(),
        EnvVar {
            name: name.to_os_string(),
            value: value.to_os_string(),
            source,
            from_host: None,
        },
    );
}

fn is_base(name: &[u8]) -> bool {
    families::BASE_VARS.iter().any(|b| b.as_bytes() == name)
        || families::BASE_PREFIXES
            .iter()
            .any(|p| name.starts_with(p.as_bytes()) && name.len() > p.len())
}

/// Point every trust variable at the bundle its role needs.
fn add_trust_family<'r>(
    vars: &mut BTreeMap<OsString, EnvVar>,
    ctx: &EnvContext<'_>,
    denied_by: &impl Fn(&OsStr) -> Option<&'r crate::policy::NamePattern>,
) {
    for var in TRUST_VARS {
        let name = OsString::from(var.name);
        if denied_by(&name).is_some() {
            continue;
        }
        let target = match var.role {
            TrustRole::Replace => ctx.bundle,
            TrustRole::Add => ctx.extras_bundle,
            TrustRole::Dir => None,
        };
        if let Some(path) = target {
            insert(
                vars,
                &name,
                path.as_os_str(),
                Source::Trust { role: var.role },
            );
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_proxy;
