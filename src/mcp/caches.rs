//! The launcher caches of the default MCP profile: npm's and uv's caches of
//! the server's own, under sandspawn's cache directory.
//!
//! Not the host's `~/.npm`, `~/.cache/uv` or `~/.local/share/uv`: what a
//! server writes there (a package under `~/.npm/_npx`, a tool under
//! `~/.local/share/uv/tools`) is what the host's own, unsandboxed `npx` and
//! `uvx`, and every other server, run next. Each server gets
//! `<cache root>/mcp/<key>/{npm,uv-cache,uv-tools,uv-python}` instead, the
//! variables that point npm and uv there, and exactly those directories
//! writable; they persist across runs of the same server (so `--net none`
//! starts from them) and are never another server's.
//!
//! "The same server" is one entry of one client config file: the key
//! covers the file's real path (see [`cache_key`]). A name alone was not
//! enough: a repository's `.mcp.json` that defines its own `github` wrote
//! the packages that the user's `github` of `~/.codex/config.toml` ran
//! next.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plan::BuildError;
use crate::policy::Layer;

/// Each variable and the directory it names under the server's own.
pub const CACHE_VARS: &[(&str, &str)] = &[
    ("npm_config_cache", "npm"),
    ("UV_CACHE_DIR", "uv-cache"),
    ("UV_TOOL_DIR", "uv-tools"),
    ("UV_PYTHON_INSTALL_DIR", "uv-python"),
];

/// The layer's origin: how explain names the grants.
pub const ORIGIN: &str = "mcp profile: the server's own launcher caches";

/// Longest server name used as the key as it is.
pub const MAX_NAME: usize = 64;

/// The key of a server's caches (HASH is 16 hex digits of SHA-256):
///
/// - an entry of a client config file: `NAME@HASH`, HASH of the name and
///   the file's real path ([`config_identity`]), so that one name in two
///   files never shares a cache; `name@HASH` when the name is not a safe
///   directory name (`[A-Za-z0-9._-]`, 1–64 characters, not `.` or `..`),
///   as Claude Code's project-scoped `NAME (project DIR)` is not;
/// - a name without a config file (a library host's own [`ServerLaunch`]
///   naming its server): the name as it is when safe, else `name@HASH` of
///   it. The host owns the namespace: two servers it gives one name share
///   their caches;
/// - no name (`sandspawn mcp -- CMD`): `cmd@HASH` of the command line
///   (program and arguments, as given).
///
/// Each is stable across runs: the same entry, the same directory. A
/// safe name never holds `@`, so a bare name never meets a hashed key,
/// and the three hashes have domains of their own.
///
/// [`ServerLaunch`]: super::request::ServerLaunch
pub fn cache_key(name: Option<&str>, config: Option<&Path>, command: &[OsString]) -> String {
    let readable = |n: &str| {
        if is_safe_name(n) {
            n.to_string()
        } else {
            "name".to_string()
        }
    };
    match (name, config) {
        (Some(n), Some(c)) => format!(
            "{}@{}",
            readable(n),
            short_hash("server", [n.as_bytes(), c.as_os_str().as_bytes()])
        ),
        (Some(n), None) if is_safe_name(n) => n.to_string(),
        (Some(n), None) => format!("name@{}", short_hash("name", [n.as_bytes()])),
        (None, _) => format!(
            "cmd@{}",
            short_hash("cmd", command.iter().map(|a| a.as_bytes()))
        ),
    }
}

/// The config file as [`cache_key`] takes it: its real path (relative to
/// `cwd`), so that `./.mcp.json` and its absolute or symlinked spelling
/// are one file; a file that cannot be resolved (a library host's path
/// that does not exist) by its normalized absolute path.
pub fn config_identity(config: &Path, cwd: &Path) -> PathBuf {
    let abs = crate::paths::normalize(&cwd.join(config));
    std::fs::canonicalize(&abs).unwrap_or(abs)
}

fn is_safe_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Each part length-prefixed: `["a b"]` and `["a", "b"]` differ.
fn short_hash<'a>(domain: &str, parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `<cache root>/mcp/<key>`, where the key's caches live (`cache_root` is
/// the parent of the trust cache, `~/.cache/sandspawn` by default).
pub fn server_dir(cache_root: &Path, key: &str) -> PathBuf {
    cache_root.join("mcp").join(key)
}

/// Whether the layers already give `name` a value: an entry's `env`, a
/// `--set`, the user config or a sandbox table sets it, or a `pass` rule
/// passes the parent's. npm reads its variables in either case.
pub(crate) fn given(
    policy: &crate::policy::Policy,
    env: &[(OsString, OsString)],
    name: &str,
) -> bool {
    let same = |n: &OsStr| {
        if name.starts_with("npm_config_") {
            n.as_bytes().eq_ignore_ascii_case(name.as_bytes())
        } else {
            n == name
        }
    };
    policy.env.set.iter().any(|(n, _)| same(n))
        || env
            .iter()
            .filter(|(n, _)| same(n))
            .any(|(n, _)| policy.env.pass.iter().any(|r| r.matches(n)))
}

/// Warnings for a cache variable another layer gives (the entry's `env`,
/// `--set`, the user config, a `pass`) that names a directory the server
/// cannot write: the profile then neither makes nor grants that cache, and
/// npm or uv fails inside with only EROFS or ENOENT to say why. Those
/// `said` already names (a data path's warning) are not repeated.
pub(crate) fn unwritable(plan: &crate::plan::Plan, said: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for v in &plan.env.vars {
        if v.source == crate::env::Source::McpProfile {
            continue;
        }
        let name = v.name.as_bytes();
        let Some((var, _)) = CACHE_VARS.iter().find(|(var, _)| {
            if var.starts_with("npm_config_") {
                name.eq_ignore_ascii_case(var.as_bytes())
            } else {
                name == var.as_bytes()
            }
        }) else {
            continue;
        };
        // `~/…` is for the launcher to expand, if it does: not judged here.
        if v.value.is_empty() || v.value.as_bytes().starts_with(b"~") {
            continue;
        }
        // Relative values are taken from the server's working directory,
        // as npm and uv take them.
        let path = crate::paths::normalize(&plan.cwd.join(&v.value));
        let through_link = || std::fs::canonicalize(&path).is_ok_and(|r| plan.fs.writable(&r));
        if plan.fs.writable(&path) || through_link() {
            continue;
        }
        let label = format!("{}={}", v.name.to_string_lossy(), v.value.to_string_lossy());
        if said.iter().any(|w| w.contains(&label)) {
            continue;
        }
        let tool = if var.starts_with("npm_") { "npm" } else { "uv" };
        out.push(format!(
            "{label} is not writable in the sandbox, and as it is given, the server's own \
             cache is not used: {tool} cannot write its cache there and the server may fail \
             to start; grant it with `--write {}` (`write` in the server's sandbox table), \
             or drop the variable",
            path.display()
        ));
    }
    out
}

/// The layer of the caches `wanted` names (a subset of [`CACHE_VARS`]):
/// each directory created (0700) and checked to be ours, its variable set
/// to its real path and the directory writable.
pub(crate) fn layer(
    cache_root: &Path,
    key: &str,
    wanted: &[&(&str, &str)],
) -> Result<Layer, BuildError> {
    let mut layer = Layer {
        origin: ORIGIN.into(),
        ..Layer::default()
    };
    if wanted.is_empty() {
        return Ok(layer);
    }
    let dir = server_dir(cache_root, key);
    // The cache root is ours to make, not what it sits in: a HOME that does
    // not exist is not created as a side effect (as for the trust cache).
    if let Some(base) = cache_root.ancestors().nth(2).filter(|b| !b.is_dir()) {
        return Err(BuildError::PrivateDir {
            path: dir,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not a directory", base.display()),
            ),
        });
    }
    for (var, sub) in wanted {
        let path = dir.join(sub);
        create(&path)?;
        let real = std::fs::canonicalize(&path).map_err(|source| BuildError::PrivateDir {
            path: path.clone(),
            source,
        })?;
        layer
            .set
            .push((OsString::from(var), real.clone().into_os_string()));
        layer.write.push(real);
    }
    // Created before they are checked: none of them is trusted because it
    // existed. The root may be root's or sticky (as for the trust cache);
    // everything below it is ours alone.
    crate::plan::check_own_dir(cache_root, &crate::trust::CACHE_ROOT, false)?;
    crate::plan::check_own_dir(&cache_root.join("mcp"), &crate::trust::PRIVATE_DIR, true)?;
    crate::plan::check_own_dir(&dir, &crate::trust::PRIVATE_DIR, true)?;
    for (_, sub) in wanted {
        crate::plan::check_own_dir(&dir.join(sub), &crate::trust::PRIVATE_DIR, true)?;
    }
    Ok(layer)
}

fn create(path: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| BuildError::PrivateDir {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
#[path = "caches_tests.rs"]
mod tests;
