//! Notes for `mcp check` and `mcp explain --config` about entries wrapped
//! by hand (`sandspawn mcp [OPTIONS] -- CMD`), whose start by the client
//! differs from the plan those commands show.

use std::path::Path;

use super::install::unwrap_command;

/// For `mcp check` and `mcp explain --config`: an entry wrapped by hand
/// (`sandspawn mcp [OPTIONS] -- CMD` without `--config THIS --server NAME`)
/// is started by the client without its `sandbox` table and with the
/// wrapper's own options, while the plan shown here is the reverse. Say so
/// rather than show a sandbox the server will not get.
pub fn hand_wrapped_note(server: &super::config::ServerConfig, config: &Path) -> Option<String> {
    let cmd = server.command.as_deref()?;
    unwrap_command(cmd, &server.args)?;
    let at = server.args.iter().position(|a| a == "--")?;
    let opts = &server.args[1..at];
    let values = |flag: &str| option_values(opts, flag);
    let this_file = values("--config")
        .iter()
        .any(|v| same_file(Path::new(v), config));
    if this_file && values("--server").contains(&std::ffi::OsStr::new(&server.name)) {
        return None;
    }
    let lost = lost_env(server, opts);
    if server.sandbox.is_none() && opts.is_empty() && lost.is_empty() {
        return None;
    }
    let shown: Vec<String> = opts
        .iter()
        .map(|o| o.to_string_lossy().into_owned())
        .collect();
    let mut applies = if shown.is_empty() {
        "its `sandbox` table is not applied then".to_string()
    } else {
        format!(
            "the options `{}` apply then, not its `sandbox` table",
            shown.join(" ")
        )
    };
    if server.sandbox.is_none() && shown.is_empty() {
        applies.clear();
    }
    if !lost.is_empty() {
        if !applies.is_empty() {
            applies.push_str("; ");
        }
        applies.push_str(&format!(
            "its `env` variables {} go to sandspawn's environment, which passes on only the allow-list, `--pass` and the user config's `pass`",
            lost.join(", ")
        ));
    }
    let opts_text: String = shown.iter().map(|o| format!("{o} ")).collect();
    Some(format!(
        "server `{name}`: the client starts it as `sandspawn mcp {opts_text}-- …`, without `--config {cfg} --server {name}`: {applies}, so the plan shown here is not the one it gets; add those options before `--` (as `sandspawn mcp install` writes them)",
        name = server.name,
        cfg = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf()).display(),
    ))
}

/// `--flag VALUE` or `--flag=VALUE` among the wrapper's options `opts`
/// (install attaches a value that starts with `-`).
fn option_values<'a>(opts: &'a [std::ffi::OsString], flag: &str) -> Vec<&'a std::ffi::OsStr> {
    let eq = format!("{flag}=");
    let mut out = Vec::new();
    for (i, o) in opts.iter().enumerate() {
        if o == flag {
            out.extend(opts.get(i + 1).map(|v| v.as_os_str()));
        } else if let Some(v) = o.to_str().and_then(|o| o.strip_prefix(&eq)) {
            out.push(std::ffi::OsStr::new(v));
        }
    }
    out
}

/// By real path when both exist, else as written (made absolute).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

/// For `mcp check` and `mcp explain --config`: an entry wrapped for this
/// file that names a server the file does not have (renamed after
/// install): the client's start fails, whatever the plan shown here.
pub fn missing_server_note(
    server: &super::config::ServerConfig,
    file: &super::config::ClientConfig,
) -> Option<String> {
    let cmd = server.command.as_deref()?;
    unwrap_command(cmd, &server.args)?;
    let at = server.args.iter().position(|a| a == "--")?;
    let opts = &server.args[1..at];
    let config = *option_values(opts, "--config").last()?;
    if !same_file(Path::new(config), &file.path) {
        return None;
    }
    let named = option_values(opts, "--server").last()?.to_str()?;
    let project = option_values(opts, "--project")
        .last()
        .and_then(|p| p.to_str());
    if file.server_in(named, project).is_ok() {
        return None;
    }
    let shown: Vec<String> = opts
        .iter()
        .map(|o| o.to_string_lossy().into_owned())
        .collect();
    Some(format!(
        "server `{name}`: the client starts it as `sandspawn mcp {opts} -- …`, and {cfg} has no server `{named}` (renamed?), so that start fails; run `sandspawn mcp uninstall` and `install` again, or write `--server {name}`",
        name = server.name,
        opts = shown.join(" "),
        cfg = file.path.display(),
    ))
}

/// For `mcp check` and `mcp explain --config`: an entry whose sandspawn
/// is an absolute path that is gone (moved, removed, an old build). Both
/// show the plan of the command after `--`, which starts; the client's
/// start of the wrapper does not.
pub fn stale_wrapper_note(server: &super::config::ServerConfig) -> Option<String> {
    let cmd = server.command.as_deref()?;
    let path = Path::new(cmd);
    let named = path.file_name().is_some_and(|n| n == "sandspawn");
    (named && path.is_absolute() && gone(path)).then(|| {
        format!(
            "server `{}`: the client starts {}, which does not exist (moved or removed?), so this server does not start; run `sandspawn mcp install` again to point it at this sandspawn",
            server.name,
            path.display()
        )
    })
}

/// Whether nothing is at `path`: not found, rather than unreadable here
/// (another user's home, to the user running install or check).
pub(super) fn gone(path: &Path) -> bool {
    // Followed: a link to a removed build is gone too.
    matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// The entry's `env` names a hand-wrapped start loses: the client sets
/// them in sandspawn's environment, where a name outside the trust, proxy
/// and base families reaches the server only through `--pass` (here among
/// the wrapper's options `opts`) or the user config (not read here).
fn lost_env(server: &super::config::ServerConfig, opts: &[std::ffi::OsString]) -> Vec<String> {
    use crate::env::families;
    // A policy file may `pass` any of them: not read here, so no claim.
    if opts
        .iter()
        .any(|o| o == "--policy" || o.as_encoded_bytes().starts_with(b"--policy="))
    {
        return Vec::new();
    }
    let passed: Vec<&[u8]> = opts
        .iter()
        .enumerate()
        .filter_map(
            |(i, o)| match o.as_encoded_bytes().strip_prefix(b"--pass=") {
                Some(v) => Some(v),
                None => (o == "--pass")
                    .then(|| opts.get(i + 1).map(|v| v.as_encoded_bytes()))
                    .flatten(),
            },
        )
        .collect();
    let kept = |name: &[u8]| {
        families::BASE_VARS.iter().any(|b| b.as_bytes() == name)
            || families::BASE_PREFIXES
                .iter()
                .any(|p| name.starts_with(p.as_bytes()))
            || families::trust_var(name).is_some()
            || families::is_proxy_var(name)
            || passed.iter().any(|p| match p.strip_suffix(b"*") {
                Some(prefix) => name.starts_with(prefix),
                None => *p == name,
            })
    };
    let mut lost: Vec<String> = Vec::new();
    // `env` (with `envFile`'s lines) and Codex's `env_vars`: all of them
    // are set in sandspawn's environment by the client.
    for name in server.env.iter().map(|(n, _)| n).chain(&server.env_vars) {
        let text = name.to_string_lossy().into_owned();
        if !kept(name.as_encoded_bytes()) && !lost.contains(&text) {
            lost.push(text);
        }
    }
    lost
}
