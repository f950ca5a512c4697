//! `sandspawn mcp install` and `uninstall`: rewrite a client's config so
//! each stdio server runs through `sandspawn mcp` (or back), and record the
//! shell's trust and proxy settings in the user config on request.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::args::{ClientArg, ConfigArgs};
use super::CliError;
use crate::mcp::config::format_of;
use crate::mcp::install::{self, Client};

/// `record` is install's `--record-env`; `None` means uninstall.
pub(super) fn install_cmd(args: &ConfigArgs, record: Option<bool>) -> Result<ExitCode, CliError> {
    let install = record.is_some();
    let cwd = std::env::current_dir().map_err(CliError::Cwd)?;
    let path = match &args.config {
        Some(path) => path.clone(),
        None => usual_path(args.client)?,
    };
    // The wrapped server names this file; the client starts it from its
    // own directory, so the name must not be relative to ours. Joined
    // only: dropping `..` by hand names another file than the kernel
    // opens when the part before it is a link (`sub/../mcp.json` with
    // `sub` -> `a/b` is `a/mcp.json`), and that other file would be the
    // one read, rewritten and recorded in the wrapper.
    let path = cwd.join(path);
    let text = crate::readfile::read_bounded_string(&path, crate::readfile::MAX_CONFIG_BYTES)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => match std::fs::read_link(&path) {
                Ok(target) => install::InstallError::DanglingLink {
                    path: path.clone(),
                    target,
                },
                Err(_) => install::InstallError::Missing {
                    path: path.clone(),
                    verb: if install { "wrap" } else { "unwrap" },
                    given: args.config.is_some(),
                },
            },
            _ => install::InstallError::Io {
                step: "reading",
                path: path.clone(),
                source,
            },
        })?;
    let exe = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .unwrap_or_else(|| PathBuf::from("sandspawn"));
    let exe: OsString = exe.into_os_string();
    let rewrite = install::rewrite(
        &text,
        format_of(&path, &text),
        &path,
        &exe.to_string_lossy(),
        install,
    )?;
    for (name, why) in &rewrite.skipped {
        sandspawn_linux::say(format_args!(
            "sandspawn: server `{name}` left as it is: {why}"
        ));
    }
    let mut out = std::io::stdout().lock();
    let verb = if install { "wrapped" } else { "unwrapped" };
    if rewrite.changed.is_empty() {
        writeln!(out, "{}: nothing to change", path.display()).map_err(CliError::Output)?;
        // Installed before: recording the shell's settings is still asked for.
        if let (Some(asked), false) = (record, args.dry_run) {
            record_env(asked, &cwd, &mut out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.dry_run {
        // Before the diff: a config that cannot be written is one error.
        install::check_writable(&path)?;
    }
    let diff = install::diff(&text, &rewrite.text);
    write!(out, "--- {p}\n+++ {p}\n{diff}", p = path.display()).map_err(CliError::Output)?;
    if args.dry_run {
        writeln!(
            out,
            "dry run: would have {verb} {}",
            rewrite.changed.join(", ")
        )
        .map_err(CliError::Output)?;
        return Ok(ExitCode::SUCCESS);
    }
    let backup = install::write_atomically(&path, &rewrite.text)?;
    writeln!(out, "{verb}: {}", rewrite.changed.join(", ")).map_err(CliError::Output)?;
    if let Some(b) = backup {
        writeln!(out, "backup: {}", b.display()).map_err(CliError::Output)?;
    }
    if let Some(asked) = record {
        record_env(asked, &cwd, &mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The client's usual config, from this process's HOME, working
/// directory, CODEX_HOME and XDG_CONFIG_HOME.
pub(super) fn usual_path(client: ClientArg) -> Result<PathBuf, CliError> {
    let client = match client {
        ClientArg::Codex => Client::Codex,
        ClientArg::Claude => Client::Claude,
        ClientArg::ClaudeCode => Client::ClaudeCode,
        ClientArg::Cursor => Client::Cursor,
        ClientArg::Vscode => Client::Vscode,
    };
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cwd = std::env::current_dir().map_err(CliError::Cwd)?;
    let codex_home = std::env::var_os("CODEX_HOME").map(PathBuf::from);
    let config_home = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    Ok(install::default_path(
        client,
        &home,
        &cwd,
        codex_home.as_deref(),
        config_home.as_deref(),
    ))
}

/// Offer (or, with `--record-env`, do) the recording of this shell's trust
/// and proxy settings into the user config.
fn record_env(asked: bool, cwd: &std::path::Path, out: &mut impl Write) -> Result<(), CliError> {
    use std::io::IsTerminal;
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let Some(config_path) = crate::mcp::hostenv::user_config_path(&env) else {
        return Ok(());
    };
    let existing = crate::mcp::hostenv::read_user_config(&config_path)?;
    let store = crate::trust::system_store(std::path::Path::new("/"));
    let recorded = crate::mcp::record::record(&env, cwd, &existing, store.as_deref());
    if recorded.added.is_empty() {
        return Ok(());
    }
    let wanted = asked
        || {
            let interactive = std::io::stdin().is_terminal();
            if interactive {
                eprint!(
                    "sandspawn: record this shell's trust and proxy settings in {} ({})? [y/N] ",
                    config_path.display(),
                    recorded.added.join("; ")
                );
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                answer.trim().eq_ignore_ascii_case("y")
            } else {
                sandspawn_linux::say(format_args!(
                "sandspawn: this shell has trust/proxy settings the client will not pass ({}); add --record-env to keep them in {}",
                recorded.added.join("; "),
                config_path.display()
            ));
                false
            }
        };
    if wanted {
        // The user's file: edited in place, as a client config is.
        let text = std::fs::read_to_string(&config_path).unwrap_or_default();
        let new = crate::mcp::record::to_toml_in(&text, &recorded.config);
        let backup = install::write_atomically(&config_path, &new)?;
        for line in &recorded.added {
            writeln!(out, "recorded: {line}").map_err(CliError::Output)?;
        }
        if let Some(backup) = backup {
            writeln!(out, "backup: {}", backup.display()).map_err(CliError::Output)?;
        }
    }
    Ok(())
}
