//! The JSON half of `mcp install` / `uninstall`: an in-place edit.
//!
//! Users keep comments, trailing commas and their own layout in
//! `mcp.json` (JSONC), so the file is never re-serialised. Only two spots
//! of each server change, found through the byte spans of
//! [`jsonc::tree`](super::jsonc::tree):
//!
//! - the `command` value becomes sandspawn (as a JSON string);
//! - the wrapper's arguments, ending with the original command's token
//!   copied byte for byte, are inserted before the first original
//!   argument (`, "args": […]` after the command when there was none).
//!
//! `uninstall` deletes exactly what was inserted and copies the command
//! token back, so an untouched installed file turns back into the
//! original byte for byte.

use std::ops::Range;
use std::path::Path;

use super::jsonc::{self, Kind, Node};

/// One replacement of `range` of the original text.
struct Edit {
    range: Range<usize>,
    text: String,
}

/// `text` with every stdio server wrapped (`install`) or unwrapped, and
/// the names of the servers changed; Err is a parse message with line
/// and column.
pub(super) fn rewrite(
    text: &str,
    config: &str,
    sandspawn: &str,
    install: bool,
) -> Result<(String, Vec<String>), String> {
    let stripped = jsonc::strip(text);
    // An empty file (or only comments) is a config without servers.
    if stripped.trim().is_empty() {
        return Ok((text.to_string(), Vec::new()));
    }
    // serde_json first: its error names the line and column.
    serde_json::from_str::<serde_json::Value>(&stripped).map_err(|e| e.to_string())?;
    let root = jsonc::tree(&stripped).ok_or("not a JSON value (nested too deeply?)")?;
    refuse_duplicates(&root, text)?;
    let mut edits = Vec::new();
    let mut changed = Vec::new();
    // VS Code's settings.json keeps them under "mcp": {"servers": …}.
    let nested = root.get("mcp").and_then(|m| m.get("servers"));
    let mut scopes: Vec<(Option<&str>, Option<&Node>)> = vec![
        (None, root.get("mcpServers")),
        (None, root.get("servers")),
        (None, nested),
    ];
    // Claude Code's `~/.claude.json`: `projects.<dir>.mcpServers`.
    if let Some(Node {
        kind: Kind::Object(projects),
        ..
    }) = root.get("projects")
    {
        for (dir, _, project) in projects {
            scopes.push((Some(dir.as_str()), project.get("mcpServers")));
        }
    }
    for (project, found) in scopes {
        let Some(Node {
            kind: Kind::Object(servers),
            ..
        }) = found
        else {
            continue;
        };
        for (name, _, server) in servers {
            let found = if install {
                wrap(text, server, name, config, sandspawn, project)
            } else {
                unwrap(text, server, sandspawn)
            };
            if let Some(mut e) = found {
                edits.append(&mut e);
                changed.push(match project {
                    Some(dir) => format!("{name} (project {dir})"),
                    None => name.clone(),
                });
            }
        }
    }
    edits.sort_by_key(|e| e.range.start);
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for e in &edits {
        // Spans of distinct values never overlap; a duplicated key could.
        if e.range.start < at {
            return Err(format!(
                "two servers share the bytes at offset {}: duplicate keys?",
                e.range.start
            ));
        }
        out.push_str(&text[at..e.range.start]);
        out.push_str(&e.text);
        at = e.range.end;
    }
    out.push_str(&text[at..]);
    Ok((out, changed))
}

/// The keys install reads, on the way to each server and in it.
const SCOPES: &[&str] = &["mcpServers", "servers", "mcp", "projects"];
const ENTRY: &[&str] = &["command", "args"];

/// Err when a key install reads appears twice in one object: the client
/// (JSON.parse, VS Code's parser) takes the last, the edit would take the
/// first, and a server it runs would stay bare. Keys install does not
/// read (a settings.json's own, an `env`) may repeat as before.
fn refuse_duplicates(root: &Node, text: &str) -> Result<(), String> {
    // (object, the keys that matter in it; None: all of them)
    let mut objects: Vec<(&Node, Option<&[&str]>)> = vec![(root, Some(SCOPES))];
    if let Some(mcp) = root.get("mcp") {
        objects.push((mcp, Some(&["servers"])));
    }
    if let Some(projects) = root.get("projects") {
        objects.push((projects, None));
        if let Kind::Object(members) = &projects.kind {
            objects.extend(
                members
                    .iter()
                    .map(|(_, _, p)| (p, Some(&["mcpServers"][..]))),
            );
        }
    }
    let mut maps = Vec::new();
    for (node, _) in &objects {
        for key in ["mcpServers", "servers"] {
            maps.extend(node.get(key));
        }
    }
    for map in maps {
        objects.push((map, None));
        if let Kind::Object(members) = &map.kind {
            objects.extend(members.iter().map(|(_, _, s)| (s, Some(ENTRY))));
        }
    }
    for (node, keys) in objects {
        let Kind::Object(members) = &node.kind else {
            continue;
        };
        for (i, (key, at, _)) in members.iter().enumerate() {
            let read = keys.is_none_or(|k| k.contains(&key.as_str()));
            if read && members[..i].iter().any(|(k, _, _)| k == key) {
                let before = &text.as_bytes()[..*at];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let column = *at
                    - before
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |n| n + 1)
                    + 1;
                return Err(format!(
                    "duplicate key `{key}` at line {line} column {column}: the client reads the last one; remove the other"
                ));
            }
        }
    }
    Ok(())
}

fn json(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn items(node: &Node) -> Option<&[Node]> {
    match &node.kind {
        Kind::Array(items) => Some(items),
        _ => None,
    }
}

/// Whether `cmd` is sandspawn itself (see [`super::install::names_sandspawn`];
/// `exe` is the path `install` writes): such a server is left alone by
/// `install` (never sandspawn inside sandspawn).
pub(super) fn is_sandspawn(cmd: &str, exe: &str) -> bool {
    super::install::names_sandspawn(cmd.as_ref(), Some(Path::new(exe)))
}

fn wrap(
    text: &str,
    server: &Node,
    name: &str,
    config: &str,
    exe: &str,
    project: Option<&str>,
) -> Option<Vec<Edit>> {
    let command = server.get("command")?;
    let cmd = command.as_str()?;
    if is_sandspawn(cmd, exe) {
        let args = server.get("args").and_then(items).unwrap_or_default();
        let args: Vec<Option<&str>> = args.iter().map(Node::as_str).collect();
        return stale_wrapper(cmd, exe, &args).then(|| {
            vec![Edit {
                range: command.span.clone(),
                text: json(exe),
            }]
        });
    }
    if super::install::left_alone(cmd).is_some() {
        return None;
    }
    let own = super::install::wrapper_args(config, project, name);
    let mut prefix: Vec<String> = own.iter().map(|s| json(s)).collect();
    prefix.push(text[command.span.clone()].to_string());
    let prefix = prefix.join(", ");
    let args = match server.get("args") {
        None => Edit {
            range: command.span.end..command.span.end,
            text: format!(", \"args\": [{prefix}]"),
        },
        Some(args) => match items(args)?.first() {
            Some(first) => Edit {
                range: first.span.start..first.span.start,
                text: format!("{prefix}, "),
            },
            None => Edit {
                range: args.span.start + 1..args.span.start + 1,
                text: prefix,
            },
        },
    };
    Some(vec![
        Edit {
            range: command.span.clone(),
            text: json(exe),
        },
        args,
    ])
}

/// The position of the `--` ending the wrapper's own arguments when
/// `args` is what `install` writes (`mcp … --config F --server N -- CMD`):
/// a server wrapped by hand (`sandspawn mcp -- CMD`) is the user's choice
/// and stays.
pub(super) fn wrapper_end(args: &[Option<&str>]) -> Option<usize> {
    if args.first() != Some(&Some("mcp")) {
        return None;
    }
    // The options' values are skipped, so a value `--` (a server named so,
    // wrapped by an older install) is not taken for the end.
    let (mut config, mut server) = (false, false);
    let mut i = 1;
    let end = loop {
        let arg = (*args.get(i)?)?;
        match arg {
            "--" => break i,
            "--config" | "--server" | "--project" => {
                config |= arg == "--config";
                server |= arg == "--server";
                i += 2;
            }
            _ => {
                config |= arg.starts_with("--config=");
                server |= arg.starts_with("--server=");
                i += 1;
            }
        }
    };
    (config && server && end + 1 < args.len()).then_some(end)
}

/// Whether `cmd`, the sandspawn of an entry install wrapped (`args` as
/// it writes them), is an absolute path that no longer exists (moved,
/// removed, an old build): the client cannot start the server, so install
/// points the entry at `exe`. A bare name (looked up on the client's PATH)
/// and a hand-wrapped entry are the user's.
pub(super) fn stale_wrapper(cmd: &str, exe: &str, args: &[Option<&str>]) -> bool {
    let path = Path::new(cmd);
    cmd != exe
        && path.is_absolute()
        && super::install_notes::gone(path)
        && wrapper_end(args).is_some()
}

fn unwrap(text: &str, server: &Node, exe: &str) -> Option<Vec<Edit>> {
    let command = server.get("command")?;
    if !is_sandspawn(command.as_str()?, exe) {
        return None;
    }
    let (args_at, args) = server.member("args")?;
    let items = items(args)?;
    let end = wrapper_end(&items.iter().map(Node::as_str).collect::<Vec<_>>())?;
    let original = &items[end + 1];
    original.as_str()?;
    let remove = match items.get(end + 2) {
        Some(next) => items[0].span.start..next.span.start,
        // No original arguments: `, "args": [ … ]` as install added it
        // goes whole; otherwise the array stays, emptied.
        None if text.get(command.span.end..args_at) == Some(", ")
            && args.span.start + 1 == items[0].span.start
            && original.span.end + 1 == args.span.end =>
        {
            command.span.end..args.span.end
        }
        None => {
            let after = &text[original.span.end..args.span.end - 1];
            // A trailing comma after the command would be left alone.
            let comma = after.trim_start().starts_with(',');
            let cut = if comma {
                original.span.end + after.find(',').unwrap_or(0) + 1
            } else {
                original.span.end
            };
            items[0].span.start..cut
        }
    };
    Some(vec![
        Edit {
            range: command.span.clone(),
            text: text[original.span.clone()].to_string(),
        },
        Edit {
            range: remove,
            text: String::new(),
        },
    ])
}

#[cfg(test)]
#[path = "install_json_tests.rs"]
mod tests;
