//! The Codex (TOML) half of `mcp install` / `uninstall`: `toml_edit`
//! keeps comments and layout, and the edit has the shape of the JSON one
//! (see [`super::install_json`]) so `uninstall` gives the bytes back.

use super::config::line_col;

/// The Codex half: `toml_edit` keeps comments and layout; the command
/// value keeps its decor (a trailing comment), the wrapper's arguments go
/// before the first original one, taking over its leading blanks so a
/// multi-line array stays one, and give them back on `uninstall`.
pub(super) fn rewrite(
    text: &str,
    config: &str,
    sandspawn: &str,
    install: bool,
) -> Result<(String, Vec<String>), String> {
    use toml_edit::Value as V;
    // A byte order mark is not TOML; it is kept around the edit.
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let mut doc: toml_edit::DocumentMut = body.parse().map_err(|e: toml_edit::TomlError| {
        let (line, col) = e.span().map(|s| line_col(body, s.start)).unwrap_or((1, 1));
        let message = e.message().trim().replace('\n', " ");
        format!("line {line}, column {col}: {message}")
    })?;
    let mut changed = Vec::new();
    let Some(servers) = doc
        .get_mut("mcp_servers")
        .and_then(|s| s.as_table_like_mut())
    else {
        return Ok((text.to_string(), changed));
    };
    for (name, server) in servers.iter_mut() {
        let Some(table) = server.as_table_like_mut() else {
            continue;
        };
        let Some(cmd) = table
            .get("command")
            .and_then(|c| c.as_str())
            .map(str::to_string)
        else {
            continue;
        };
        // The command moves between `command` and `args` as written
        // ('uvx', """uvx"""), so `uninstall` gives its quoting back.
        let Some(mut cmd_value) = table.get("command").and_then(|c| c.as_value()).cloned() else {
            continue;
        };
        cmd_value.decor_mut().clear();
        let set_command = |table: &mut dyn toml_edit::TableLike, to: V| {
            if let Some(v) = table.get_mut("command").and_then(|c| c.as_value_mut()) {
                let decor = v.decor().clone();
                *v = to;
                *v.decor_mut() = decor;
            }
        };
        if install {
            if super::install_json::is_sandspawn(&cmd, sandspawn) {
                let args: Vec<Option<&str>> = table
                    .get("args")
                    .and_then(|a| a.as_array())
                    .map(|a| a.iter().map(V::as_str).collect())
                    .unwrap_or_default();
                if super::install_json::stale_wrapper(&cmd, sandspawn, &args) {
                    set_command(table, V::from(sandspawn));
                    changed.push(name.get().to_string());
                }
                continue;
            }
            if super::install::left_alone(&cmd).is_some() {
                continue;
            }
            if table.get("args").is_some_and(|a| a.as_array().is_none()) {
                continue;
            }
            let mut prefix: Vec<V> = super::install::wrapper_args(config, None, name.get())
                .iter()
                .map(|s| V::from(s.as_str()))
                .collect();
            prefix.push(cmd_value);
            set_command(table, V::from(sandspawn));
            if table.get("args").is_none() {
                table.insert("args", toml_edit::value(toml_edit::Array::new()));
            }
            let Some(arr) = table.get_mut("args").and_then(|a| a.as_array_mut()) else {
                continue;
            };
            let lead = arr
                .get(0)
                .and_then(|v| v.decor().prefix())
                .and_then(|p| p.as_str())
                .map(str::to_string);
            if let Some(first) = arr.get_mut(0) {
                if lead.as_deref().is_none_or(str::is_empty) {
                    first.decor_mut().set_prefix(" ");
                }
            }
            for (i, a) in prefix.into_iter().enumerate() {
                arr.insert(i, a);
                let p = if i == 0 {
                    lead.clone().unwrap_or_default()
                } else {
                    " ".into()
                };
                if let Some(v) = arr.get_mut(i) {
                    v.decor_mut().set_prefix(p);
                    v.decor_mut().set_suffix("");
                }
            }
        } else {
            if !super::install_json::is_sandspawn(&cmd, sandspawn) {
                continue;
            }
            let Some(arr) = table.get_mut("args").and_then(|a| a.as_array_mut()) else {
                continue;
            };
            let strs: Vec<Option<&str>> = arr.iter().map(V::as_str).collect();
            let Some(end) = super::install_json::wrapper_end(&strs) else {
                continue;
            };
            let Some(mut original) = arr.get(end + 1).filter(|v| v.is_str()).cloned() else {
                continue;
            };
            original.decor_mut().clear();
            let lead = arr
                .get(0)
                .and_then(|v| v.decor().prefix())
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_string();
            for _ in 0..end + 2 {
                arr.remove(0);
            }
            let empty = arr.is_empty();
            if let Some(first) = arr.get_mut(0) {
                first.decor_mut().set_prefix(lead);
            }
            set_command(table, original);
            // Install added `args` when there was none: `[]` means the same,
            // but an `args` line that carries a comment was the user's.
            if empty && !has_comment(table, "args") {
                table.remove("args");
            }
        }
        changed.push(name.get().to_string());
    }
    let mut out = format!("{bom}{doc}");
    // toml_edit writes `\n`; a file written with CRLF (Windows editors,
    // synced dotfiles) keeps them.
    if body.contains("\r\n") && body.matches('\n').count() == body.matches("\r\n").count() {
        out = out.replace('\n', "\r\n");
    }
    // toml_edit ends every key/value line with a newline; a file that had
    // none at its end (VS Code's default) keeps it so, or uninstall would
    // not give the bytes back.
    if !body.is_empty() && !body.ends_with('\n') {
        if let Some(rest) = out.strip_suffix('\n') {
            let rest = rest.strip_suffix('\r').unwrap_or(rest);
            out.truncate(rest.len());
        }
    }
    Ok((out, changed))
}

/// Whether a comment sits on `key` of `table`: above it, after its value,
/// or inside its (array) value.
fn has_comment(table: &dyn toml_edit::TableLike, key: &str) -> bool {
    let raw = |r: Option<&toml_edit::RawString>| {
        r.and_then(|r| r.as_str()).is_some_and(|s| s.contains('#'))
    };
    let Some((k, item)) = table.get_key_value(key) else {
        return false;
    };
    let on_key = raw(k.leaf_decor().prefix()) || raw(k.leaf_decor().suffix());
    let on_value = item.as_value().is_some_and(|v| {
        raw(v.decor().prefix())
            || raw(v.decor().suffix())
            || v.as_array().is_some_and(|a| raw(Some(a.trailing())))
    });
    on_key || on_value
}

#[cfg(test)]
mod tests {
    use super::super::config::Format;
    use super::super::install::{rewrite as rewrite_any, InstallError, Rewrite};
    use std::path::Path;

    fn rewrite(text: &str, p: &Path, exe: &str, install: bool) -> Result<Rewrite, InstallError> {
        rewrite_any(text, Format::Codex, p, exe, install)
    }

    #[test]
    fn codex_round_trip_gives_the_bytes_back() {
        let text = "\u{feff}# mine\r\n[mcp_servers.fs]\r\ncommand = \"npx\" # runner\r\nargs = [\r\n  \"-y\", # yes\r\n  \"@m/fs\",\r\n]\r\n\r\n[mcp_servers.bare]\r\ncommand = \"srv\"\r\n\r\n[mcp_servers.mine]\r\ncommand = \"sandspawn\"\r\nargs = [\"run\", \"--\", \"x\"]\r\n";
        let p = Path::new("/h/c.toml");
        let once = rewrite(text, p, "/s/sandspawn", true).unwrap();
        assert_eq!(once.changed, ["fs", "bare"]);
        assert_eq!(
            once.text,
            "\u{feff}# mine\r\n[mcp_servers.fs]\r\ncommand = \"/s/sandspawn\" # runner\r\nargs = [\r\n  \"mcp\", \"--config\", \"/h/c.toml\", \"--server\", \"fs\", \"--\", \"npx\",\r\n  \"-y\", # yes\r\n  \"@m/fs\",\r\n]\r\n\r\n[mcp_servers.bare]\r\ncommand = \"/s/sandspawn\"\r\nargs = [\"mcp\", \"--config\", \"/h/c.toml\", \"--server\", \"bare\", \"--\", \"srv\"]\r\n\r\n[mcp_servers.mine]\r\ncommand = \"sandspawn\"\r\nargs = [\"run\", \"--\", \"x\"]\r\n"
        );
        let twice = rewrite(&once.text, p, "/s/sandspawn", true).unwrap();
        assert_eq!(
            (twice.text.as_str(), twice.changed.len()),
            (once.text.as_str(), 0)
        );
        let back = rewrite(&once.text, p, "/s/sandspawn", false).unwrap();
        assert_eq!(back.changed, ["fs", "bare"]);
        assert_eq!(back.text, text);
        // An empty `args` with a comment is the user's: it stays.
        let empty = "[mcp_servers.a]\ncommand = \"x\"\n# none yet\nargs = [] # really\n";
        let once = rewrite(empty, p, "/s/sandspawn", true).unwrap();
        let back = rewrite(&once.text, p, "/s/sandspawn", false).unwrap();
        assert_eq!(back.text, empty);
        // A literal or multi-line string command comes back as written.
        let quoted = "[mcp_servers.a]\ncommand = 'uvx' # lit\nargs = ['mcp-server-time']\n[mcp_servers.b]\ncommand = \"\"\"srv\"\"\"\n";
        let once = rewrite(quoted, p, "/s/sandspawn", true).unwrap();
        assert!(
            once.text
                .contains(r#""--server", "a", "--", 'uvx', 'mcp-server-time']"#),
            "{}",
            once.text
        );
        let back = rewrite(&once.text, p, "/s/sandspawn", false).unwrap();
        assert_eq!(back.text, quoted);
        // A Windows path is left for Windows.
        let win =
            "[mcp_servers.w]\ncommand = 'C:\\tools\\srv.exe'\n[mcp_servers.l]\ncommand = \"srv\"\n";
        let once = rewrite(win, p, "/s/sandspawn", true).unwrap();
        assert_eq!(once.changed, ["l"]);
        assert_eq!(
            once.skipped,
            [(
                "w".to_string(),
                crate::mcp::install::left_alone("C:\\tools\\srv.exe").unwrap()
            )]
        );
        assert!(once
            .text
            .starts_with("[mcp_servers.w]\ncommand = 'C:\\tools\\srv.exe'\n"));
        let err = rewrite("[mcp_servers.a]\ncommand = = 1\n", p, "s", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/h/c.toml: line 2, column 11: extra `=`, expected nothing"
        );
    }

    #[test]
    fn a_codex_name_starting_with_a_dash_is_passed_attached() {
        // Codex allows `-` first in a server's name; `--server -x` does not
        // parse, `--server=-x` does.
        let text = "[mcp_servers.-x]\ncommand = \"uvx\"\n";
        let p = Path::new("/h/c.toml");
        let once = rewrite(text, p, "/s/sandspawn", true).unwrap();
        assert_eq!(
            once.text,
            "[mcp_servers.-x]\ncommand = \"/s/sandspawn\"\nargs = [\"mcp\", \"--config\", \"/h/c.toml\", \"--server=-x\", \"--\", \"uvx\"]\n"
        );
        let back = rewrite(&once.text, p, "/s/sandspawn", false).unwrap();
        assert_eq!((back.text.as_str(), back.changed.len()), (text, 1));
    }

    #[test]
    fn a_file_without_a_final_newline_gets_none() {
        // Editors that do not end a file with a newline (VS Code's
        // default): toml_edit ends every key/value line with one, and
        // uninstall gave back the file with a newline it never had.
        let p = Path::new("/h/c.toml");
        for text in [
            "[mcp_servers.b]\ncommand = \"uvx\"",
            "[mcp_servers.b]\r\ncommand = \"uvx\"\r\nargs = [\"x\"]",
            "[mcp_servers.b]\ncommand = \"uvx\"\n[x]\ny = 1",
            "[mcp_servers.b]\ncommand = \"uvx\"\n# end",
        ] {
            let once = rewrite(text, p, "/s/sandspawn", true).unwrap();
            assert!(!once.text.ends_with('\n'), "{:?}", once.text);
            let back = rewrite(&once.text, p, "/s/sandspawn", false).unwrap();
            assert_eq!(back.text, text);
        }
        let once = rewrite(
            "[mcp_servers.b]\ncommand = \"uvx\"",
            p,
            "/s/sandspawn",
            true,
        )
        .unwrap();
        assert_eq!(
            once.text,
            "[mcp_servers.b]\ncommand = \"/s/sandspawn\"\nargs = [\"mcp\", \"--config\", \"/h/c.toml\", \"--server\", \"b\", \"--\", \"uvx\"]"
        );
    }

    #[test]
    fn a_codex_wrapper_whose_sandspawn_is_gone_is_pointed_at_this_one() {
        let p = Path::new("/h/c.toml");
        let original = "[mcp_servers.t]\ncommand = \"uvx\" # runner\nargs = [\"x\"]\n";
        let old = rewrite(original, p, "/nonexistent/old/sandspawn", true).unwrap();
        let once = rewrite(&old.text, p, "/s/sandspawn", true).unwrap();
        assert_eq!(once.changed, ["t"]);
        assert_eq!(
            once.text,
            old.text
                .replace("/nonexistent/old/sandspawn", "/s/sandspawn")
        );
        let back = rewrite(&once.text, p, "/s/sandspawn", false).unwrap();
        assert_eq!(back.text, original);
    }
}
