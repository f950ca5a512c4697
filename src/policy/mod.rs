//! The policy: what the user asked for, from presets, a TOML file and flags.
//!
//! Raw input arrives as [`Layer`]s (each keeps where it came from); they are
//! merged in order (presets, then the file, then flags) and resolved against
//! the command's cwd and the parent's HOME into a [`Policy`] of absolute
//! paths. Nothing here touches the filesystem except reading the policy file.

mod file;
mod names;
mod presets;

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use file::{parse_policy_toml, read_policy_file, PolicyFile};
pub use names::{os_from_bytes, parse_assignment, NamePattern};
pub use presets::{preset, MCP_NO_CWD, PRESETS};
pub use sandspawn_linux::{Backend, NetworkMode};

use crate::paths;

/// Errors while reading or resolving a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy file could not be read.
    #[error("policy file {path}: {source}; check the path and its permissions", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The policy file is not valid (unknown key, wrong type, bad TOML).
    #[error("policy file {path}: {message}", path = .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A preset name that does not exist.
    #[error("{rule}: unknown preset `{name}`; known presets: {known}", known = presets::PRESETS.join(", "))]
    UnknownPreset {
        /// The rule and where it was written (`presets (from FILE)`).
        rule: String,
        /// The name given.
        name: String,
    },
    /// A variable name or pattern that cannot match anything sensible.
    #[error("{rule}: `{name}` is not a valid variable name or pattern: {why}")]
    BadName {
        /// The rule (`pass`, `deny_env`, `--set`…).
        rule: String,
        /// What was written.
        name: String,
        /// Why it is refused.
        why: String,
    },
    /// `NAME=VALUE` without `=`.
    #[error("{rule} expects NAME=VALUE, got `{raw}`; write `{raw}=` to set it empty")]
    BadAssignment {
        /// The rule.
        rule: String,
        /// What was written.
        raw: String,
    },
    /// A path starting with `~` while the parent has no HOME.
    #[error("{rule}: `{path}` starts with `~` but HOME is not set to an absolute path; {fix}", path = .path.display())]
    NoHome {
        /// The rule.
        rule: String,
        /// The path.
        path: PathBuf,
        /// What to do: a preset's path is sandspawn's, not the user's to
        /// rewrite, so only HOME fixes it.
        fix: &'static str,
    },
    /// An empty path.
    #[error("{rule}: an empty path is not allowed; write `.` for the working directory")]
    EmptyPath {
        /// The rule.
        rule: String,
    },
    /// More filesystem paths than a plan can handle in reasonable time.
    #[error("read, write and deny name {count} paths in all ({by_origin}); at most {MAX_PATH_RULES} are accepted: grant or deny a common parent directory instead of each path")]
    TooManyPaths {
        /// How many were given.
        count: usize,
        /// Where they came from, `ORIGIN: N` joined by `, `.
        by_origin: String,
    },
    /// A `set` value holding a NUL byte, which no environment variable can
    /// carry (the exec failed with "nul byte found in provided data",
    /// naming neither the variable nor the rule).
    #[error("{rule}: the value of `{name}` contains a NUL byte, which no environment variable can hold; remove it")]
    NulInValue {
        /// The rule.
        rule: String,
        /// The variable.
        name: String,
    },
    /// A path holding a NUL byte (`"x\u0000"` in TOML), which no file can
    /// have: as a deny it would hide nothing.
    #[error(
        "{rule}: `{path}` contains a NUL byte (shown as \\0), which no path can hold; remove it"
    )]
    NulInPath {
        /// The rule.
        rule: String,
        /// The path as written, the NUL shown as `\0` (a raw one would
        /// end the line on some terminals and in C hosts' logs).
        path: String,
    },
    /// A grant whose `..` climbs out of a symlink: as written and as
    /// opened it names two places, and a link where an earlier sandbox
    /// could write may have been planted to choose the one granted.
    #[error(
        "{rule}: `{path}` has a `..` after the symlink {link} (-> {target}) that climbs out \
         of where it leads, so it names {written} as written but {opened} as opened, and a \
         link where a sandbox could write may have been left there to steer it; write the \
         path without `..` (the one you mean)",
        path = .path.display(),
        link = .how.link.display(),
        target = .how.target.display(),
        written = .written.display(),
        opened = .how.opened.display()
    )]
    DotDotAfterLink {
        /// The rule.
        rule: String,
        /// The path as written.
        path: PathBuf,
        /// The symlink the `..` climbs out of, where it leads and where
        /// the path is opened (boxed: errors stay small).
        how: Box<crate::paths::Steered>,
        /// The path read lexically.
        written: PathBuf,
    },
}

/// The most `read`, `write` and `deny` paths a policy may name, over all
/// its layers. Planning compares paths pairwise: 60,000 of them (a 600 KB
/// file, under the file size bound) took minutes to explain, and bwrap's
/// argument bound refuses far fewer mounts at run time anyway.
pub const MAX_PATH_RULES: usize = 4096;

/// One source of policy settings, before resolution. Lists append across
/// layers; scalars (`net`, `backend`, `merge_system_roots`, `proxy`,
/// `proxy_allow_local`) are
/// overridden by later layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// Where these settings came from ("preset readonly", a file path, "flags").
    pub origin: String,
    /// Presets this layer pulls in (applied before the layer itself).
    pub presets: Vec<String>,
    /// Readable roots.
    pub read: Vec<PathBuf>,
    /// Writable roots (also readable).
    pub write: Vec<PathBuf>,
    /// Hidden paths (win over a broader read or write root).
    pub deny: Vec<PathBuf>,
    /// Network mode.
    pub net: Option<NetworkMode>,
    /// Upstream proxy URL for `proxy` mode.
    pub proxy: Option<OsString>,
    /// Whether the bridge lets requests for the host's own addresses go.
    pub proxy_allow_local: Option<bool>,
    /// Variables passed by name or `PREFIX_*`.
    pub pass: Vec<OsString>,
    /// Variables set explicitly (`NAME`, `VALUE`).
    pub set: Vec<(OsString, OsString)>,
    /// Variables never passed.
    pub deny_env: Vec<OsString>,
    /// Extra CA files or directories.
    pub ca: Vec<PathBuf>,
    /// Whether the system roots go into the combined bundle.
    pub merge_system_roots: Option<bool>,
    /// Backend choice.
    pub backend: Option<Backend>,
    /// The file these settings were read from (a policy file, the user
    /// config, an MCP client config): kept read-only when a writable root
    /// holds it, so the child cannot rewrite the policy of later runs.
    pub source: Option<PathBuf>,
}

/// Why a path is in the policy: the layer that put it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    /// Absolute, lexically normalised path.
    pub path: PathBuf,
    /// The layer ("preset readonly", "policy.toml", "--read").
    pub origin: String,
}

/// The resolved policy: absolute paths, parsed patterns, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Readable roots.
    pub read: Vec<PathRule>,
    /// Writable roots.
    pub write: Vec<PathRule>,
    /// Hidden paths.
    pub deny: Vec<PathRule>,
    /// Network mode (default `none`).
    pub network: NetworkMode,
    /// Upstream proxy URL, if configured.
    pub proxy: Option<OsString>,
    /// Where [`Policy::proxy`] came from, as messages name it: `--proxy`
    /// for the flag, `proxy (from FILE)` for a policy file's key.
    pub proxy_origin: String,
    /// Network `proxy`: the bridge lets requests for the host's own
    /// addresses (loopback, link-local, `localhost`) go to the upstream
    /// (default false: refused).
    pub proxy_allow_local: bool,
    /// Env rules.
    pub env: EnvRules,
    /// Trust settings.
    pub trust: TrustRules,
    /// Backend (default `auto`).
    pub backend: Backend,
    /// The presets whose working directory was not granted because it
    /// holds HOME or is `/` (see [`Policy::resolve_with`]), as
    /// `(preset name, "read" | "write")`.
    pub withheld_cwd: Vec<(String, &'static str)>,
}

/// Environment rules of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvRules {
    /// Passed by name or prefix.
    pub pass: Vec<NamePattern>,
    /// Set explicitly; later entries win.
    pub set: Vec<(OsString, OsString)>,
    /// Never passed (explicit `set` still wins: it is the user's own value).
    pub deny: Vec<NamePattern>,
}

/// Trust rules of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRules {
    /// Extra CA files or directories, absolute.
    pub ca: Vec<PathBuf>,
    /// Whether system roots go into the combined bundle (default true).
    pub merge_system_roots: bool,
}

/// What relative paths and `~` resolve against.
#[derive(Debug, Clone)]
pub struct ResolveContext<'a> {
    /// The command's working directory (absolute).
    pub cwd: &'a Path,
    /// The parent's HOME, if any.
    pub home: Option<&'a Path>,
}

impl Policy {
    /// Merge `layers` in order (each layer's presets first) and resolve them.
    ///
    /// When no layer names a preset, `readonly` applies, so the default is
    /// restricted reads with the working directory readable and nothing
    /// writable but the sandbox's private /tmp.
    pub fn resolve(layers: &[Layer], ctx: &ResolveContext<'_>) -> Result<Policy, PolicyError> {
        let holds_home = ctx
            .home
            .is_some_and(|h| crate::paths::is_within(h, ctx.cwd));
        Self::resolve_with(layers, ctx, holds_home || ctx.cwd == Path::new("/"))
    }

    /// [`Policy::resolve`], told whether the working directory holds HOME
    /// or is `/` (the caller may know by real paths: HOME a link, a cwd
    /// from getcwd). Such a directory is no project: a preset's `.` there
    /// would grant all of HOME (a proxy's CA key in `~/.mitmproxy`, a
    /// client's tokens, and with `workspace` write to `~/.bashrc`) or all
    /// of the host, so presets leave it out ([`Policy::withheld_cwd`]); a
    /// `.` the user wrote still grants it.
    pub fn resolve_with(
        layers: &[Layer],
        ctx: &ResolveContext<'_>,
        cwd_is_no_project: bool,
    ) -> Result<Policy, PolicyError> {
        let count_of = |l: &Layer| l.read.len() + l.write.len() + l.deny.len();
        let count: usize = layers.iter().map(count_of).sum();
        if count > MAX_PATH_RULES {
            let by_origin = layers
                .iter()
                .filter(|l| count_of(l) > 0)
                .map(|l| format!("{}: {}", l.origin, count_of(l)))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PolicyError::TooManyPaths { count, by_origin });
        }
        let mut expanded = Vec::new();
        let any_preset = layers.iter().any(|l| !l.presets.is_empty());
        if !any_preset {
            expanded.push(preset("readonly")?);
        }
        expanded.push(presets::default_denies(ctx.home.is_some()));
        for layer in layers {
            for name in &layer.presets {
                // preset() knows the name only; the origin is the layer's.
                let named = preset(name).map_err(|_| PolicyError::UnknownPreset {
                    rule: format!("presets (from {})", layer.origin),
                    name: name.clone(),
                })?;
                expanded.push(named);
            }
            expanded.push(layer.clone());
        }

        let mut policy = Policy {
            read: Vec::new(),
            write: Vec::new(),
            deny: Vec::new(),
            network: NetworkMode::None,
            proxy: None,
            proxy_origin: String::new(),
            proxy_allow_local: false,
            env: EnvRules::default(),
            trust: TrustRules {
                ca: Vec::new(),
                merge_system_roots: true,
            },
            backend: Backend::Auto,
            withheld_cwd: Vec::new(),
        };
        for layer in &expanded {
            let origin = layer.origin.as_str();
            let (mut read, mut write) = (Cow::from(&layer.read), Cow::from(&layer.write));
            if let Some(name) = origin.strip_prefix("preset ").filter(|_| cwd_is_no_project) {
                for (rule, paths) in [("read", &mut read), ("write", &mut write)] {
                    if paths.iter().any(|p| p == Path::new(".")) {
                        paths.to_mut().retain(|p| p != Path::new("."));
                        policy.withheld_cwd.push((name.to_string(), rule));
                    }
                }
            }
            push_paths(&mut policy.read, &read, origin, "read", ctx)?;
            push_paths(&mut policy.write, &write, origin, "write", ctx)?;
            push_paths(&mut policy.deny, &layer.deny, origin, "deny", ctx)?;
            for raw in &layer.ca {
                for rule in resolve_path(raw, origin, "ca", ctx)? {
                    if !policy.trust.ca.contains(&rule.path) {
                        policy.trust.ca.push(rule.path);
                    }
                }
            }
            for raw in &layer.pass {
                policy
                    .env
                    .pass
                    .push(NamePattern::parse(raw, &format!("pass (from {origin})"))?);
            }
            for raw in &layer.deny_env {
                policy.env.deny.push(NamePattern::parse(
                    raw,
                    &format!("deny_env (from {origin})"),
                )?);
            }
            for (name, value) in &layer.set {
                // A pattern sets nothing it matches: `[set] "AB*" = "x"`
                // exported a variable literally named `AB*` (`--set` refused
                // the same name).
                if let NamePattern::Prefix(_) = NamePattern::parse(name, "set")? {
                    return Err(PolicyError::BadName {
                        rule: format!("set (from {origin})"),
                        name: name.to_string_lossy().into_owned(),
                        why: "a set variable needs a plain name (letters, digits, `_`)".into(),
                    });
                }
                if value.as_encoded_bytes().contains(&0) {
                    return Err(PolicyError::NulInValue {
                        rule: format!("set (from {origin})"),
                        name: name.to_string_lossy().into_owned(),
                    });
                }
                policy.env.set.retain(|(n, _)| n != name);
                policy.env.set.push((name.clone(), value.clone()));
            }
            if let Some(net) = layer.net {
                policy.network = net;
            }
            if let Some(proxy) = &layer.proxy {
                policy.proxy = Some(proxy.clone());
                // A bad URL in a policy file was blamed on `--proxy`.
                policy.proxy_origin = match origin {
                    "flags" | "command line" => "--proxy".to_string(),
                    file => format!("proxy (from {file})"),
                };
            }
            if let Some(allow) = layer.proxy_allow_local {
                policy.proxy_allow_local = allow;
            }
            if let Some(merge) = layer.merge_system_roots {
                policy.trust.merge_system_roots = merge;
            }
            if let Some(backend) = layer.backend {
                policy.backend = backend;
            }
        }
        drop_preset_reads_under_user_writes(&mut policy);
        Ok(policy)
    }
}

/// A preset's grant never narrows one the user wrote: the deeper rule
/// wins, so the default `read .` under a `--write ~` made the project
/// read-only inside a writable HOME. A preset's read within a write of the
/// user's (a flag, a policy file) is dropped; denies are left alone, so
/// the credential stores stay hidden in that HOME.
fn drop_preset_reads_under_user_writes(policy: &mut Policy) {
    let user_writes: Vec<&Path> = policy
        .write
        .iter()
        .filter(|w| !w.origin.starts_with("preset "))
        .map(|w| w.path.as_path())
        .collect();
    policy.read.retain(|r| {
        !r.origin.starts_with("preset ")
            || !user_writes.iter().any(|w| paths::is_within(&r.path, w))
    });
}

/// `raw` resolved for `rule`: one path, or for a deny whose `..` climbs
/// out of a symlink both its readings (a planted link must not move it
/// off the path meant); such a grant is refused.
fn resolve_path(
    raw: &Path,
    origin: &str,
    rule: &str,
    ctx: &ResolveContext<'_>,
) -> Result<Vec<PathRule>, PolicyError> {
    let label = || format!("{rule} (from {origin})");
    if raw.as_os_str().is_empty() {
        return Err(PolicyError::EmptyPath { rule: label() });
    }
    // TOML's `\u0000` makes one; the kernel would cut the path there (or
    // refuse it), so `deny = ["secret\u0000"]` silently hid nothing.
    if raw.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(PolicyError::NulInPath {
            rule: label(),
            path: raw.to_string_lossy().replace('\0', "\\0"),
        });
    }
    let readings = paths::resolve(raw, ctx.home, ctx.cwd).ok_or_else(|| PolicyError::NoHome {
        rule: label(),
        path: raw.to_path_buf(),
        fix: if origin.starts_with("preset ") {
            "set HOME to an absolute path (the preset's paths are under it)"
        } else {
            "write an absolute path, or set HOME"
        },
    })?;
    let rule_at = |path: &Path| PathRule {
        path: path.to_path_buf(),
        origin: origin.to_string(),
    };
    match (rule, readings.steered) {
        (_, None) => Ok(vec![rule_at(&readings.written)]),
        ("deny", Some(s)) => Ok(vec![rule_at(&readings.written), rule_at(&s.opened)]),
        // A CA input is read by the kernel's reading, and only read.
        ("ca", Some(s)) => Ok(vec![rule_at(&s.opened)]),
        (_, Some(s)) => Err(PolicyError::DotDotAfterLink {
            rule: label(),
            path: raw.to_path_buf(),
            written: readings.written,
            how: Box::new(s),
        }),
    }
}

fn push_paths(
    into: &mut Vec<PathRule>,
    raws: &[PathBuf],
    origin: &str,
    rule: &str,
    ctx: &ResolveContext<'_>,
) -> Result<(), PolicyError> {
    // Both sides are normalised: equal bytes are the same path, so a set
    // of them deduplicates without comparing each path with every other.
    // Sized for all of them at once: growing it step by step rehashed
    // every key again at each step (SipHash over each path's bytes).
    let mut seen = std::collections::HashSet::with_capacity(into.len() + raws.len());
    seen.extend(into.iter().map(|r| r.path.as_os_str().to_owned()));
    for raw in raws {
        for resolved in resolve_path(raw, origin, rule, ctx)? {
            if seen.insert(resolved.path.as_os_str().to_owned()) {
                into.push(resolved);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
