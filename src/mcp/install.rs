//! `sandspawn mcp install` / `uninstall`: rewrite a client config so every
//! stdio server runs through `sandspawn mcp`, and back.
//!
//! A wrapped server keeps everything but its command line:
//! `command = SANDSPAWN`, `args = ["mcp", "--config", FILE, "--server",
//! NAME, "--", ORIGINAL_COMMAND, ORIGINAL_ARGS...]`, so its `sandbox` table
//! still applies and `uninstall` restores the original exactly. Both are
//! idempotent. The rewrite is a pure function of the text; the caller
//! writes a backup and then the new text through a temporary file and a
//! rename, so a config is never half-written.

use std::path::{Path, PathBuf};

use super::config::Format;
pub use super::install_diff::diff;
pub use super::install_notes::{hand_wrapped_note, missing_server_note, stale_wrapper_note};
pub use super::install_write::{check_writable, write_atomically};

/// Errors of a rewrite.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The config does not parse.
    #[error("{path}: {message}", path = .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// With line and column.
        message: String,
    },
    /// The config is marked read-only (no write bit): left as it is, also
    /// for root, who could replace it anyway.
    #[error("{path} is read-only (mode {mode:o}); sandspawn leaves it as it is (`chmod u+w {path}` to let install edit it)", path = .path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The config does not exist (the client never wrote one, or another
    /// path was meant).
    #[error("{path} does not exist: nothing to {verb} ({hint})", path = .path.display(), hint = if *.given { "check the path given to --config" } else { "name the client's config with --config FILE" })]
    Missing {
        /// The file.
        path: PathBuf,
        /// `wrap` (install) or `unwrap` (uninstall).
        verb: &'static str,
        /// The path came from `--config` rather than the client's default.
        given: bool,
    },
    /// The config is a symbolic link to nothing (dotfiles not checked out).
    #[error("{path} is a link to {target}, which does not exist; fix the link, or name the config with --config FILE", path = .path.display(), target = .target.display())]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// What it points to.
        target: PathBuf,
    },
    /// Another user's config, which this one may not write.
    #[error("cannot open {path} for writing: {source}; it belongs to uid {uid}: run install as that user, or change the file's permissions", path = .path.display())]
    NotOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Why.
        source: std::io::Error,
    },
    /// The config's directory cannot take the backup and the temporary
    /// file the new text is written through.
    #[error("cannot write beside {path}: {dir} is not writable ({source}); make it writable, or install into a copy with --config", path = .path.display(), dir = .dir.display())]
    DirNotWritable {
        /// The file.
        path: PathBuf,
        /// Its (resolved) directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The rewritten config (or its backup) could not be given the owner
    /// of the original: a rename would hand the client's config to the
    /// user running install (root under sudo), and the client, running as
    /// its owner, could no longer read or update it.
    #[error("cannot keep the owner of {path} (uid {uid}, gid {gid}): {source}; run install as its owner, or as root", path = .path.display())]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        uid: u32,
        /// Its group.
        gid: u32,
        /// Why.
        source: std::io::Error,
    },
    /// Reading, backing up or writing failed.
    #[error("{step} {path}: {source}", path = .path.display())]
    Io {
        /// "reading", "backing up to", "writing".
        step: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Which MCP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// OpenAI Codex: `~/.codex/config.toml` (or `$CODEX_HOME/config.toml`).
    Codex,
    /// Claude Desktop: `$XDG_CONFIG_HOME/Claude/claude_desktop_config.json`
    /// (Electron's app data directory; `~/.config` without the variable).
    Claude,
    /// Claude Code: `~/.claude.json`, whose top-level `mcpServers` are the
    /// user scope and `projects.<dir>.mcpServers` each project's.
    ClaudeCode,
    /// Cursor: `~/.cursor/mcp.json`.
    Cursor,
    /// VS Code: `.vscode/mcp.json` in the workspace.
    Vscode,
}

/// The client's usual config path; `config_home` is `$XDG_CONFIG_HOME`
/// (ignored unless absolute, as the XDG spec says).
pub fn default_path(
    client: Client,
    home: &Path,
    cwd: &Path,
    codex_home: Option<&Path>,
    config_home: Option<&Path>,
) -> PathBuf {
    let config_home = config_home
        .filter(|p| p.is_absolute())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| home.join(".config"));
    match client {
        Client::Codex => codex_home
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join(".codex"))
            .join("config.toml"),
        Client::Claude => config_home.join("Claude/claude_desktop_config.json"),
        Client::ClaudeCode => home.join(".claude.json"),
        Client::Cursor => home.join(".cursor/mcp.json"),
        Client::Vscode => cwd.join(".vscode/mcp.json"),
    }
}

/// What a rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The new text.
    pub text: String,
    /// Servers changed.
    pub changed: Vec<String>,
    /// Stdio servers `install` left alone, and why (see [`left_alone`];
    /// and an entry that does not parse): name and reason.
    pub skipped: Vec<(String, String)>,
}

/// Why `install` leaves a server with command `cmd` as it is, if it does:
/// a Windows path (see [`windows_command`]), or an empty command, which
/// the client cannot start either (wrapped, it would fail one step later
/// and further from its cause).
pub fn left_alone(cmd: &str) -> Option<String> {
    if cmd.trim().is_empty() {
        return Some("its command is empty, so the client cannot start it; fix the entry".into());
    }
    windows_command(cmd).then(|| {
        format!(
            "its command `{cmd}` is a Windows path (a config shared with Windows?); it does \
             not start here, and wrapped it would no longer start there"
        )
    })
}

/// Whether `cmd` names a program by a Windows path (`C:\…`, `C:/…`,
/// `\\host\…`). A config shared with Windows (synced dotfiles, a repo's
/// `.vscode/mcp.json`) keeps such a server for Windows: it does not start
/// here with or without sandspawn, and wrapped in a Linux sandspawn path it
/// would no longer start there either.
pub fn windows_command(cmd: &str) -> bool {
    let b = cmd.as_bytes();
    let drive =
        b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
    drive || cmd.starts_with("\\\\")
}

/// Wrap (`install`) or unwrap every stdio server in `text`. Both edit in
/// place: comments, key order and layout stay, and `uninstall` after
/// `install` gives back the original text.
pub fn rewrite(
    text: &str,
    format: Format,
    path: &Path,
    sandspawn: &str,
    install: bool,
) -> Result<Rewrite, InstallError> {
    let config = path.display().to_string();
    let text_in = text;
    let parse_err = |message: String| InstallError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let (text, changed) =
        match format {
            Format::Codex => super::install_toml::rewrite(text, &config, sandspawn, install)
                .map_err(parse_err)?,
            Format::Json => super::install_json::rewrite(text, &config, sandspawn, install)
                .map_err(parse_err)?,
        };
    // Said, so that a server the client runs bare is never a silent
    // "wrapped b, c" (remote servers have no command and are not said).
    let skipped = match super::config::parse_config(text_in, path, format) {
        Ok(config) if install => config
            .servers
            .iter()
            .filter(|s| !changed.iter().any(|c| c == &s.name))
            .filter_map(|s| {
                if let Some(why) = &s.invalid {
                    return Some((
                        s.name.clone(),
                        format!("its entry does not read as a server ({why}); fix it and run install again"),
                    ));
                }
                if s.command.is_none() && !s.remote {
                    return Some((
                        s.name.clone(),
                        "it has neither `command` nor `url`, so the client cannot start it either; fix the entry".into(),
                    ));
                }
                let cmd = s.command.as_deref()?.to_str()?;
                left_alone(cmd).map(|why| (s.name.clone(), why))
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Rewrite {
        text,
        changed,
        skipped,
    })
}

/// The wrapper's own arguments, `mcp --config FILE [--project DIR]
/// --server NAME --`. A value starting with `-` is attached (`--server=-x`):
/// apart it would read as an option, and a server named `--` would end
/// the options early, so the wrapped server would not start.
pub(super) fn wrapper_args(config: &str, project: Option<&str>, name: &str) -> Vec<String> {
    let mut out = vec!["mcp".to_string()];
    let mut opt = |flag: &str, value: &str| {
        if value.starts_with('-') {
            out.push(format!("{flag}={value}"));
        } else {
            out.extend([flag.to_string(), value.to_string()]);
        }
    };
    opt("--config", config);
    if let Some(dir) = project {
        opt("--project", dir);
    }
    opt("--server", name);
    out.push("--".into());
    out
}

/// The original command line of a wrapped server (`sandspawn mcp … --
/// CMD ARGS` → `CMD ARGS`), or None when it is not wrapped.
pub fn unwrap_command(
    cmd: &std::ffi::OsStr,
    args: &[std::ffi::OsString],
) -> Option<Vec<std::ffi::OsString>> {
    let exe = std::env::current_exe().ok();
    let wrapped = names_sandspawn(cmd, exe.as_deref()) && args.first().is_some_and(|a| a == "mcp");
    let at = args.iter().position(|a| a == "--")?;
    let rest = args.get(at + 1..).filter(|r| !r.is_empty())?;
    wrapped.then(|| rest.to_vec())
}

/// Whether the program `cmd` is sandspawn: its file name is `sandspawn`,
/// or it is `exe` (the binary `install` writes, or the running one), also
/// by another name or through a link. A binary installed under another
/// name must still be recognised, or `install` wraps twice and a client's
/// `sandspawn mcp --config … --server …` would start sandspawn again
/// inside its own sandbox instead of the server.
pub fn names_sandspawn(cmd: &std::ffi::OsStr, exe: Option<&Path>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let cmd = Path::new(cmd);
    if cmd.file_name().is_some_and(|n| n == "sandspawn") {
        return true;
    }
    let Some(exe) = exe else { return false };
    if cmd == exe {
        return true;
    }
    // Only a path can be the same file; a bare name is looked up on the
    // client's PATH, which is not ours to guess.
    if cmd.components().count() < 2 {
        return false;
    }
    match (std::fs::metadata(cmd), std::fs::metadata(exe)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const CODEX: &str = "# my config\nmodel = \"o3\"\n\n[mcp_servers.time]\ncommand = \"uvx\" # comment\nargs = [\"mcp-server-time\"]\n\n[mcp_servers.web]\nurl = \"https://x\"\n";

    #[test]
    fn codex_install_is_idempotent_and_reversible() {
        let p = Path::new("/h/.codex/config.toml");
        let once = rewrite(CODEX, Format::Codex, p, "/usr/bin/sandspawn", true).unwrap();
        assert_eq!(once.changed, ["time"]);
        assert!(once.text.contains("# my config"));
        assert!(once.text.contains(r#"args = ["mcp", "--config", "/h/.codex/config.toml", "--server", "time", "--", "uvx", "mcp-server-time"]"#), "{}", once.text);
        let twice = rewrite(&once.text, Format::Codex, p, "/usr/bin/sandspawn", true).unwrap();
        assert!(twice.changed.is_empty());
        assert_eq!(twice.text, once.text);
        let back = rewrite(&once.text, Format::Codex, p, "/usr/bin/sandspawn", false).unwrap();
        assert_eq!(back.changed, ["time"]);
        let parsed = crate::mcp::config::parse_config(&back.text, p, Format::Codex).unwrap();
        assert_eq!(
            parsed.server("time").unwrap().command.as_deref(),
            Some("uvx".as_ref())
        );
        assert!(diff(CODEX, &once.text).contains("+command = \"/usr/bin/sandspawn\""));
    }

    #[test]
    fn claude_follows_xdg_config_home_and_diff_removes_first() {
        let (h, w) = (Path::new("/h"), Path::new("/w"));
        let claude =
            |xdg: Option<&str>| default_path(Client::Claude, h, w, None, xdg.map(Path::new));
        assert_eq!(
            claude(Some("/x")),
            Path::new("/x/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            claude(Some("rel")),
            Path::new("/h/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            claude(None),
            Path::new("/h/.config/Claude/claude_desktop_config.json")
        );
        assert_eq!(
            diff("a\nb\nc\n", "a\nB\nc\n"),
            "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    /// Unchanged lines between two changes are left out: each hunk says
    /// where it is, or the lines around a gap read as adjacent (a Codex
    /// entry's `cwd` seemed gone from the dry run).
    #[test]
    fn diff_hunks_say_where_they_are() {
        let old = "[s]\ncommand = \"x\"\nenv_vars = []\ncwd = \"/w\"\nenabled = false\n\n[t]\n";
        let new = "[s]\ncommand = \"S\"\nenv_vars = []\ncwd = \"/w\"\nenabled = false\nargs = [\"x\"]\n\n[t]\n";
        assert_eq!(
            diff(old, new),
            "@@ -1,3 +1,3 @@\n [s]\n-command = \"x\"\n+command = \"S\"\n env_vars = []\n\
             @@ -5,2 +5,3 @@\n enabled = false\n+args = [\"x\"]\n \n"
        );
        // Only additions, at the very start, and only removals.
        assert_eq!(diff("", "a\n"), "@@ -0,0 +1,1 @@\n+a\n");
        assert_eq!(diff("a\n", ""), "@@ -1,1 +0,0 @@\n-a\n");
        assert_eq!(diff("a\n", "a\n"), "");
        // A last line without newline is marked, as `diff -u` does.
        assert_eq!(
            diff("a\nb", "a\nc"),
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
        );
        assert_eq!(diff("a\r\n", "b\r\n"), "@@ -1,1 +1,1 @@\n-a\r\n+b\r\n");
    }

    #[test]
    fn json_install_keeps_other_keys_and_order() {
        let text = r#"{"globalShortcut": "x", "mcpServers": {"fs": {"command": "npx", "args": ["-y", "@m/fs", "/"], "env": {"A": "1"}}}}"#;
        let p = Path::new("c.json");
        let once = rewrite(text, Format::Json, p, "sandspawn", true).unwrap();
        let v: Value = serde_json::from_str(&once.text).unwrap();
        assert_eq!(v["mcpServers"]["fs"]["args"][6], "npx");
        assert_eq!(v["mcpServers"]["fs"]["env"]["A"], "1");
        assert!(once.text.find("globalShortcut") < once.text.find("mcpServers"));
        let back = rewrite(&once.text, Format::Json, p, "sandspawn", false).unwrap();
        let v2: Value = serde_json::from_str(&back.text).unwrap();
        let orig: Value = serde_json::from_str(text).unwrap();
        assert_eq!(v2, orig);
    }

    #[test]
    fn atomic_write_keeps_a_backup_and_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, "old").unwrap();
        let backup = write_atomically(&p, "new").unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(backup).unwrap(), "old");
        let err = write_atomically(Path::new("/proc/nope/c.json"), "x").unwrap_err();
        assert!(err.to_string().contains("/proc/nope"), "{err}");
        // Marked read-only: refused, untouched, no backup.
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro.json");
        std::fs::write(&ro, "old").unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_atomically(&ro, "new").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{0} is read-only (mode 444); sandspawn leaves it as it is (`chmod u+w {0}` to let install edit it)",
                ro.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&ro).unwrap(), "old");
        assert!(!dir.path().join("ro.json.sandspawn-backup").exists());
        // Through a symlink: the link stays, its target changes.
        let real = dir.path().join("dotfiles.json");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let backup = write_atomically(&link, "new").unwrap().unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(backup, dir.path().join("dotfiles.json.sandspawn-backup"));
    }
}
